"""Bounded reads of the files users hand us: an endless or huge input ends in one clear error."""

from __future__ import annotations

from pathlib import Path

from runner_k8s.errors import InputError


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, at most `limit` of them (/dev/zero or a huge file is refused, not read)."""
    with open(path, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{what} {path} is larger than {limit} bytes; is it the right file?")
    return data
