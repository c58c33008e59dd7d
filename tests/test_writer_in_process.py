"""The writer's failure paths, run in the test's own process: a failing disk, stop signals, a busy lock.

test_crash_safety.py kills forked children, which is the only way to test SIGKILL. Here the same
faults that a process survives (an errno from one call, SIGTERM/SIGINT/SIGHUP, a lock another run
holds) hit a run inside this process, so coverage and mutation tools see the rollback, recovery and
lock code run. The expectations are the README's guarantee ("When a run is stopped"): the old
outputs or the new ones, byte for byte and mode for mode, one line on stderr, the documented exit
code. They never come from the writer itself.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

import create_pvc
from runner_k8s.errors import OutputExistsError, RunnerError
from runner_k8s.plan import Dir, File
from runner_k8s.write import files
from tests.conftest import fixed_runtime
from tests.faults import Fault, HeldLock, injected, snapshot
from tests.test_crash_safety import (
    EMPTY_DIR,
    NEW_SEED,
    SMALL,
    Prepared,
    describe,
    fresh_root,
    kill_at,
    next_run,
    prepare,
    run_scenario,
    windows,
)

ENOSPC_TEXT = os.strerror(errno.ENOSPC)
KEY_FILE = "key_file"


def run_in_process(
    prepared: Prepared, root: Path, faults: dict[int, Fault], capsys
) -> tuple[int, list[str], list[str]]:
    """The scenario's command in this process with the planned faults; exit code, stderr lines, calls."""
    capsys.readouterr()
    with injected(faults) as injector:
        status = prepared.scenario.main(prepared.scenario.argv(root), fixed_runtime(NEW_SEED))
    return status, capsys.readouterr().err.splitlines(), injector.calls


def repair_in_process(root: Path, capsys) -> list[str]:
    """The next run of another script (which refuses its own bad input after repairing); its stderr lines."""
    capsys.readouterr()
    assert create_pvc.main(next_run(root), fixed_runtime()) == 2
    lines: list[str] = capsys.readouterr().err.splitlines()
    return lines


def script_of(prepared: Prepared) -> str:
    """The name the scenario's script gives itself on stderr."""
    return prepared.scenario.main.__module__.rsplit(".", 1)[-1] + ".py"


def folder_flag_of(prepared: Prepared) -> str:
    """The flag that names the scenario script's output folder (README: create_account.py --output_dir)."""
    return (
        "--output_dir" if script_of(prepared) in ("create_account.py", "create_syncthing_config.py") else "--work_dir"
    )


def without_work_area(state: dict[str, tuple[int, bytes | None]]) -> dict[str, tuple[int, bytes | None]]:
    return {path: value for path, value in state.items() if files.WORK_AREA not in path}


def key_file_kept(prepared: Prepared) -> dict[str, tuple[int, bytes | None]]:
    """The new outputs with the consumed key file still there (its removal is the one step that may fail late)."""
    return {**prepared.new, f"work/{KEY_FILE}": prepared.old[f"work/{KEY_FILE}"]}


# --- a failing disk ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", [*SMALL, "local_cluster --force", "multi_cluster", "multi_cluster --force", "add_node", "remove_node"]
)
def test_a_failing_disk_at_any_call_leaves_old_or_new(name: str, tmp_path: Path, capsys):
    """ENOSPC from one call: exit 1 with the old outputs (or, if only the last clean-up failed, the new
    ones and a line naming what to delete), or exit 0 with the new ones; the next run changes nothing."""
    prepared = prepare(name, tmp_path)
    commit = commit_call(prepared.calls)
    outcomes = set()
    for window in windows(prepared, full=name in SMALL):
        root = fresh_root(prepared, tmp_path, f"e{window}")
        where = f"window {window} ({prepared.calls[window - 1]})"
        status, lines, calls = run_in_process(prepared, root, {window: Fault(fail_with=errno.ENOSPC)}, capsys)
        state = snapshot(root)
        if window <= commit:  # up to the journal that says committed, a failure undoes the run
            assert status == 1 and state == prepared.old, f"{where}: exit {status}, {describe(state, prepared)}"
        if status == 1 and state == prepared.old:
            outcomes.add("old")
            call, _, argument = calls[window - 1].partition(" ")
            failed_path = root / "work" if call in ("fsync", "write") else argument  # a descriptor names no path
            assert lines == [
                f"{script_of(prepared)}: error: cannot write {failed_path}: {ENOSPC_TEXT}; nothing was written, "
                f"choose a writable {folder_flag_of(prepared)}"
            ], where
        elif status == 1:
            outcomes.add("key file kept")
            assert state == key_file_kept(prepared), f"{where}: {describe(state, prepared)}"
            assert lines == [
                f"create_account.py: error: the outputs are in place, but {root / 'work' / KEY_FILE} could not be "
                f"removed: {ENOSPC_TEXT}; delete it"
            ], where
        else:
            outcomes.add("new")
            # README: a run that made its output folder says so (a mistyped path must not pass unseen).
            made = [] if "work" in prepared.old else [f"{script_of(prepared)}: note: made the folder {root / 'work'}"]
            assert status == 0 and lines == made, f"{where}: {lines}"
            # Only the clean-up of .runner_k8s/ failed: what is left of it goes with the next run.
            assert without_work_area(state) == prepared.new, f"{where}: {describe(state, prepared)}"
        repair_in_process(root, capsys)
        after = snapshot(root)
        expected = state if state == prepared.old else without_work_area(state)
        assert after == expected, f"{where}: the next run left {describe(after, prepared)}"
        shutil.rmtree(root)
    # Every scenario fails whole before its commit and succeeds whole after it.
    assert {"old", "new"} <= outcomes
    assert ("key file kept" in outcomes) == (name == "create_account")


