"""The one error family: library code raises these, only the CLI layer prints them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of every script."""

    OK = 0
    ERROR = 1
    USAGE = 2
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143


class RunnerError(Exception):
    """Base class: a problem the user can fix; the message says what and how."""

    exit_code: ExitCode = ExitCode.ERROR


class UsageError(RunnerError):
    """A flag value or a list given on the command line is invalid."""

    exit_code = ExitCode.USAGE


class InputError(RunnerError):
    """An input file (service config, key file, account folder) is missing or invalid."""


class OutputExistsError(RunnerError):
    """An output would replace something that already exists."""


class CheckError(RunnerError):
    """A material check failed (wrong password, key not matching its certificate...)."""


class Stopped(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived; `complete` says whether the outputs were already in place."""

    def __init__(self, signum: int, *, complete: bool = False) -> None:
        super().__init__(signum)
        self.signum = signum
        self.complete = complete

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process a signal ended."""
        return 128 + self.signum


class Interrupted(RunnerError):
    """A stop signal ended a wait after something was already sent: the message says what may still happen."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = ExitCode(exit_code)  # 128 + the signal, as for any stopped run
