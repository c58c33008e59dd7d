"""What the writer promises the disk and the process, as the calls it makes.

The disk: the README ("When a run is stopped") promises that a run syncs everything it staged and its
journal before it marks the journal committed, syncs the folders it moved outputs into before it
deletes anything, and removes the journal last. A crash test cannot see a missing sync (no power is
cut), so these tests read the order of the calls themselves: tests/faults.py records each rename,
unlink, mkdir, rmdir, write and fsync with the path it acts on (a descriptor's own path).

The process: every descriptor the writer opens is closed on every path (a run that waits for a lock,
gives up, is interrupted, retries, or fails half-way), and a lock wait sleeps between its tries.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import create_pvc
from runner_k8s.errors import RunnerError
from runner_k8s.plan import File
from runner_k8s.write import durable, files, lock
from tests.conftest import fixed_runtime
from tests.faults import Event, Fault, HeldLock, injected, snapshot

AREA = files.WORK_AREA
OUT = [("out", File(b"new\n", 0o644))]


def events_of(run: Callable[[], object], faults: dict[int, Fault] | None = None, *, syncfs: bool = True) -> list[Event]:
    """The wrapped calls a run makes (its exceptions are the caller's to expect)."""
    with injected(faults or {}, syncfs=syncfs) as injector:
        try:
            run()
        finally:
            recorded = list(injector.events)
    return recorded


def index_of(events: Sequence[Event], name: str, path: Path | str, start: int = 0) -> int:
    """The position of the first call `name` on `path` at or after `start`."""
    return next(n for n in range(start, len(events)) if (events[n].name, events[n].path) == (name, str(path)))


def positions(events: Sequence[Event], test: Callable[[Event], bool]) -> list[int]:
    return [n for n, event in enumerate(events) if test(event)]


def replaced_output(tmp_path: Path) -> tuple[Path, list[Event]]:
    """A --force run replacing an output in a sub-folder (x/out), with a consumed key file; its calls."""
    work = tmp_path / "work"
    (work / "x").mkdir(parents=True)
    (work / "x" / "out").write_text("old\n")
    (work / "key_file").write_text("secret")
    items = [("x/out", File(b"new\n", 0o644))]
    events = events_of(
        lambda: files.write_outputs(work, ["x/out"], items, force=True, retire=[work / "key_file"]),
    )
    assert (work / "x" / "out").read_text() == "new\n" and sorted(p.name for p in work.iterdir()) == ["x"]
    return work, events


# --- the disk: the order of the syncs, renames and removals ---------------------------------------------


def test_each_journal_is_synced_before_it_is_renamed_into_place_and_its_folder_after(tmp_path: Path):
    work, events = replaced_output(tmp_path)
    area = work / AREA
    temporary, journal = area / f"{files.JOURNAL}.tmp", area / files.JOURNAL
    replaces = positions(events, lambda e: e.name == "replace")
    assert len(replaces) == 2  # the staging journal and the committed one
    for replace in replaces:
        assert (events[replace].path, events[replace].target) == (str(temporary), str(journal))
        last_write = max(n for n in positions(events, lambda e: e.name == "write") if n < replace)
        assert events[last_write].path == str(temporary)
        # Its bytes are on the disk before the name points at them ...
        assert ("fsync", str(temporary)) in [(e.name, e.path) for e in events[last_write + 1 : replace]]
        # ... and the new name is on the disk before the run goes on.
        assert (events[replace + 1].name, events[replace + 1].path) == ("fsync", str(area))


def test_the_work_area_is_synced_after_staging_and_before_the_commit_record(tmp_path: Path):
    """The folders staged in .runner_k8s/ (new/, old/) are on the disk before the journal says committed;
    with syncfs and in the fallback that syncs file by file."""
    for syncfs in (True, False):
        work = tmp_path / f"syncfs-{syncfs}"
        area = work / AREA

        def run(work: Path = work) -> None:
            files.write_outputs(work, ["out"], OUT, force=False)

        events = events_of(run, syncfs=syncfs)
        commit_write = positions(events, lambda e: e.name == "write")[1]
        last_mkdir_in_area = max(n for n, e in enumerate(events) if e.name == "mkdir" and e.path.startswith(f"{area}/"))
        between = [(e.name, e.path) for e in events[last_mkdir_in_area + 1 : commit_write]]
        synced_area = [n for n, call in enumerate(between) if call == ("fsync", str(area))]
        assert synced_area, between
        if not syncfs:  # every staged file and folder is synced, before the area itself
            assert ("fsync", str(area / "new" / "0")) in between[: synced_area[-1]]
            assert ("fsync", str(area / "new")) in between[: synced_area[-1]]


def test_the_folders_of_moved_outputs_are_synced_before_anything_is_deleted(tmp_path: Path):
    work, events = replaced_output(tmp_path)
    renames = positions(events, lambda e: e.name == "rename")
    moved_in = [n for n in renames if events[n].target == str(work / "x" / "out")]
    first_removal = min(positions(events, lambda e: e.name in ("unlink", "rmdir")))
    assert moved_in and moved_in[-1] < first_removal
    assert index_of(events, "fsync", work / "x", moved_in[-1]) < first_removal
    # The consumed key file's removal is synced too (its folder, after the unlink).
    key_removed = index_of(events, "unlink", work / "key_file")
    assert index_of(events, "fsync", work, key_removed) < index_of(events, "unlink", work / AREA / files.JOURNAL)


def test_a_restored_outputs_folder_is_synced_after_the_old_output_is_put_back(tmp_path: Path):
    """A rename that fails during the move: the old output is renamed back, and its folder synced."""
    work, probe = replaced_output(tmp_path / "probe")
    move_in = next(n for n, e in enumerate(probe, start=1) if e.name == "rename" and e.target.endswith("/x/out"))
    work = tmp_path / "work"
    (work / "x").mkdir(parents=True)
    (work / "x" / "out").write_text("old\n")
    items = [("x/out", File(b"new\n", 0o644))]

    def run() -> None:
        with pytest.raises(RunnerError):
            files.write_outputs(work, ["x/out"], items, force=True)

    events = events_of(run, {move_in: Fault(fail_with=errno.ENOSPC)})
    assert (work / "x" / "out").read_text() == "old\n"
    restored = next(n for n, e in enumerate(events) if e.name == "rename" and e.path == str(work / AREA / "old" / "0"))
    assert index_of(events, "fsync", work / "x", restored) < index_of(events, "rmdir", work / AREA, restored)


def test_the_journal_is_removed_after_everything_else_in_the_area_and_the_work_dir_synced_last(tmp_path: Path):
    """Removing .runner_k8s/: old/ and new/ first, then the journal, then the folder; then the work dir is
    synced, so that the removal is on the disk. A crash in between leaves a journal that still applies."""

    def check(events: Sequence[Event], work: Path) -> None:
        area = work / AREA
        journal = index_of(events, "unlink", area / files.JOURNAL)
        in_parts = positions(
            events,
            lambda e: e.name in ("unlink", "rmdir") and e.path.startswith((f"{area}/old", f"{area}/new")),
        )
        assert in_parts and max(in_parts) < journal
        removed_area = index_of(events, "rmdir", area, journal)
        assert (events[-1].name, events[-1].path) == ("fsync", str(work))
        assert removed_area < len(events) - 1

    # A run that completes (old/ holds the replaced output) ...
    work, events = replaced_output(tmp_path / "done")
    check(events, work)
    # ... one undone before its commit (new/ holds what it staged) ...
    work = tmp_path / "undone"
    work.mkdir()
    probe = events_of(lambda: files.write_outputs(tmp_path / "p", ["out"], OUT, force=False))
    syncfs = next(n for n, e in enumerate(probe, start=1) if e.path == "-1")

    def failing() -> None:
        with pytest.raises(RunnerError):
            files.write_outputs(work, ["out"], OUT, force=False)

    check(events_of(failing, {syncfs: Fault(fail_with=errno.EIO)}), work)
    assert list(work.iterdir()) == []
    # ... and a repair of a committed run.
    work = tmp_path / "repaired"
    area = work / AREA
    (area / "new" / "0").mkdir(parents=True)
    (area / "new" / "0" / "file").write_text("staged")
    (area / "old").mkdir()
    journal = {"state": "committed", "roots": ["out"], "made": [], "created": [], "existed": [False], "retire": []}
    (area / files.JOURNAL).write_text(json.dumps(journal))
    check(events_of(lambda: files.recover(work)), work)
    assert (work / "out" / "file").read_text() == "staged"


# --- the process: descriptors ------------------------------------------------------------------------


def open_descriptors() -> list[str]:
    """This process's open descriptors and what each has open."""
    found = []
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            found.append(f"{name} {os.readlink(f'/proc/self/fd/{name}')}")
        except FileNotFoundError:
            continue  # the listing's own descriptor, closed by now
    return found


@pytest.fixture
def held(tmp_path: Path) -> Iterator[HeldLock]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    holder = HeldLock(work)
    try:
        yield holder
    finally:
        holder.release()


def test_recover_closes_the_work_dir_when_another_run_holds_the_lock(tmp_path: Path, held: HeldLock):
    work = tmp_path / "work"
    (work / AREA).mkdir()
    before = open_descriptors()
    assert files.recover(work) is None
    assert open_descriptors() == before


def test_a_lock_wait_that_times_out_closes_the_work_dir(tmp_path: Path, held: HeldLock, monkeypatch):
    monkeypatch.setattr(files, "LOCK_WAIT_SECONDS", 0.0)
    before = open_descriptors()
    with pytest.raises(RunnerError, match=r"^another run is writing in"):
        files.write_outputs(tmp_path / "work", ["out"], OUT, force=False)
    assert open_descriptors() == before


def test_a_lock_wait_cut_short_by_ctrl_c_closes_the_work_dir(tmp_path: Path, held: HeldLock, monkeypatch):
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupted)
    before = open_descriptors()
    with pytest.raises(KeyboardInterrupt):
        files.write_outputs(tmp_path / "work", ["out"], OUT, force=False)
    assert open_descriptors() == before