def commit_call(calls: list[str]) -> int:
    """The number of the call that puts the committed journal in place (the second journal replace)."""
    return [n for n, call in enumerate(calls, start=1) if call.startswith("replace")][1]


def test_a_folder_sync_the_filesystem_cannot_do_is_skipped(tmp_path: Path, capsys):
    """Some filesystems refuse fsync on a directory (EINVAL, ENOTSUP): that is no error, the run succeeds."""
    prepared = prepare("create_pvc --force", tmp_path)
    folder_syncs = [
        n
        for n, call in enumerate(prepared.calls, start=1)
        if call.startswith("fsync") and call != "fsync -1" and not prepared.calls[n - 2].startswith("write")
    ]
    assert len(folder_syncs) >= 3, prepared.calls
    for window in folder_syncs:
        for number in (errno.EINVAL, errno.ENOTSUP):
            root = fresh_root(prepared, tmp_path, f"sync{window}-{number}")
            status, lines, _ = run_in_process(prepared, root, {window: Fault(fail_with=number)}, capsys)
            assert (status, lines) == (0, []), f"window {window}, errno {number}"
            assert snapshot(root) == prepared.new
            shutil.rmtree(root)


# What each script replaces as one step (the README's output layout; the default chain is test-chain).
OUTPUTS = {
    "create_pvc.py": {"local-pvc.yaml"},
    "create_k8s_config.py": {"cita-cloud/test-chain", "test-chain.yaml", "test-chain-admin"},
}


def forward_renames(prepared: Prepared) -> list[int]:
    """The call numbers of the renames that move outputs after the journal says committed."""
    commit = commit_call(prepared.calls)
    return [n for n, call in enumerate(prepared.calls, start=1) if n > commit and call.startswith("rename")]


@pytest.mark.parametrize("name", ["create_pvc --force", "local_cluster --force", "multi_cluster --force"])
def test_a_disk_failing_during_the_move_puts_every_old_output_back(name: str, tmp_path: Path, capsys):
    """A rename that fails half-way through the move is rolled back: the old outputs, all of them."""
    prepared = prepare(name, tmp_path)
    renames = forward_renames(prepared)
    assert len(renames) >= 2, prepared.calls  # an old output set aside, a new one moved in
    for window in renames:
        # The disk may also refuse the journal's "undoing" (the next call): the roll-back goes on all the same.
        for journal_fails in (False, True):
            root = fresh_root(prepared, tmp_path, f"m{window}-{journal_fails}")
            faults = {window: Fault(fail_with=errno.ENOSPC)}
            if journal_fails:
                faults[window + 1] = Fault(fail_with=errno.ENOSPC)
            status, lines, calls = run_in_process(prepared, root, faults, capsys)
            assert calls[window].startswith("write"), calls[window]  # the "undoing" journal comes next
            assert status == 1 and len(lines) == 1, lines
            assert "No space left on device; nothing was written" in lines[0]
            state = snapshot(root)
            assert state == prepared.old, f"window {window}: {describe(state, prepared)}"
            shutil.rmtree(root)


@pytest.mark.parametrize("name", ["create_pvc --force", pytest.param("local_cluster --force", marks=pytest.mark.slow)])
def test_a_run_killed_while_putting_old_outputs_back_is_undone_by_the_next(name: str, tmp_path: Path, capsys):
    """ENOSPC during the move starts the roll-back; SIGKILL at any call of it; the next run (here) ends it."""
    prepared = prepare(name, tmp_path)
    for failing in forward_renames(prepared)[1:]:
        probe = fresh_root(prepared, tmp_path, f"p{failing}")
        _, _, calls = run_in_process(prepared, probe, {failing: Fault(fail_with=errno.ENOSPC)}, capsys)
        shutil.rmtree(probe)
        undoing_recorded = next(n for n in range(failing + 1, len(calls) + 1) if calls[n - 1].startswith("replace"))
        for kill in range(failing + 1, len(calls) + 1):
            root = fresh_root(prepared, tmp_path, f"k{failing}-{kill}")
            where = f"ENOSPC at {failing}, SIGKILL at {kill} ({calls[kill - 1]})"
            killed = run_scenario(
                prepared,
                root,
                tmp_path / f"k{failing}-{kill}.log",
                fault_at=failing,
                fail_with=errno.ENOSPC,
                more_faults={kill: Fault(signum=signal.SIGKILL)},
            )
            assert killed.status == -signal.SIGKILL, f"{where}: {killed.stderr}"
            work = root / "work"
            left_a_work_area = (work / files.WORK_AREA).exists()
            lines = repair_in_process(root, capsys)
            state = snapshot(root)
            # Until the journal says "undoing" (the replace after the failure), it still says committed,
            # and the next run completes the move instead: the new outputs, also whole.
            expected = prepared.old if kill > undoing_recorded else prepared.new
            assert state == expected, f"{where}: the next run left {describe(state, prepared)}"
            if not left_a_work_area:
                assert len(lines) == 1 and "error" in lines[0], where  # nothing to repair: no note
                continue
            if expected is prepared.old:
                note = f"a run stopped in {work} before its outputs were ready; what it had begun was removed"
            else:
                note = f"a run stopped in {work} after its outputs were ready; its move was completed: "
                completed = lines[0].rpartition(": ")[2]
                assert set(completed.split(", ")) == OUTPUTS[script_of(prepared)], where
                note += completed
            assert lines[0] == f"create_pvc.py: note: {note}", where


