"""Shared command-line pieces: flag types, the parser class, and the one place errors are printed."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TextIO

from .errors import ExitCode, RunnerError, UsageError

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})
SHIPPED_DIR = Path(__file__).resolve().parent.parent
SERVICE_CONFIG_NAME = "service-config.toml"


@dataclass(frozen=True)
class Runtime:
    """What a run takes from the outside world: a clock, a random source and a stdout."""

    clock: Callable[[], float] = time.time
    randbytes: Callable[[int], bytes] = secrets.token_bytes
    stdout: TextIO = field(default_factory=lambda: sys.stdout)

    def say(self, line: str = "") -> None:
        """Print one line of the summary."""
        print(line, file=self.stdout)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors become UsageError (one line, no usage dump)."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting."""
        raise UsageError(f"{message} (see {self.prog} --help)")


def parse_bool(text: str) -> bool:
    """Read true/false/yes/no/1/0/on/off in any case."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean: use true or false")


def add_bool_flag(parser: argparse.ArgumentParser, name: str, *, default: bool, help: str) -> None:
    """A boolean flag: `--name`, `--name true` and `--name no` all work."""
    parser.add_argument(
        name,
        type=parse_bool,
        nargs="?",
        const=True,
        default=default,
        metavar="BOOL",
        help=f"{help} (true/false; a bare {name} means true; default {str(default).lower()})",
    )


def comma_list(text: str) -> list[str]:
    """Split a comma-separated list; every item must be non-empty."""
    items = [item.strip() for item in text.split(",")]
    for number, item in enumerate(items, start=1):
        if not item:
            # The list may hold passwords: name the position, never echo the value.
            raise argparse.ArgumentTypeError(f"item {number} of the list is empty: separate values with single commas")
    return items


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def default_service_config() -> Path:
    """service-config.toml in the current directory, else the one shipped with the scripts."""
    local = Path(SERVICE_CONFIG_NAME)
    return local if local.exists() else SHIPPED_DIR / SERVICE_CONFIG_NAME


def add_service_config_flag(parser: argparse.ArgumentParser) -> None:
    """The --service_config flag shared by create_account.py and create_k8s_config.py."""
    parser.add_argument(
        "--service_config",
        type=Path,
        default=None,
        help=f"Config file about service information (default: ./{SERVICE_CONFIG_NAME} if present, "
        "else the one shipped beside the scripts).",
    )


def add_work_dir_flag(parser: argparse.ArgumentParser, name: str = "--work_dir") -> None:
    """Where the outputs are written."""
    parser.add_argument(name, type=Path, default=Path("."), help="Directory the outputs are written to (default: .).")


def add_force_flag(parser: argparse.ArgumentParser) -> None:
    """--force: replace existing outputs."""
    parser.add_argument(
        "--force",
        action="store_true",
        help="Replace outputs that already exist (all of them together). Without it nothing is overwritten.",
    )


def run(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    handler: Callable[[argparse.Namespace, Runtime], None],
    runtime: Runtime | None = None,
) -> int:
    """Parse argv, run the handler, and turn every RunnerError into one line on stderr."""
    runtime = runtime or Runtime()
    try:
        args = parser.parse_args(argv)
        handler(args, runtime)
    except RunnerError as exc:
        print(f"{parser.prog}: error: {_one_line(str(exc))}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; no partial output was left behind", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader of our summary went away (`| head`): the outputs are complete; stay quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)
    return int(ExitCode.OK)


def dispatch(args: argparse.Namespace, runtime: Runtime) -> None:
    """Run the handler a subcommand's parser set with `set_defaults(handler=...)`."""
    args.handler(args, runtime)


def _one_line(message: str) -> str:
    return " ".join(message.split())
