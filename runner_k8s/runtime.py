"""What a run takes from the outside world: a clock, a random source, the terminal and the output streams."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


def _getpass(prompt: str) -> str:
    import getpass  # noqa: PLC0415 - only a prompt needs it

    try:
        return getpass.getpass(prompt)
    except EOFError:
        # Ctrl-D leaves the cursor after the prompt: end that line, so the error that follows has its own.
        with contextlib.suppress(OSError), open("/dev/tty", "w") as terminal:
            terminal.write("\n")
        raise


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@dataclass(frozen=True)
class Runtime:
    """What a run takes from the outside world: a clock, a random source, stdin/stdout and a terminal."""

    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic  # for deadlines: never jumps with the wall clock
    sleep: Callable[[float], None] = time.sleep
    randbytes: Callable[[int], bytes] = os.urandom  # what secrets.token_bytes returns
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    interactive: Callable[[], bool] = _stdin_is_terminal
    ask_secret: Callable[[str], str] = _getpass  # the terminal, without echo

    def say(self, line: str = "") -> None:
        """Print one line of the summary."""
        try:
            print(line, file=self.stdout)
        except OSError as exc:
            raise SummaryLost(exc) from exc

    def say_json(self, data: object) -> None:
        """Print the summary as one JSON document (for scripts)."""
        import json  # noqa: PLC0415 - only --json needs it

        self.say(json.dumps(data, indent=2))

    def flush(self) -> None:
        """Push the summary out before the run reports success."""
        try:
            if self.stdout is not None:
                self.stdout.flush()
        except OSError as exc:
            raise SummaryLost(exc) from exc

    def status_line(self, text: str, *, final: bool = False) -> None:
        """`text` rewritten in place on stderr when it is a terminal (what a wait is waiting for); else nothing."""
        if not _is_terminal(self.stderr):
            return
        with contextlib.suppress(OSError, ValueError):  # a closed or full stderr only loses the line
            self.stderr.write(f"\r\x1b[K{text}" + ("\n" if final else ""))
            self.stderr.flush()

    def progress(self, label: str, total: int) -> Progress:
        """A progress counter on stderr, shown only for large runs on a terminal."""
        shown = total >= PROGRESS_MIN_STEPS and _is_terminal(self.stderr)
        return Progress(self.stderr if shown else None, label, total)


class SummaryLost(Exception):
    """stdout failed (its reader went away, its disk is full) after the outputs were written."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


PROGRESS_MIN_STEPS = 50  # nodes: smaller chains finish before a counter is worth reading


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """`label 120/1000` rewritten in place on a terminal; silent when `stream` is None."""

    def __init__(self, stream: TextIO | None, label: str, total: int) -> None:
        self.stream, self.label, self.total = stream, label, total
        self.shown = -1

    def advance(self, done: int) -> None:
        """Report that `done` of `total` steps are finished (redrawn at most once per percent)."""
        if self.stream is None:
            return
        percent = done * 100 // max(self.total, 1)
        if percent != self.shown or done == self.total:
            self.shown = percent
            end = "\n" if done >= self.total else ""
            with contextlib.suppress(OSError, ValueError):  # a closed or full stderr only loses the counter
                self.stream.write(f"\r{self.label} {done}/{self.total}{end}")
                self.stream.flush()


def utc_now(runtime: Runtime) -> dt.datetime:
    """The runtime clock as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(runtime.clock(), tz=dt.UTC)