# --- stop signals --------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
@pytest.mark.parametrize("name", ["create_pvc --force", "create_account", "local_cluster --force"])
def test_a_stop_signal_at_any_call_leaves_old_or_new_at_once(name: str, signum: int, tmp_path: Path, capsys):
    """Before the commit the run is undone, after it the run completes; either way one line and 128 + signal."""
    prepared = prepare(name, tmp_path)
    script = f"{script_of(prepared)}"
    signame = signal.Signals(signum).name
    handler_before = signal.getsignal(signum)
    seen = set()
    for window in windows(prepared, full=name in SMALL):
        root = fresh_root(prepared, tmp_path, f"s{window}")
        where = f"window {window} ({prepared.calls[window - 1]})"
        status, lines, _ = run_in_process(prepared, root, {window: Fault(signum=signum)}, capsys)
        state = snapshot(root)
        assert status == 128 + signum, f"{where}: {lines}"
        if state == prepared.new:
            seen.add("new")
            assert lines == [f"{script}: stopped by {signame} after the outputs were complete; they are all in place"]
        else:
            seen.add("old")
            assert state == prepared.old, f"{where}: left {describe(state, prepared)}"
            assert lines == [f"{script}: stopped by {signame}; no partial output was left behind"], where
        repaired = repair_in_process(root, capsys)
        assert len(repaired) == 1 and repaired[0].startswith("create_pvc.py: error: --nfs_server"), where  # no note
        shutil.rmtree(root)
        assert signal.getsignal(signum) is handler_before, where  # the run put the handler back
    assert seen == {"old", "new"}


def test_sighup_ignored_by_nohup_stays_ignored(tmp_path: Path, capsys):
    prepared = prepare("create_pvc --force", tmp_path)
    root = fresh_root(prepared, tmp_path, "nohup")
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        status, lines, _ = run_in_process(prepared, root, {2: Fault(signum=signal.SIGHUP)}, capsys)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert (status, lines) == (0, [])
    assert snapshot(root) == prepared.new


def test_a_run_outside_the_main_thread_leaves_the_signal_handlers_alone(tmp_path: Path):
    handlers = {signum: signal.getsignal(signum) for signum in files.STOP_SIGNALS}
    seen: list[object] = []

    def run() -> None:
        with files.stop_signals():
            seen.extend(signal.getsignal(signum) for signum in files.STOP_SIGNALS)
            files.write_outputs(tmp_path, ["out.txt"], [("out.txt", File(b"x\n", 0o644))], force=False)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == list(handlers.values())
    assert (tmp_path / "out.txt").read_bytes() == b"x\n"


# --- the lock ---------------------------------------------------------------------------------------


def test_a_busy_lock_stops_the_run_after_the_wait_in_one_line(tmp_path: Path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(files, "LOCK_WAIT_SECONDS", 0.3)
    lock = HeldLock(work)
    try:
        started = time.monotonic()
        status = create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime())
        waited = time.monotonic() - started
    finally:
        lock.release()
    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        f"create_pvc.py: error: another run is writing in {work}: waited 0.3 s for it to finish; "
        "run again once it has finished"
    ]
    assert waited >= 0.3  # it waited (not a timing claim: the lower bound is the rule itself)
    assert list(work.iterdir()) == []


def test_a_busy_lock_on_a_work_dir_the_run_made_removes_it_again(tmp_path: Path, monkeypatch):
    """The run makes the missing --work_dir and its parents, then finds another run's lock: it removes them
    (all but one that another run has put a file in meanwhile)."""
    monkeypatch.setattr(files, "LOCK_WAIT_SECONDS", 0.0)
    work = tmp_path / "a" / "b" / "work"
    real_open = os.open
    holders: list[HeldLock] = []
    taken: list[bool] = []

    def open_then_lock(path, *args, **kwargs):  # another run takes the lock just after the dirs were made
        if Path(path) == work and not taken:
            taken.append(True)
            holders.append(HeldLock(work))
            (tmp_path / "a" / "theirs").write_text("another run's file")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_then_lock)
    try:
        with pytest.raises(RunnerError, match="another run is writing in"):
            files.write_outputs(work, ["out.txt"], [("out.txt", File(b"x\n", 0o644))], force=False)
    finally:
        for holder in holders:
            holder.release()
    # What it made is removed, except a folder that is no longer empty.
    assert holders and sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["a", "a/theirs"]


def test_a_work_dir_that_is_a_file_is_refused_untouched(tmp_path: Path, capsys):
    work = tmp_path / "work"
    work.write_text("a file, not a folder")
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"create_pvc.py: error: cannot write {work}: {os.strerror(errno.ENOTDIR)}; nothing was written, "
        "choose a writable --work_dir"
    ]
    assert work.read_text() == "a file, not a folder"
    assert list(tmp_path.iterdir()) == [work]


def test_folders_made_before_and_after_waiting_are_all_removed_on_failure(tmp_path: Path, monkeypatch):
    """The run makes a/b/work, waits for a run that removes work meanwhile, makes it again, then fails:
    every folder it made, in both rounds, is removed."""
    work = tmp_path / "a" / "b" / "work"
    real_open = os.open
    taken: list[HeldLock] = []
    started: list[bool] = []

    def open_then_lock(path, *args, **kwargs):
        if Path(path) == work and not started:
            started.append(True)
            taken.append(HeldLock(work))

            def remove_then_release() -> None:
                work.rmdir()
                taken[0].release()

            threading.Timer(0.3, remove_then_release).start()
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_then_lock)
    with pytest.raises(ValueError, match="the plan wrote nothing"):
        files.write_outputs(work, ["out", "missing"], [("out", File(b"x", 0o644))], force=False)
    assert taken and taken[0].fd == -1  # the other run had the lock and gave it up
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("meanwhile", ["nothing", "replaced", "removed"])
def test_a_run_waits_for_the_lock_then_writes_into_the_current_work_dir(meanwhile: str, tmp_path: Path):
    """The run holding the lock may, before it lets go, leave the work dir, rename it away and make a new
    one, or remove it: the waiting run writes into the folder that is there once it has the lock."""
    work = tmp_path / "work"
    work.mkdir()
    lock = HeldLock(work)

    def change_then_release() -> None:
        if meanwhile == "replaced":
            work.rename(tmp_path / "moved")
            work.mkdir()
        elif meanwhile == "removed":
            work.rmdir()
        lock.release()

    timer = threading.Timer(0.3, change_then_release)
    timer.start()
    try:
        files.write_outputs(work, ["out.txt"], [("out.txt", File(b"x\n", 0o644))], force=False)
    finally:
        timer.join()
    assert (work / "out.txt").read_bytes() == b"x\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == (
        ["moved", "work"] if meanwhile == "replaced" else ["work"]
    )
    if meanwhile == "replaced":
        assert list((tmp_path / "moved").iterdir()) == []


