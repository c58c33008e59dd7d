"""Getting written files onto the disk: a folder's fsync, and a whole staged tree at once."""

from __future__ import annotations

import errno
import functools
import os
from pathlib import Path
from typing import Any


def sync_dir(path: Path) -> None:
    """Sync a directory (fsync), so the names in it are on the disk; a missing one is skipped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # some filesystems cannot sync a directory
            raise
    finally:
        os.close(fd)


def sync_tree(top: Path) -> None:
    """Get every staged file and folder onto the disk: one syncfs where Linux offers it, else fsyncs.

    Thousands of fsyncs would each wait for the disk; one syncfs of the filesystem waits once.
    """
    if syncfs(top):
        return
    for directory, _, names in os.walk(top, topdown=False):
        for name in names:
            fd = os.open(Path(directory) / name, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        sync_dir(Path(directory))


def syncfs(path: Path) -> bool:
    """Flush the filesystem holding path in one call (Linux syncfs); False where the C library lacks it."""
    libc = _libc()
    if libc is None:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bool(libc.syncfs(fd) == 0)
    finally:
        os.close(fd)


@functools.cache
def _libc() -> Any:
    try:
        import ctypes  # noqa: PLC0415 - only a writer needs it

        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs.argtypes = [ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None
