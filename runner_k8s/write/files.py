"""The only module that writes to disk: journaled all-or-nothing output, one writer per work dir.

A run changes a work dir in these steps (the README's "What a stopped run leaves" says it for users):

1. lock the work dir (lock.py: flock on the directory itself) and finish or undo what a killed run left;
2. write a journal (journal.py) in `<work_dir>/.runner_k8s/` naming the outputs, then stage every output in
   `.runner_k8s/new/`, syncing each file and directory;
3. rewrite the journal as committed and sync it: from here on the new outputs win;
4. move each old output into `.runner_k8s/old/` and the new one into its place, sync the parents;
5. remove the old outputs, the key file the run consumed, the journal and `.runner_k8s/`.

A run killed before step 3 is undone by the next run of any script, one killed after it is
completed; either way the work dir then holds the old outputs or the new ones, never a mix.
SIGINT, SIGTERM and SIGHUP do the same clean-up at once, and are held back during steps 3-5 (stops.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from runner_k8s.errors import OutputExistsError, RunnerError, Stopped
from runner_k8s.plan import PRIVATE_DIR, PUBLIC_DIR, Dir, PlanItems
from runner_k8s.write.durable import sync_dir, sync_tree
from runner_k8s.write.journal import (
    COMMITTED,
    JOURNAL,
    STAGING,
    UNDOING,
    WORK_AREA,
    check_relative,
    identity,
    read_journal,
    write_journal,
)
from runner_k8s.write.lock import WORK_DIR_FLAG, check_writable, lock, remove_empty_dirs, write_error
from runner_k8s.write.stops import STOP_SIGNALS, held_signals, stop_signals, take_signal

__all__ = [
    "DEFAULT_HINT",
    "JOURNAL",
    "LOCK_WAIT_SECONDS",
    "STOP_SIGNALS",
    "WORK_AREA",
    "ensure_free",
    "existing_outputs",
    "recover",
    "stop_signals",
    "take_notes",
    "write_outputs",
]

NEW, OLD = "new", "old"
LOCK_WAIT_SECONDS = 10.0
DEFAULT_HINT = "choose another --work_dir, or pass --force to replace it"

_notes: list[str] = []


def take_notes() -> list[str]:
    """The one-line notes of what this process finished or undid for a killed run (then forgets them)."""
    notes = list(_notes)
    _notes.clear()
    return notes


# --- checks ----------------------------------------------------------------------------------


def existing_outputs(work_dir: Path, roots: Sequence[str]) -> list[str]:
    """The roots that already exist (as anything, even a dangling link) in work_dir."""
    return [root for root in roots if os.path.lexists(work_dir / root)]


def ensure_free(work_dir: Path, roots: Sequence[str], *, force: bool, hint: str) -> None:
    """Raise unless every root is free or --force allows replacing it."""
    taken = existing_outputs(work_dir, roots)
    if taken and not force:
        names = ", ".join(str(work_dir / name) for name in taken)
        verb = "exists" if len(taken) == 1 else "exist"
        raise OutputExistsError(f"{names} already {verb}: {hint}")


# --- the writer ------------------------------------------------------------------------------


def write_outputs(
    work_dir: Path,
    roots: Sequence[str],
    items: PlanItems,
    *,
    force: bool,
    hint: str = DEFAULT_HINT,
    retire: Sequence[Path] = (),
    flag: str = WORK_DIR_FLAG,
    remove: Sequence[str] = (),
) -> None:
    """Write every planned entry under `roots` (paths relative to work_dir) in one step: all or nothing.

    Existing roots are replaced only with `force`, and then all together. `retire` names regular
    files (a consumed key file) removed once the new outputs are in place. `flag` is the option that
    named work_dir, for the messages. The roots named in `remove` get no new content: they go, in the
    same step as the others change (a day-2 verb taking a node away).
    """
    for root in roots:
        check_relative(root)
    check_writable(work_dir, flag)
    try:
        fd, created = lock(work_dir, create=True, wait=LOCK_WAIT_SECONDS)
    except OSError as exc:
        raise write_error(exc, work_dir, flag) from exc

    assert fd is not None  # a writer waits, then raises, rather than going on without the lock
    try:
        # The scripts repair before they parse their input; this catches a run killed since then.
        note = _recover(work_dir, remove_created=False)
        if note:
            _notes.append(note)
        ensure_free(work_dir, roots, force=force, hint=hint)
        removed = [list(roots).index(root) for root in remove]
        signum = _write_locked(work_dir, list(roots), items, retire, created, removed)
    except BaseException as exc:
        with held_signals():
            remove_empty_dirs(created)  # a run that fails leaves no folder it made
        if isinstance(exc, OSError):
            raise write_error(exc, work_dir, flag) from exc
        raise
    finally:
        os.close(fd)
        take_signal()
    made = list(dict.fromkeys(created))
    if made:  # a mistyped path shows here, rather than becoming a tree without a word
        _notes.append(f"made the folder{'s' if len(made) > 1 else ''} {', '.join(map(str, made))}")
    if signum is not None:
        raise Stopped(signum, complete=True)


def recover(work_dir: Path, flag: str = WORK_DIR_FLAG) -> str | None:
    """Finish or undo what a killed run left in work_dir; a one-line note of what was done, or None."""
    if not os.path.lexists(work_dir / WORK_AREA):
        return None
    try:
        fd, _ = lock(work_dir, create=False, wait=0.0)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise write_error(exc, work_dir, flag) from exc
    if fd is None:
        return None  # another run holds the lock: its journal is alive, not left over
    try:
        return _recover(work_dir, remove_created=True)
    except OSError as exc:
        raise write_error(exc, work_dir, flag) from exc
    finally:
        os.close(fd)


def _write_locked(
    work_dir: Path,
    roots: list[str],
    items: PlanItems,
    retire: Sequence[Path],
    created: Sequence[Path],
    removed: Sequence[int] = (),
) -> int | None:
    """Steps 2-5 under the lock; the signal that arrived during the last steps, if any."""
    area = work_dir / WORK_AREA
    made = _missing_parents(work_dir, roots)
    journal: dict[str, Any] = {
        "state": STAGING,
        "roots": roots,
        "made": [str(path) for path in made],
        "created": [os.path.abspath(path) for path in created],
        **({"remove": list(removed)} if removed else {}),
    }
    try:
        os.mkdir(area, PRIVATE_DIR)
        write_journal(area, journal)
        for directory in made:
            os.mkdir(work_dir / directory, PUBLIC_DIR)
        os.mkdir(area / OLD, PRIVATE_DIR)
        _stage(area / NEW, roots, items, removed)
        journal["existed"] = [os.path.lexists(work_dir / root) for root in roots]
        journal["retire"] = [found for found in map(identity, retire) if found is not None]
        sync_dir(area)
    except BaseException:
        with held_signals():
            _undo(work_dir, area, journal)
        take_signal()
        raise
    with held_signals():
        journal["state"] = COMMITTED
        try:
            write_journal(area, journal)
        except BaseException:
            _undo(work_dir, area, journal)
            raise
        try:
            _forward(work_dir, area, journal)
        except OSError:
            journal["state"] = UNDOING
            with contextlib.suppress(OSError):
                write_journal(area, journal)
            _reverse(work_dir, area, journal)
            _undo(work_dir, area, journal)
            raise
        failures = _finish(work_dir, area, journal)
    if failures:
        path, exc = failures[0]
        raise RunnerError(f"the outputs are in place, but {path} could not be removed: {exc.strerror}; delete it")
    return take_signal()


def _missing_parents(work_dir: Path, roots: Sequence[str]) -> list[str]:
    missing: list[str] = []
    for root in roots:
        parents = list(PurePosixPath(root).parents)[:-1]  # without "."
        for parent in reversed(parents):
            if str(parent) not in missing and not os.path.isdir(work_dir / parent):
                missing.append(str(parent))
    return missing


def _stage(new: Path, roots: list[str], items: PlanItems, removed: Sequence[int] = ()) -> None:
    """Write every entry below new/<index of its root>, then get them all onto the disk."""
    made: set[Path] = {new}
    os.mkdir(new, PRIVATE_DIR)

    def make(directory: Path) -> None:
        # 0755 at most, whatever the umask: node folders end up on shared cluster storage.
        if directory not in made:
            make(directory.parent)
            os.mkdir(directory, PUBLIC_DIR)
            made.add(directory)

    root_parts = [PurePosixPath(root).parts for root in roots]
    for rel, entry in items:
        index, rest = _root_of(rel, roots, root_parts)
        if index in removed:
            raise ValueError(f"the plan wrote {rel!r} into the output {roots[index]!r}, which it removes")
        target = new / str(index) / rest
        if isinstance(entry, Dir):
            make(target)
            os.chmod(target, entry.mode)  # its owner (this run) can still write below it
            continue
        make(target.parent)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, entry.mode)
        with os.fdopen(fd, "wb") as stream:
            stream.write(entry.data)
            stream.flush()
            os.fchmod(fd, entry.mode)
    for index, root in enumerate(roots):
        if index not in removed and not os.path.lexists(new / str(index)):
            raise ValueError(f"the plan wrote nothing for the output {root!r}")
    sync_tree(new)


def _root_of(path: str, roots: Sequence[str], root_parts: Sequence[tuple[str, ...]]) -> tuple[int, PurePosixPath]:
    pure = check_relative(path)
    for index, parts in enumerate(root_parts):
        if pure.parts[: len(parts)] == parts:
            return index, PurePosixPath(*pure.parts[len(parts) :])
    raise ValueError(f"planned path {path!r} lies outside the outputs {list(roots)}")


def _forward(work_dir: Path, area: Path, journal: dict[str, Any]) -> None:
    """Move old outputs aside and new ones in, and sync their folders (idempotent)."""
    parents: set[Path] = set()
    removed = journal.get("remove", [])
    for index, root in enumerate(journal["roots"]):
        new, old, target = area / NEW / str(index), area / OLD / str(index), work_dir / root
        if index in removed:
            if os.path.lexists(target) and not os.path.lexists(old):
                os.makedirs(area / OLD, PRIVATE_DIR, exist_ok=True)
                os.rename(target, old)
        elif os.path.lexists(new):
            if os.path.lexists(target):
                if os.path.lexists(old):
                    raise RunnerError(
                        f"cannot finish the run stopped in {work_dir}: {target} and {old} both exist; "
                        f"move the one you want to keep to {target} and remove {area}"
                    )
                os.makedirs(area / OLD, PRIVATE_DIR, exist_ok=True)
                os.rename(target, old)
            os.rename(new, target)
        parents.add(target.parent)
    for parent in parents:
        sync_dir(parent)


def _finish(work_dir: Path, area: Path, journal: dict[str, Any]) -> list[tuple[str, OSError]]:
    """Once the new outputs are in place: remove the retired files and the area; what could not be removed."""
    failures: list[tuple[str, OSError]] = []
    for retired in journal["retire"]:
        try:
            if identity(Path(retired["path"])) == retired:
                os.unlink(retired["path"])
        except FileNotFoundError:
            continue
        except OSError as exc:
            failures.append((retired["path"], exc))
            continue
        with contextlib.suppress(OSError):  # it is gone; a failed sync is no reason to say otherwise
            sync_dir(Path(retired["path"]).parent)
    _discard(work_dir, area)
    return failures


def _reverse(work_dir: Path, area: Path, journal: dict[str, Any]) -> None:
    """Put the old outputs back after a partial move (idempotent)."""
    existed = journal["existed"]  # recorded before the commit; only a committed run ever moves anything
    for index in reversed(range(len(journal["roots"]))):
        new, old, target = area / NEW / str(index), area / OLD / str(index), work_dir / journal["roots"][index]
        if not os.path.lexists(new) and os.path.lexists(target) and (os.path.lexists(old) or not existed[index]):
            os.makedirs(area / NEW, PRIVATE_DIR, exist_ok=True)
            os.rename(target, new)
        if os.path.lexists(old) and not os.path.lexists(target):
            os.rename(old, target)
        sync_dir(target.parent)


def _undo(work_dir: Path, area: Path, journal: dict[str, Any]) -> None:
    """Remove everything a run that never committed made: its area and the parents it created."""
    _discard(work_dir, area)
    for directory in reversed(journal.get("made", [])):
        with contextlib.suppress(OSError):
            os.rmdir(work_dir / directory)


def _discard(work_dir: Path, area: Path) -> None:
    """Remove the area (journal last, so a crash here leaves a journal that still applies).

    Failures are left for the next run: a journal that stays still applies, and an area without
    one holds nothing that is needed any more.
    """
    for part in (OLD, NEW):
        shutil.rmtree(area / part, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.unlink(area / JOURNAL)
    shutil.rmtree(area, ignore_errors=True)
    with contextlib.suppress(OSError):
        sync_dir(work_dir)


def _recover(work_dir: Path, *, remove_created: bool) -> str | None:
    """Apply a journal left by a killed run (the lock is held); a one-line note, or None."""
    area = work_dir / WORK_AREA
    if not os.path.lexists(area):
        return None
    journal = read_journal(area)
    with held_signals():
        if journal is not None and journal["state"] == COMMITTED:
            _forward(work_dir, area, journal)
            failures = _finish(work_dir, area, journal)
            outputs = ", ".join(journal["roots"])
            note = f"a run stopped in {work_dir} after its outputs were ready; its move was completed: {outputs}"
            if failures:
                note += f" ({failures[0][0]} could not be removed: {failures[0][1].strerror}; delete it)"
        else:
            journal = journal or {}
            if journal.get("state") == UNDOING:
                _reverse(work_dir, area, journal)
            _undo(work_dir, area, journal)
            note = f"a run stopped in {work_dir} before its outputs were ready; what it had begun was removed"
        if remove_created:
            remove_empty_dirs([Path(path) for path in journal.get("created", [])])
    return note