def killed_before_commit(tmp_path: Path) -> tuple[Prepared, Path]:
    """A create_pvc --force run SIGKILLed just before its journal says committed."""
    prepared = prepare("create_pvc --force", tmp_path)
    commit = commit_call(prepared.calls)
    root = fresh_root(prepared, tmp_path, "killed")
    kill_at(prepared, root, tmp_path / "k.log", commit)
    return prepared, root


def test_recover_leaves_a_journal_alone_while_another_run_holds_the_lock(tmp_path: Path):
    prepared, root = killed_before_commit(tmp_path)
    work = root / "work"
    left = snapshot(root)
    assert left != prepared.old and (work / files.WORK_AREA / files.JOURNAL).is_file()
    lock = HeldLock(work)
    try:
        assert files.recover(work) is None
        assert snapshot(root) == left
    finally:
        lock.release()
    assert files.recover(work) == (
        f"a run stopped in {work} before its outputs were ready; what it had begun was removed"
    )
    assert snapshot(root) == prepared.old
    assert files.recover(work) is None


def test_recover_never_waits_for_a_running_writer(tmp_path: Path, monkeypatch):
    prepared, root = killed_before_commit(tmp_path)
    work = root / "work"

    def no_waiting(seconds: float) -> None:
        raise AssertionError(f"recover waited {seconds} s for the lock")

    monkeypatch.setattr(time, "sleep", no_waiting)  # the module files.py uses
    lock = HeldLock(work)
    try:
        assert files.recover(work) is None
    finally:
        lock.release()
    assert snapshot(root) != prepared.old  # left for the writer that holds the lock


def test_a_committed_run_whose_old_and_current_outputs_both_exist_is_left_to_the_user(tmp_path: Path):
    """The moves cannot be finished when someone put an output back by hand: say which paths to choose from."""
    area = tmp_path / files.WORK_AREA
    for folder in ("new/0", "old/0"):
        (area / folder).mkdir(parents=True)
        (area / folder / "file").write_text(folder)
    (tmp_path / "out").mkdir()
    (area / files.JOURNAL).write_text(json.dumps({**COMMITTED_JOURNAL, "existed": [True]}))
    before = snapshot(tmp_path)
    with pytest.raises(RunnerError) as refused:
        files.recover(tmp_path)
    assert str(refused.value) == (
        f"cannot finish the run stopped in {tmp_path}: {tmp_path / 'out'} and {area / 'old' / '0'} both exist; "
        f"move the one you want to keep to {tmp_path / 'out'} and remove {area}"
    )
    assert snapshot(tmp_path) == before


