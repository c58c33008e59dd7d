"""One writer per work dir: the work dir made if need be, opened and flocked within a bounded wait."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import RunnerError
from .plan import PUBLIC_DIR

LOCK_POLL_SECONDS = 0.05


def lock(work_dir: Path, *, create: bool, wait: float) -> tuple[int | None, list[Path]]:
    """Open and flock work_dir (made if `create`); the fd (None if busy after `wait`) and the dirs made."""
    deadline = time.monotonic() + wait
    created: list[Path] = []
    try:
        while True:
            if create:
                created += make_dirs(work_dir)
            fd = os.open(work_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                if not _flock(fd, deadline):
                    if not create:
                        os.close(fd)
                        return None, []
                    raise RunnerError(
                        f"another run is writing in {work_dir}: waited {wait:g} s for it to finish; "
                        "run again once it has finished"
                    )
                # The run we waited for may have removed the directory (and another made it again).
                opened = os.fstat(fd)
                with contextlib.suppress(FileNotFoundError):
                    current = os.stat(work_dir)
                    if (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino):
                        return fd, created
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
            if not create:
                return None, []
    except BaseException:
        remove_empty_dirs(created)
        raise


def _flock(fd: int, deadline: float) -> bool:
    """Take the lock on fd, polling until the deadline; False if another process still holds it."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(LOCK_POLL_SECONDS)


def make_dirs(path: Path) -> list[Path]:
    """Create `path` and its missing parents; return the ones created (outermost first)."""
    made: list[Path] = []
    missing = []
    for directory in [path, *path.parents]:
        if os.path.isdir(directory):
            break
        missing.append(directory)
    try:
        for directory in reversed(missing):
            try:
                os.mkdir(directory, PUBLIC_DIR)
            except FileExistsError:
                continue
            made.append(directory)
    except BaseException:
        remove_empty_dirs(made)
        raise
    return made


def remove_empty_dirs(directories: Sequence[Path]) -> None:
    """Remove the folders a run made, innermost first, where they are still empty."""
    for directory in reversed(directories):
        with contextlib.suppress(OSError):
            os.rmdir(directory)