def test_a_lock_taken_again_after_the_work_dir_was_replaced_leaves_no_descriptor(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    before = open_descriptors()
    holder = HeldLock(work)

    def replace_then_release() -> None:
        work.rename(tmp_path / "moved")
        work.mkdir()
        holder.release()

    timer = threading.Timer(0.2, replace_then_release)
    timer.start()
    try:
        files.write_outputs(work, ["out"], OUT, force=False)
    finally:
        timer.join()
    assert (work / "out").read_bytes() == b"new\n"
    assert open_descriptors() == before


def test_the_file_by_file_sync_closes_each_file(tmp_path: Path, monkeypatch):
    """Where syncfs is missing every staged file and folder is opened to be synced: each is closed again."""
    monkeypatch.setattr(durable, "syncfs", lambda path: False)
    items = [(f"out/{n}", File(b"x", 0o644)) for n in range(20)]
    before = open_descriptors()
    files.write_outputs(tmp_path, ["out"], items, force=False)
    assert open_descriptors() == before
    assert len(list((tmp_path / "out").iterdir())) == 20


@pytest.mark.parametrize("call", ["write", "fsync"])
def test_every_journal_write_closes_its_file_even_when_the_disk_fails(call: str, tmp_path: Path):
    before = open_descriptors()
    probe = events_of(lambda: files.write_outputs(tmp_path / "probe", ["out"], OUT, force=False))
    assert open_descriptors() == before  # every journal write of a whole run
    journal_calls = [
        n for n, e in enumerate(probe, start=1) if e.name == call and e.path.endswith(f"{files.JOURNAL}.tmp")
    ]
    assert len(journal_calls) == 2
    for number in journal_calls:
        work = tmp_path / f"{call}{number}"

        def failing(work: Path = work) -> None:
            with pytest.raises(RunnerError, match=os.strerror(errno.ENOSPC)):
                files.write_outputs(work, ["out"], OUT, force=False)

        events_of(failing, {number: Fault(fail_with=errno.ENOSPC)})
        assert open_descriptors() == before, number
        assert not work.exists()


# --- the lock wait ---------------------------------------------------------------------------------


def test_the_lock_wait_sleeps_between_its_tries(tmp_path: Path, held: HeldLock, monkeypatch):
    """Waiting for another run costs no CPU to speak of: a try every poll interval (at most 0.1 s, so the
    wait ends soon after the other run), never a spin."""
    wait = 0.4
    monkeypatch.setattr(files, "LOCK_WAIT_SECONDS", wait)
    real_flock, real_sleep = fcntl.flock, time.sleep
    tries: list[float] = []
    sleeps: list[float] = []

    def counting_flock(fd: int, operation: int) -> None:
        tries.append(time.monotonic())
        real_flock(fd, operation)

    def counting_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(fcntl, "flock", counting_flock)
    monkeypatch.setattr(time, "sleep", counting_sleep)
    started = time.monotonic()
    with pytest.raises(RunnerError, match=r"^another run is writing in"):
        files.write_outputs(tmp_path / "work", ["out"], OUT, force=False)
    waited = time.monotonic() - started
    assert 0 < lock.LOCK_POLL_SECONDS <= 0.1
    assert sleeps and set(sleeps) == {lock.LOCK_POLL_SECONDS}
    assert len(sleeps) == len(tries) - 1  # a sleep between two tries, none after the last
    assert len(tries) <= wait / lock.LOCK_POLL_SECONDS + 2
    assert wait <= waited


def test_a_lock_wait_of_zero_never_sleeps_even_on_a_coarse_clock(tmp_path: Path, held: HeldLock, monkeypatch):
    """recover() (and a writer told to wait 0 s) gives up at its first busy try: no sleep, even when the
    clock has not moved since the wait began (a coarse clock reads the deadline itself)."""
    work = tmp_path / "work"
    (work / AREA).mkdir()

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s on a wait of 0 s")

    monkeypatch.setattr(time, "monotonic", lambda: 1000.0)
    monkeypatch.setattr(time, "sleep", no_sleep)
    monkeypatch.setattr(files, "LOCK_WAIT_SECONDS", 0.0)
    assert files.recover(work) is None
    with pytest.raises(RunnerError, match=r"^another run is writing in .*: waited 0 s"):
        files.write_outputs(work, ["out"], OUT, force=False)


# --- recover() and a work dir replaced while it took the lock ----------------------------------------------


def test_recover_leaves_a_work_dir_replaced_while_it_took_the_lock(tmp_path: Path, monkeypatch):
    """Between recover() opening the work dir and holding its lock, another run renamed it away and made a
    new one (with a journal of its own, alive): recover repairs neither, says nothing, keeps no descriptor."""
    work = tmp_path / "work"
    journal = {"state": "staging", "roots": ["out"], "made": [], "created": []}
    for folder in (work, tmp_path / "next"):
        (folder / AREA / "new" / "0").mkdir(parents=True)
        (folder / AREA / files.JOURNAL).write_text(json.dumps(journal))
    real_flock = fcntl.flock
    swapped: list[bool] = []

    def swap_then_lock(fd: int, operation: int) -> None:
        if not swapped:
            swapped.append(True)
            work.rename(tmp_path / "moved")
            (tmp_path / "next").rename(work)
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", swap_then_lock)
    before_descriptors = open_descriptors()
    assert files.recover(work) is None
    assert swapped
    assert open_descriptors() == before_descriptors
    for folder in (work, tmp_path / "moved"):
        assert json.loads((folder / AREA / files.JOURNAL).read_text()) == journal
        assert (folder / AREA / "new" / "0").is_dir()


# --- the journal: a list with one bad entry is a damaged journal ----------------------------------------

BASE = {"state": "committed", "roots": ["out", "out2"], "made": [], "created": [], "existed": [True, False]}
MIXED = {  # each list with a good entry first and a bad one after it: all entries count, not just one
    "existed": {**BASE, "existed": [True, "yes"], "retire": []},
    "existed, bad first": {**BASE, "existed": ["yes", True], "retire": []},
    "retire": {**BASE, "retire": [{"path": "/k"}, {"size": 1}]},
    "retire, not an object": {**BASE, "retire": [{"path": "/k"}, "/k2"]},
    "roots": {**BASE, "roots": ["out", 2], "retire": []},
    "roots, a path above": {**BASE, "roots": ["out", "../up"], "retire": []},
    "made": {**BASE, "made": ["made", "/abs"], "retire": []},
    "created": {**BASE, "created": ["/tmp/made", 3], "retire": []},
    # An undoing journal needs the same entries as a committed one (the roll-back reads existed).
    "undoing, existed too short": {**BASE, "state": "undoing", "existed": [True], "retire": []},
    "undoing, existed not true or false": {**BASE, "state": "undoing", "existed": [True, "yes"], "retire": []},
    "undoing, a retired file without a path": {**BASE, "state": "undoing", "retire": [{"size": 1}]},
}


@pytest.mark.parametrize("case", sorted(MIXED))
def test_a_journal_list_with_one_bad_entry_among_good_ones_is_damaged(case: str, tmp_path: Path, capsys):
    work = tmp_path / "work"
    area = work / AREA
    (area / "new" / "0").mkdir(parents=True)
    (area / files.JOURNAL).write_text(json.dumps(MIXED[case]))
    before = snapshot(tmp_path)
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 1
    assert capsys.readouterr().err == (
        f"create_pvc.py: error: {area / files.JOURNAL} is damaged, so the run that wrote it cannot be "
        f"finished or undone; check the outputs by hand, then remove {area}\n"
    )
    assert snapshot(tmp_path) == before


def test_the_good_journals_of_the_table_above_are_repaired(tmp_path: Path):
    """The control: the same journals with every entry good are applied."""
    good = {**BASE, "retire": [{"path": str(tmp_path / "gone")}]}
    area = tmp_path / AREA
    for index in (0, 1):
        (area / "new" / str(index)).mkdir(parents=True)
    (area / files.JOURNAL).write_text(json.dumps(good))
    assert files.recover(tmp_path) == (
        f"a run stopped in {tmp_path} after its outputs were ready; its move was completed: out, out2"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out2"]


# --- a mkdir that fails --------------------------------------------------------------------------------


OUT_XY = [("x/y/out", File(b"new\n", 0o644))]


@pytest.mark.parametrize("failing", ["a/b/work", "a/b/work/x/y"])
def test_a_failed_mkdir_removes_the_empty_folders_the_run_made_before_it(failing: str, tmp_path: Path):
    """The --work_dir's missing parents (a, a/b) and an output's (x): made one by one, and all removed
    again when a later mkdir fails; the one line names the folder that could not be made."""
    probe_root = tmp_path / "probe"
    probe_root.mkdir()
    probe = events_of(lambda: files.write_outputs(probe_root / "a" / "b" / "work", ["x/y/out"], OUT_XY, force=False))
    number = next(n for n, e in enumerate(probe, start=1) if (e.name, e.path) == ("mkdir", str(probe_root / failing)))
    root = tmp_path / "root"
    root.mkdir()
    work = root / "a" / "b" / "work"

    def run() -> None:
        with pytest.raises(RunnerError) as refused:
            files.write_outputs(work, ["x/y/out"], OUT_XY, force=False)
        assert str(refused.value) == (
            f"cannot write {root / failing}: {os.strerror(errno.EACCES)}; nothing was written, "
            "choose a writable --work_dir"
        )

    events_of(run, {number: Fault(fail_with=errno.EACCES)})
    assert list(root.iterdir()) == []