def test_recover_of_a_missing_or_clean_work_dir_does_nothing(tmp_path: Path):
    assert files.recover(tmp_path / "missing") is None
    assert not (tmp_path / "missing").exists()
    assert files.recover(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


# A journal as a killed run leaves it (README, "When a run is stopped"): the outputs it replaces, the
# parent folders and the --work_dir it made; once committed, which outputs existed before and the key
# files to remove.
STAGING_JOURNAL: dict[str, object] = {"state": "staging", "roots": ["out"], "made": [], "created": []}
COMMITTED_JOURNAL: dict[str, object] = {**STAGING_JOURNAL, "state": "committed", "existed": [False], "retire": []}


def damaged(base: dict[str, object], **changes: object) -> str:
    """The journal with entries changed (None: removed), as JSON."""
    journal = {**base, **changes}
    return json.dumps({key: value for key, value in journal.items() if value is not None})


DAMAGED_JOURNALS = {
    "not JSON": "not json",
    "cut short": json.dumps(COMMITTED_JOURNAL)[:-9],
    "not an object": "[]",
    "no state": damaged(COMMITTED_JOURNAL, state=None),
    "an unknown state": damaged(COMMITTED_JOURNAL, state="done"),
    "no roots": damaged(STAGING_JOURNAL, roots=None),
    "no made": damaged(STAGING_JOURNAL, made=None),
    "no created": damaged(STAGING_JOURNAL, created=None),
    "committed, no existed": damaged(COMMITTED_JOURNAL, existed=None),
    "undoing, no existed": damaged(COMMITTED_JOURNAL, state="undoing", existed=None),
    "committed, no retire": damaged(COMMITTED_JOURNAL, retire=None),
    "roots not a list": damaged(COMMITTED_JOURNAL, roots="out"),
    "a root not a string": damaged(COMMITTED_JOURNAL, roots=[1]),
    "an absolute root": damaged(COMMITTED_JOURNAL, roots=["/etc"]),
    "a root above the work dir": damaged(COMMITTED_JOURNAL, roots=["../out"]),
    "the work area as a root": damaged(COMMITTED_JOURNAL, roots=[".runner_k8s"]),
    "a made folder above the work dir": damaged(STAGING_JOURNAL, made=["../up"]),
    "a created folder not a string": damaged(STAGING_JOURNAL, created=[5]),
    "existed shorter than roots": damaged(COMMITTED_JOURNAL, existed=[]),
    "existed longer than roots": damaged(COMMITTED_JOURNAL, existed=[False, True]),
    "existed not true or false": damaged(COMMITTED_JOURNAL, existed=["yes"]),
    "a retired file not an object": damaged(COMMITTED_JOURNAL, retire=["key_file"]),
    "a retired file without a path": damaged(COMMITTED_JOURNAL, retire=[{}]),
    "a retired file's path not a string": damaged(COMMITTED_JOURNAL, retire=[{"path": 1}]),
    "removed roots not a list": damaged(COMMITTED_JOURNAL, remove=0),
    "a removed root not a number": damaged(COMMITTED_JOURNAL, remove=["0"]),
    "a removed root true": damaged(COMMITTED_JOURNAL, remove=[True]),
    "a removed root past the roots": damaged(COMMITTED_JOURNAL, remove=[1]),
    "a removed root below 0": damaged(COMMITTED_JOURNAL, remove=[-1]),
}


@pytest.mark.parametrize("case", sorted(DAMAGED_JOURNALS))
def test_a_damaged_journal_stops_every_run_and_names_the_folder(case: str, tmp_path: Path, capsys):
    work = tmp_path / "work"
    area = work / files.WORK_AREA
    area.mkdir(parents=True)
    (area / files.JOURNAL).write_text(DAMAGED_JOURNALS[case])
    (area / "new" / "0").mkdir(parents=True)
    before = snapshot(tmp_path)
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"create_pvc.py: error: {area / files.JOURNAL} is damaged, so the run that wrote it cannot be "
        f"finished or undone; check the outputs by hand, then remove {area}"
    ]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("journal", "outcome"),
    [
        (STAGING_JOURNAL, None),
        (COMMITTED_JOURNAL, b"staged"),
        ({**COMMITTED_JOURNAL, "state": "undoing"}, None),
        ({**STAGING_JOURNAL, "made": ["made"], "created": ["/nonexistent/created"]}, None),
        ({**COMMITTED_JOURNAL, "existed": [True], "retire": [{"path": "/nonexistent/key", "size": 1}]}, b"staged"),
    ],
)
def test_a_whole_journal_of_each_state_is_repaired(journal: dict[str, object], outcome: bytes | None, tmp_path: Path):
    """The control of the table above: journals with every entry their state needs are finished or undone."""
    area = tmp_path / files.WORK_AREA
    (area / "new" / "0").mkdir(parents=True)
    (area / "new" / "0" / "file").write_bytes(b"staged")
    (area / files.JOURNAL).write_text(json.dumps(journal))
    (tmp_path / "made").mkdir()
    note = files.recover(tmp_path)
    assert note is not None and str(tmp_path) in note
    assert not area.exists()
    # A parent folder the stopped run made is removed when its run is undone, and only then.
    assert (tmp_path / "made").exists() is (journal["made"] != ["made"])
    if outcome is None:
        assert not (tmp_path / "out").exists()
    else:
        assert (tmp_path / "out" / "file").read_bytes() == outcome


def test_a_repair_the_disk_refuses_says_so_and_is_done_by_a_later_run(tmp_path: Path, capsys):
    """The repair is file-system calls too: if one fails, one line, exit 1, and the journal stays for later."""
    prepared = prepare("create_pvc --force", tmp_path)
    commit = commit_call(prepared.calls)

    def killed_after_commit(label: str) -> Path:
        root = fresh_root(prepared, tmp_path, label)
        kill_at(prepared, root, tmp_path / f"{label}.log", commit + 1)
        return root

    probe_root = killed_after_commit("probe")
    with injected({}) as probe:
        assert files.recover(probe_root / "work") is not None
    first_rename = next(n for n, call in enumerate(probe.calls, start=1) if call.startswith("rename"))
    folder_sync = next(
        n for n, call in enumerate(probe.calls, start=1) if n > first_rename and call.startswith("fsync")
    )
    for failing in (first_rename, folder_sync):
        root = killed_after_commit(f"repair{failing}")
        work = root / "work"
        left = snapshot(root)
        with injected({failing: Fault(fail_with=errno.ENOSPC)}) as refused:
            assert create_pvc.main(next_run(root), fixed_runtime()) == 1
        call, _, argument = refused.calls[failing - 1].partition(" ")
        failed_path = work if call == "fsync" else argument  # a descriptor names no path: the work dir is named
        assert capsys.readouterr().err.splitlines() == [
            f"create_pvc.py: error: cannot write {failed_path}: {ENOSPC_TEXT}; nothing was written, "
            "choose a writable --work_dir"
        ]
        if failing == first_rename:
            assert snapshot(root) == left
        assert files.recover(work) == (
            f"a run stopped in {work} after its outputs were ready; its move was completed: local-pvc.yaml"
        )
        assert snapshot(root) == prepared.new


def test_the_writer_itself_repairs_a_run_killed_after_the_script_started(tmp_path: Path):
    """A run killed between this script's own repair and its lock: the writer repairs it under the lock,
    keeps the --work_dir the killed run made (this run writes into it) and leaves a note for the script."""
    prepared = prepare("multi_cluster", tmp_path)
    assert "work" not in prepared.old  # the killed run made the --work_dir
    commit = commit_call(prepared.calls)
    root = fresh_root(prepared, tmp_path, "killed")
    kill_at(prepared, root, tmp_path / "k.log", commit)
    work = root / "work"
    assert files.take_notes() == []
    files.write_outputs(work, ["mine.txt"], [("mine.txt", File(b"mine\n", 0o644))], force=False)
    assert files.take_notes() == [
        f"a run stopped in {work} before its outputs were ready; what it had begun was removed"
    ]
    assert files.take_notes() == []  # taken once
    assert snapshot(root) == {**prepared.old, "work": EMPTY_DIR, "work/mine.txt": (0o644, b"mine\n")}


