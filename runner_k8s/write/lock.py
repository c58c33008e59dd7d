"""One writer per work dir: the work dir made if need be, opened and flocked within a bounded wait."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Sequence
from pathlib import Path

from runner_k8s.errors import RunnerError
from runner_k8s.plan import PUBLIC_DIR

LOCK_POLL_SECONDS = 0.05
WORK_DIR_FLAG = "--work_dir"


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


def write_error(exc: OSError, work_dir: Path, flag: str) -> RunnerError:
    """A failed write as one line: what could not be written, why, and that nothing was."""
    where = exc.filename or work_dir
    if exc.errno == errno.EXDEV:
        return RunnerError(
            f"cannot move into {exc.filename2 or where}: it is on another filesystem than {work_dir}, so the "
            f"outputs cannot change in one step; nothing was written: choose a {flag} on the filesystem "
            "that holds cita-cloud/ (it may not be a mount point of its own)"
        )
    return RunnerError(f"cannot write {where}: {exc.strerror}; nothing was written, choose a writable {flag}")


def check_output_dir(work_dir: Path, flag: str = WORK_DIR_FLAG) -> None:
    """The output folder, or the nearest folder above it that exists, must be a folder (the run makes the rest)."""
    for path in (work_dir, *work_dir.parents):
        if os.path.lexists(path):
            if not os.path.isdir(path):
                raise write_error(OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)), work_dir, flag)
            return


def check_writable(work_dir: Path, flag: str = WORK_DIR_FLAG) -> None:
    """What a real run needs of its output folder, checked without writing: a dry run fails where it would."""
    check_output_dir(work_dir, flag)
    target = next(path for path in (work_dir, *work_dir.parents) if os.path.isdir(path))
    if os.access(target, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        return
    code = errno.EROFS if os.statvfs(target).f_flag & os.ST_RDONLY else errno.EACCES
    raise write_error(OSError(code, os.strerror(code), str(target)), work_dir, flag)
