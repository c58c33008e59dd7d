"""Stop signals: SIGINT, SIGTERM and SIGHUP raise Stopped, held back while the writer commits."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from runner_k8s.errors import Stopped

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _SignalState:
    depth = 0
    pending: int | None = None


_SIGNALS = _SignalState()


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    if _SIGNALS.depth:
        _SIGNALS.pending = _SIGNALS.pending or signum
        return
    raise Stopped(signum)


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """While the run lasts, SIGINT, SIGTERM and SIGHUP raise Stopped (held back in the writer's last steps)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
            previous[signum] = signal.signal(signum, _on_stop_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _SIGNALS.pending = None


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Hold stop signals back until take_signal() (the writer's last steps must not be cut short)."""
    _SIGNALS.depth += 1
    try:
        yield
    finally:
        _SIGNALS.depth -= 1


def take_signal() -> int | None:
    """The stop signal held back since the last call, if any (then forgets it)."""
    pending, _SIGNALS.pending = _SIGNALS.pending, None
    return pending