def test_a_work_dir_that_cannot_be_locked_is_named(tmp_path: Path, monkeypatch, capsys):
    """flock fails on some network filesystems (ENOLCK): one line naming the folder, nothing written."""

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    work = tmp_path / "a" / "work"
    refusal = (
        f"create_pvc.py: error: cannot write {work}: {os.strerror(errno.ENOLCK)}; nothing was written, "
        "choose a writable --work_dir"
    )
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 1
    assert capsys.readouterr().err.splitlines() == [refusal]
    assert list(tmp_path.iterdir()) == []
    # The same when a killed run left something to repair: the repair needs the lock first.
    (work / files.WORK_AREA).mkdir(parents=True)
    (work / files.WORK_AREA / files.JOURNAL).write_text(json.dumps(STAGING_JOURNAL))
    before = snapshot(tmp_path)
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 1
    assert capsys.readouterr().err.splitlines() == [refusal]
    assert snapshot(tmp_path) == before


def test_a_plan_naming_one_file_twice_writes_nothing(tmp_path: Path):
    """Two entries for one path are a bug in the plan: it fails whole rather than letting the second win."""
    items = [("out/a", File(b"first", 0o644)), ("out/a", File(b"second", 0o644))]
    with pytest.raises(RunnerError, match="File exists"):
        files.write_outputs(tmp_path, ["out"], items, force=False)
    assert list(tmp_path.iterdir()) == []


def test_a_repair_that_cannot_remove_a_consumed_key_file_names_it_in_its_note(tmp_path: Path):
    def committed_with_a_key_file(work: Path) -> Path:
        work.mkdir()
        key = work / "key_file"
        key.write_text("secret")
        found = key.stat()
        identity = {"path": str(key), "dev": found.st_dev, "ino": found.st_ino, "size": 6}
        area = work / files.WORK_AREA
        (area / "new" / "0").mkdir(parents=True)
        retire = [{**identity, "mtime_ns": found.st_mtime_ns}]
        (area / files.JOURNAL).write_text(json.dumps({**COMMITTED_JOURNAL, "retire": retire}))
        return key

    probe_key = committed_with_a_key_file(tmp_path / "probe")
    with injected({}) as probe:
        files.recover(tmp_path / "probe")
    assert not probe_key.exists()
    unlink_of_key = probe.calls.index(f"unlink {probe_key}") + 1
    work = tmp_path / "work"
    key = committed_with_a_key_file(work)
    with injected({unlink_of_key: Fault(fail_with=errno.EIO)}):
        note = files.recover(work)
    assert note == (
        f"a run stopped in {work} after its outputs were ready; its move was completed: out "
        f"({key} could not be removed: {os.strerror(errno.EIO)}; delete it)"
    )
    assert sorted(p.name for p in work.iterdir()) == ["key_file", "out"]


