"""The writer's journal: where it lives, how it is replaced in one synced step, and what makes one whole.

The journal in `<work_dir>/.runner_k8s/` says what a run is doing (staging, committed, undoing), which
outputs it replaces, which folders it made and which consumed key files it removes; files.py writes
it at each step and applies the one a killed run left.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any, TypeGuard

from runner_k8s.errors import RunnerError
from runner_k8s.plan import SECRET_FILE
from runner_k8s.write.durable import sync_dir

WORK_AREA = ".runner_k8s"
JOURNAL = "journal"
STAGING, COMMITTED, UNDOING = "staging", "committed", "undoing"


def write_journal(area: Path, journal: dict[str, Any]) -> None:
    """Replace the journal in one step, synced: a crash leaves the old version or the new one."""
    temporary = area / f"{JOURNAL}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, SECRET_FILE)
    try:
        os.write(fd, json.dumps(journal).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, area / JOURNAL)
    sync_dir(area)


def read_journal(area: Path) -> dict[str, Any] | None:
    """The journal in area; None if there is none, RunnerError if it is damaged."""
    try:
        text = (area / JOURNAL).read_text()
    except FileNotFoundError:
        return None  # killed before the first journal was in place: nothing outside the area changed
    damaged = RunnerError(
        f"{area / JOURNAL} is damaged, so the run that wrote it cannot be finished or undone; "
        f"check the outputs by hand, then remove {area}"
    )
    try:
        journal = json.loads(text)
    except ValueError:
        raise damaged from None
    if not is_whole(journal):
        raise damaged
    return journal


def is_whole(journal: object) -> TypeGuard[dict[str, Any]]:
    """Whether the journal holds every entry its state needs, each of the right kind.

    A journal cut short or edited by hand would otherwise stop a repair half-way, or move paths
    outside the work dir.
    """
    if not isinstance(journal, dict) or journal.get("state") not in (STAGING, COMMITTED, UNDOING):
        return False
    lists = ["roots", "made", "created"] + ([] if journal["state"] == STAGING else ["existed", "retire"])
    if not all(isinstance(journal.get(key), list) for key in lists):
        return False
    removed = journal.get("remove", [])  # absent in journals of runs that remove nothing
    if not isinstance(removed, list) or not all(
        isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(journal["roots"])
        for index in removed
    ):
        return False
    relative = journal["roots"] + journal["made"]
    if not all(isinstance(path, str) for path in relative + journal["created"]):
        return False
    try:
        for path in relative:
            check_relative(path)
    except ValueError:
        return False
    if journal["state"] == STAGING:
        return True
    existed, retire = journal["existed"], journal["retire"]
    return (
        len(existed) == len(journal["roots"])
        and all(isinstance(flag, bool) for flag in existed)
        and all(isinstance(identity, dict) and isinstance(identity.get("path"), str) for identity in retire)
    )


def check_relative(path: str) -> PurePosixPath:
    """A planned or journaled path: relative, without '..', outside the work area; ValueError if not."""
    pure = PurePosixPath(path)
    # PurePosixPath drops "." parts: "./a" is "a", and "." has no parts at all.
    if not pure.parts or pure.is_absolute() or ".." in pure.parts or pure.parts[0] == WORK_AREA:
        raise ValueError(f"planned path {path!r} is not a plain relative path")
    return pure


def identity(path: Path) -> dict[str, Any] | None:
    """What makes a consumed key file the one the run read; None unless it is a regular file.

    Only a regular file is removed after use: a pipe or /dev/fd/N is left alone.
    """
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None  # other errors are raised: a key file that cannot be checked is named, not silently kept
    if not stat.S_ISREG(found.st_mode):
        return None
    return {
        "path": os.path.abspath(path),
        "dev": found.st_dev,
        "ino": found.st_ino,
        "size": found.st_size,
        "mtime_ns": found.st_mtime_ns,
    }