def test_an_area_without_a_journal_is_removed_with_what_it_staged(tmp_path: Path):
    """A run killed before its first journal write changed nothing outside the area: the area just goes."""
    area = tmp_path / files.WORK_AREA
    (area / "new" / "0").mkdir(parents=True)
    (area / "new" / "0" / "staged").write_text("half")
    (tmp_path / "kept").write_text("the user's")
    assert files.recover(tmp_path) == (
        f"a run stopped in {tmp_path} before its outputs were ready; what it had begun was removed"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


# --- what the writer takes and leaves --------------------------------------------------------------


@pytest.mark.parametrize("root", ["", ".", "/abs", "../up", "a/../b", ".runner_k8s", ".runner_k8s/x"])
def test_a_planned_output_outside_the_work_dir_is_a_bug_caught_before_any_write(root: str, tmp_path: Path):
    work = tmp_path / "work"
    with pytest.raises(ValueError, match="is not a plain relative path"):
        files.write_outputs(work, [root], [], force=False)
    assert not work.exists()


def test_plain_relative_outputs_are_accepted(tmp_path: Path):
    roots = ["a", "b/c", "..d", ".hidden", "e.runner_k8s"]
    items = [(root, File(root.encode(), 0o644)) for root in roots]
    files.write_outputs(tmp_path, roots, items, force=False)
    assert {root: (tmp_path / root).read_bytes() for root in roots} == {root: root.encode() for root in roots}


def test_a_plan_entry_outside_its_roots_or_a_root_without_entries_writes_nothing(tmp_path: Path):
    with pytest.raises(ValueError, match=r"planned path 'b/x' lies outside the outputs \['a'\]"):
        files.write_outputs(tmp_path, ["a"], [("a/x", File(b"", 0o644)), ("b/x", File(b"", 0o644))], force=False)
    with pytest.raises(ValueError, match="the plan wrote nothing for the output 'b'"):
        files.write_outputs(tmp_path, ["a", "b"], [("a/x", File(b"", 0o644))], force=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_parents_are_made_once_and_removed_on_failure(tmp_path: Path):
    roots = ["x/y/one", "x/y/two", "x/z"]
    items = [(root, File(b"1", 0o600)) for root in roots]
    with injected({}) as probe:
        files.write_outputs(tmp_path / "ok", roots, items, force=False)
    made = [call for call in probe.calls if call.startswith("mkdir") and "/.runner_k8s" not in call]
    assert made == [f"mkdir {tmp_path / 'ok' / folder}" for folder in ("", "x", "x/y")]
    for root in roots:
        assert (tmp_path / "ok" / root).read_bytes() == b"1"
    # The same run failing at its last staging call (the sync of the staged tree) leaves no folder it made.
    last_stage = probe.calls.index("fsync -1") + 1
    with injected({last_stage: Fault(fail_with=errno.EIO)}), pytest.raises(RunnerError):
        files.write_outputs(tmp_path / "bad", roots, items, force=False)
    assert not (tmp_path / "bad").exists()


def modes_below(top: Path) -> dict[str, int]:
    return {str(path.relative_to(top)): path.lstat().st_mode & 0o7777 for path in sorted(top.rglob("*"))}


def test_under_umask_0_made_folders_are_0755_and_the_work_area_stays_private(tmp_path: Path):
    """Folders the writer makes on its own (the --work_dir, missing parents, parents of a file) are 0755
    at most even when the umask allows more; while a run lasts its area and journal are 0700 and 0600."""
    roots = ["x/y/out", "z"]
    items = [("x/y/out/sub/file", File(b"f", 0o644)), ("z", File(b"s", 0o600))]
    with injected({}) as probe:
        files.write_outputs(tmp_path / "probe", roots, items, force=False)
    commit = commit_call(probe.calls)
    work = tmp_path / "a" / "work"
    during: dict[str, int] = {}

    def look() -> None:
        during[files.WORK_AREA] = (work / files.WORK_AREA).stat().st_mode & 0o7777
        during.update(modes_below(work / files.WORK_AREA))

    previous = os.umask(0)
    try:
        with injected({commit: Fault(action=look)}):
            files.write_outputs(work, roots, items, force=False)
    finally:
        os.umask(previous)
    assert modes_below(tmp_path / "a") == {
        "work": 0o755,
        "work/x": 0o755,
        "work/x/y": 0o755,
        "work/x/y/out": 0o755,
        "work/x/y/out/sub": 0o755,
        "work/x/y/out/sub/file": 0o644,
        "work/z": 0o600,
    }
    assert (tmp_path / "a").stat().st_mode & 0o7777 == 0o755
    assert during == {
        files.WORK_AREA: 0o700,
        "journal": 0o600,
        "journal.tmp": 0o600,  # the committed journal, about to replace the first one
        "new": 0o700,
        "new/0": 0o755,
        "new/0/sub": 0o755,
        "new/0/sub/file": 0o644,
        "new/1": 0o600,
        "old": 0o700,
    }


def test_a_parent_folder_made_by_another_run_meanwhile_is_used(tmp_path: Path):
    """Between seeing a folder missing and making it, another run may make it: that is no error."""
    work = tmp_path / "a" / "b" / "work"
    with injected({}) as probe:
        files.write_outputs(tmp_path / "p" / "b" / "work", ["out"], [("out", File(b"x", 0o644))], force=False)
    first_mkdir = next(n for n, call in enumerate(probe.calls, start=1) if call.startswith("mkdir"))
    with injected({first_mkdir: Fault(action=(tmp_path / "a").mkdir)}):
        files.write_outputs(work, ["out"], [("out", File(b"x", 0o644))], force=False)
    assert (work / "out").read_bytes() == b"x"


def test_folder_modes_are_exact_whatever_the_umask(tmp_path: Path):
    items: list[tuple[str, File | Dir]] = [
        ("out", Dir(0o700)),
        ("out/public", Dir(0o755)),
        ("out/public/file", File(b"f", 0o644)),
        ("out/secret", File(b"s", 0o600)),
    ]
    previous = os.umask(0o077)
    try:
        files.write_outputs(tmp_path, ["out"], items, force=False)
    finally:
        os.umask(previous)
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o7777 for p in sorted(tmp_path.rglob("*"))}
    assert modes == {"out": 0o700, "out/public": 0o755, "out/public/file": 0o644, "out/secret": 0o600}


def test_existing_outputs_are_refused_without_force_and_named_all(tmp_path: Path):
    (tmp_path / "a").write_text("old")
    (tmp_path / "b").symlink_to(tmp_path / "nowhere")  # even a dangling link is something to keep
    items = [(root, File(b"new", 0o644)) for root in ("a", "b", "c")]
    with pytest.raises(OutputExistsError) as refused:
        files.write_outputs(tmp_path, ["a", "b", "c"], items, force=False, hint="pass --force")
    assert str(refused.value) == f"{tmp_path / 'a'}, {tmp_path / 'b'} already exist: pass --force"
    with pytest.raises(OutputExistsError) as one:
        files.write_outputs(tmp_path, ["a", "c"], items[::2], force=False)
    assert str(one.value) == f"{tmp_path / 'a'} already exists: {files.DEFAULT_HINT}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    files.write_outputs(tmp_path, ["a", "b", "c"], items, force=True)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"a": "new", "b": "new", "c": "new"}


def test_a_key_file_changed_during_the_run_is_not_removed(tmp_path: Path):
    """The consumed key file goes only if it is still the file the run read (same inode, size and time)."""
    for change in ("rewrite", "replace", "touch"):
        work = tmp_path / change
        work.mkdir()
        key = work / KEY_FILE
        key.write_text("old secret")

        def edit(key: Path = key, change: str = change) -> None:
            if change == "rewrite":  # same file, same time, other size
                mtime_ns = key.stat().st_mtime_ns
                key.write_text("other secret!")
                os.utime(key, ns=(0, mtime_ns))
            elif change == "replace":  # same size and time, another file
                (key.parent / "other").write_text("old secret")
                os.utime(key.parent / "other", ns=(key.stat().st_atime_ns, key.stat().st_mtime_ns))
                os.rename(key.parent / "other", key)
            else:  # same file and size, another time
                os.utime(key, ns=(0, key.stat().st_mtime_ns + 1_000_000_000))

        with injected({}) as probe:
            files.write_outputs(work / "probe", ["out"], [("out", File(b"x", 0o644))], force=False)
        commit = commit_call(probe.calls)
        with injected({commit: Fault(action=edit)}):
            files.write_outputs(work, ["out"], [("out", File(b"x", 0o644))], force=False, retire=[key])
        assert key.exists(), change
    unchanged = tmp_path / "unchanged"
    unchanged.mkdir()
    (unchanged / KEY_FILE).write_text("secret")
    files.write_outputs(unchanged, ["out"], [("out", File(b"x", 0o644))], force=False, retire=[unchanged / KEY_FILE])
    assert sorted(p.name for p in unchanged.iterdir()) == ["out"]


def test_every_consumed_key_file_is_removed_even_after_one_that_vanished_or_failed(tmp_path: Path):
    items = [("out", File(b"x", 0o644))]

    def two_keys(name: str) -> tuple[Path, list[Path]]:
        work = tmp_path / name
        work.mkdir()
        keys = [work / "key1", work / "key2"]
        for key in keys:
            key.write_text("secret")
        return work, keys

    probe_work, probe_keys = two_keys("probe")
    with injected({}) as probe:
        files.write_outputs(probe_work, ["out"], items, force=False, retire=probe_keys)
    assert sorted(p.name for p in probe_work.iterdir()) == ["out"]
    commit = commit_call(probe.calls)
    first_unlink = next(n for n, call in enumerate(probe.calls, start=1) if call.startswith("unlink"))
    assert probe.calls[first_unlink - 1] == f"unlink {probe_keys[0]}"
    # The first key file is removed by someone else before the outputs are in place, or just before
    # the writer removes it: either way the second one is removed.
    for name, when in (("before", commit), ("racing", first_unlink)):
        work, keys = two_keys(name)
        with injected({when: Fault(action=keys[0].unlink)}):
            files.write_outputs(work, ["out"], items, force=False, retire=keys)
        assert sorted(p.name for p in work.iterdir()) == ["out"], name
    # Removing the first one fails: the second is removed all the same, the first is named.
    work, keys = two_keys("failed")
    with injected({first_unlink: Fault(fail_with=errno.EIO)}), pytest.raises(RunnerError) as failed:
        files.write_outputs(work, ["out"], items, force=False, retire=keys)
    assert str(failed.value) == (
        f"the outputs are in place, but {keys[0]} could not be removed: {os.strerror(errno.EIO)}; delete it"
    )
    assert sorted(p.name for p in work.iterdir()) == ["key1", "out"]


def test_a_key_file_that_is_a_pipe_or_gone_is_left_alone(tmp_path: Path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    files.write_outputs(
        tmp_path, ["out"], [("out", File(b"x", 0o644))], force=False, retire=[fifo, tmp_path / "missing"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "out"]


def test_a_consumed_key_file_that_cannot_be_checked_is_named_not_silently_kept(tmp_path: Path, monkeypatch):
    """After the move, a key file whose identity cannot be read (EACCES) is named for the user to delete."""
    items = [("out", File(b"x", 0o644))]
    probe_work = tmp_path / "probe"
    probe_work.mkdir()
    with injected({}) as probe:
        files.write_outputs(probe_work, ["out"], items, force=False)
    commit = commit_call(probe.calls)
    work = tmp_path / "work"
    work.mkdir()
    key = work / KEY_FILE
    key.write_text("secret")
    real_lstat = os.lstat
    committed: list[bool] = []

    def lstat(path, *args, **kwargs):
        if committed and Path(path) == key:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", lstat)
    with injected({commit: Fault(action=lambda: committed.append(True))}), pytest.raises(RunnerError) as named:
        files.write_outputs(work, ["out"], items, force=False, retire=[key])
    assert str(named.value) == (
        f"the outputs are in place, but {key} could not be removed: {os.strerror(errno.EACCES)}; delete it"
    )
    assert sorted(p.name for p in work.iterdir()) == [KEY_FILE, "out"]


# --- outputs a run removes (remove_node) ----------------------------------------------------------


def test_a_removed_output_goes_in_the_same_step_as_the_others_change(tmp_path: Path):
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "key").write_bytes(b"old key")
    (tmp_path / "kept").write_bytes(b"old")
    files.write_outputs(tmp_path, ["kept", "gone"], [("kept", File(b"new"))], force=True, remove=["gone"])
    assert snapshot(tmp_path) == {"kept": (0o644, b"new")}


def test_a_committed_removal_is_finished_by_the_next_run(tmp_path: Path):
    """Killed after the commit, before the move: the repair removes the output, as the run would have."""
    area = tmp_path / files.WORK_AREA
    (area / "new" / "0").mkdir(parents=True)
    (area / "new" / "0" / "file").write_bytes(b"staged")
    (tmp_path / "gone").mkdir()
    journal = {**COMMITTED_JOURNAL, "roots": ["out", "gone"], "existed": [False, True], "remove": [1]}
    (area / files.JOURNAL).write_text(json.dumps(journal))
    assert files.recover(tmp_path) is not None
    assert snapshot(tmp_path) == {"out": (0o755, None), "out/file": (0o644, b"staged")}


def test_an_undone_removal_puts_the_output_back(tmp_path: Path):
    """Killed while undoing: the output moved aside comes back."""
    area = tmp_path / files.WORK_AREA
    (area / "old" / "1").mkdir(parents=True)
    (area / "old" / "1" / "key").write_bytes(b"old key")
    journal = {
        **COMMITTED_JOURNAL,
        "state": "undoing",
        "roots": ["out", "gone"],
        "existed": [False, True],
        "remove": [1],
    }
    (area / files.JOURNAL).write_text(json.dumps(journal))
    assert files.recover(tmp_path) is not None
    assert snapshot(tmp_path) == {"gone": (0o755, None), "gone/key": (0o644, b"old key")}


def test_a_plan_that_writes_into_an_output_it_removes_is_refused_before_anything(tmp_path: Path):
    (tmp_path / "gone").mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="which it removes"):
        files.write_outputs(tmp_path, ["gone"], [("gone/x", File(b"x"))], force=True, remove=["gone"])
    assert snapshot(tmp_path) == before
