"""Shared command-line pieces: flag types, the parser class, and the one place errors are printed."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TextIO

from . import files
from .errors import ExitCode, InputError, RunnerError, Stopped, UsageError

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})
ASCII_DIGITS = re.compile(r"[0-9]+")
U64_MAX = 2**64 - 1
SHIPPED_DIR = Path(__file__).resolve().parent  # the package: installed or in the repository
SERVICE_CONFIG_NAME = "service-config.toml"
# Flags whose value is a password (or a list of them): never repeated in an error message.
SECRET_FLAGS = ("--kms_password", "--kms_passwords", "--state_db_password", "--admin_password")
STDIN_NAME = "-"
HIDDEN = "***"
FLAG_TOKEN = re.compile(r"--?[A-Za-z][-A-Za-z0-9_]*")


def _getpass(prompt: str) -> str:
    import getpass  # noqa: PLC0415 - only a prompt needs it

    return getpass.getpass(prompt)


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


def _is_secret_flag(token: str) -> bool:
    """`--kms_password` and the abbreviations argparse accepts for it (`--kms_pass`)."""
    flag = token.split("=", 1)[0]
    return len(flag) > len("--k") and any(secret.startswith(flag) for secret in SECRET_FLAGS)


def secret_values(argv: Sequence[str]) -> list[str]:
    """Every value given to a password flag in argv, and each item of a comma-separated one."""
    found: list[str] = []
    for position, token in enumerate(argv):
        if not token.startswith("--") or not _is_secret_flag(token):
            continue
        if "=" in token:
            found.append(token.split("=", 1)[1])
        elif position + 1 < len(argv):
            found.append(argv[position + 1])
    found += [item for value in list(found) for item in value.split(",")]
    return sorted({value for value in found if value}, key=len, reverse=True)


def scrub(message: str, argv: Sequence[str]) -> str:
    """An argparse message without any value that may be a password.

    "unrecognized arguments" lists the words of an unquoted password with spaces, so of those only
    flag-like words are repeated.
    """
    prefix = "unrecognized arguments: "
    if message.startswith(prefix):
        flags = [word.split("=", 1)[0] for word in message[len(prefix) :].split(" ")]
        shown = " ".join(flag if FLAG_TOKEN.fullmatch(flag) else HIDDEN for flag in flags)
        message = f"{prefix}{shown} (values are not repeated, they may be a password; quote a value with spaces)"
    for value in secret_values(argv):
        message = message.replace(value, HIDDEN)
    return message


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors become UsageError (one line, no usage dump, no password)."""

    _argv: Sequence[str] = ()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Remember argv, so that error() can leave out what was given to a password flag."""
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting."""
        raise UsageError(f"{scrub(message, self._argv)} (see {self.prog} --help)")


def add_password_flag(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    help: str,
    file_help: str,
    value_type: Callable[[str], object] = str,
) -> None:
    """`--flag VALUE` or `--flag_file FILE` (`-` = standard input), never both."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(flag, type=value_type, default=None, metavar="PASSWORD", help=help)
    group.add_argument(f"{flag}_file", default=None, metavar="FILE", help=f"{file_help} ('-' reads standard input)")


def read_secret_file(name: str, flag: str, runtime: Runtime) -> str:
    """The text of a password file (or standard input for `-`), without its final line break."""
    try:
        text = runtime.stdin.read() if name == STDIN_NAME else Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{flag}_file {name} does not exist; give the path of the file holding the password") from None
    except OSError as exc:
        raise InputError(f"cannot read {flag}_file {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{flag}_file {name} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        if name == STDIN_NAME:
            raise InputError(f"{flag}_file -: standard input is empty; pipe the password into it")
        raise InputError(f"{flag}_file {name} is empty; write the password into it")
    return text


def password_from(
    args: argparse.Namespace, flag: str, runtime: Runtime, *, prompt: str | None, confirm: bool = False
) -> str | None:
    """A password from its flag, its file, or the terminal (asked without echo); None if not given and not asked."""
    dest = flag.lstrip("-")
    value: str | None = getattr(args, dest)
    if value is not None:
        return value
    file_name: str | None = getattr(args, f"{dest}_file")
    if file_name is not None:
        return read_secret_file(file_name, flag, runtime)
    if prompt is None:
        return None
    if not runtime.interactive():
        raise UsageError(
            f"{flag} is required: give {flag}, or {flag}_file FILE ('-' reads standard input), "
            "or run on a terminal to be asked for it"
        )
    value = runtime.ask_secret(f"{prompt}: ")
    if confirm and runtime.ask_secret(f"{prompt} (again): ") != value:
        raise UsageError(f"the two {prompt}s you typed differ; run again")
    return value


def password_list_from(args: argparse.Namespace, flag: str, runtime: Runtime, *, prompts: Sequence[str]) -> list[str]:
    """A list of passwords: comma-separated in the flag, one per line in its file, or asked one by one."""
    dest = flag.lstrip("-")
    value: list[str] | None = getattr(args, dest)
    if value is not None:
        return value
    file_name: str | None = getattr(args, f"{dest}_file")
    if file_name is not None:
        return read_secret_file(file_name, flag, runtime).split("\n")
    if not runtime.interactive():
        raise UsageError(
            f"{flag} is required: give {flag}, or {flag}_file FILE with one password per line "
            "('-' reads standard input), or run on a terminal to be asked for them"
        )
    return [runtime.ask_secret(f"{prompt}: ") for prompt in prompts]


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


def comma_list(text: str, *, strip: bool = True) -> list[str]:
    """Split a comma-separated list; every item must be non-empty."""
    items = [item.strip() if strip else item for item in text.split(",")]
    for number, item in enumerate(items):
        if not item:
            # The list may hold passwords: name the position, never echo the value.
            raise argparse.ArgumentTypeError(
                f"entry {number} of the list is empty (entries count from 0, like nodes): "
                "separate values with single commas"
            )
    return items


def exact_comma_list(text: str) -> list[str]:
    """A comma-separated list whose items are kept exactly (passwords: a space is part of one)."""
    return comma_list(text, strip=False)


def whole_number(text: str, *, low: int = 0, high: int = U64_MAX) -> int:
    """ASCII digits only (no sign, `_`, spaces or Unicode digits such as `²`), from low to high."""
    if not ASCII_DIGITS.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: use the digits 0-9 only")
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(high)) or int(digits) > high:
        raise argparse.ArgumentTypeError(f"{text!r} is too large: the most it can be is {high}")
    if int(digits) < low:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least {low}")
    return int(digits)


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return whole_number(text, low=1)


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    if text.startswith("-") and ASCII_DIGITS.fullmatch(text[1:]):
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return whole_number(text)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """A flag type: a whole number from low to high (a negative one is named as such)."""

    def parse(text: str) -> int:
        if text.startswith("-") and ASCII_DIGITS.fullmatch(text[1:]):
            raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
        return whole_number(text, low=low, high=high)

    return parse


def default_service_config() -> Path:
    """service-config.toml in the current directory, else the one shipped with the scripts."""
    local = Path(SERVICE_CONFIG_NAME)
    return local if local.exists() else SHIPPED_DIR / SERVICE_CONFIG_NAME


def shown_path(work_dir: Path, relative: str) -> str:
    """An output's path as the user can paste it from the directory they ran the script in."""
    return relative if work_dir == Path(".") else str(work_dir / relative)


def shell_quote(text: str) -> str:
    """One shell word (paths in the printed next steps can hold spaces)."""
    return shlex.quote(text)


def add_service_config_flag(parser: argparse.ArgumentParser) -> None:
    """The --service_config flag shared by create_account.py and create_k8s_config.py."""
    parser.add_argument(
        "--service_config",
        type=Path,
        default=None,
        help=f"Config file about service information (default: ./{SERVICE_CONFIG_NAME} if present, "
        "else the one shipped with runner_k8s).",
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
    """Parse argv, run the handler, and turn every RunnerError or stop signal into one line on stderr."""
    runtime = runtime or Runtime()
    prog = parser.prog
    files.take_notes()  # a run prints only its own notes
    with files.stop_signals():
        try:
            args = parser.parse_args(respell_argv(parser, sys.argv[1:] if argv is None else argv))
            try:
                _recover(prog, args)
                handler(args, runtime)
            finally:
                for note in files.take_notes():
                    _complain(f"{prog}: note: {note}")
            runtime.flush()
        except RunnerError as exc:
            _complain(f"{prog}: error: {_one_line(str(exc))}")
            return int(exc.exit_code)
        except Stopped as exc:
            what = signal.Signals(exc.signum).name
            if exc.complete:
                _complain(f"{prog}: stopped by {what} after the outputs were complete; they are all in place")
            else:
                _complain(f"{prog}: stopped by {what}; no partial output was left behind")
            return exc.exit_code
        except KeyboardInterrupt:
            _complain(f"{prog}: interrupted; no partial output was left behind")
            return int(ExitCode.INTERRUPTED)
        except SummaryLost as lost:
            # Our summary could not be printed (`| head`, a full disk): the outputs are complete.
            _silence_stdout(runtime)
            if lost.error.errno == errno.EPIPE:
                return int(ExitCode.OK)
            _complain(
                f"{prog}: error: the outputs are complete, but the summary could not be printed: {lost.error.strerror}"
            )
            return int(ExitCode.ERROR)
    return int(ExitCode.OK)


def _recover(prog: str, args: argparse.Namespace) -> None:
    """Finish or undo what a killed run left in this run's output folder, before anything else."""
    flag = "--work_dir" if getattr(args, "work_dir", None) is not None else "--output_dir"
    folder = getattr(args, flag[2:], None)
    if not isinstance(folder, Path):
        return
    if getattr(args, "dry_run", False):  # writes nothing, not even a repair: it says one is due
        if os.path.lexists(folder / files.WORK_AREA):
            _complain(f"{prog}: note: a stopped run left {folder / files.WORK_AREA}; the next real run repairs it")
        return
    note = files.recover(folder, flag)
    if note:
        _complain(f"{prog}: note: {note}")


def _complain(line: str) -> None:
    """One line on stderr; a closed or full stderr is no reason for a traceback."""
    if sys.stderr is None:
        return
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _silence_stdout(runtime: Runtime) -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail again."""
    stream = runtime.stdout
    if stream is None or stream is not sys.stdout:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def add_output_flags(parser: argparse.ArgumentParser, *, dry_run: bool = True) -> None:
    """--dry_run (check and show the plan, write nothing) and --json (the summary for scripts)."""
    if dry_run:
        parser.add_argument(
            "--dry_run",
            action="store_true",
            help="Check every input and print what would be written (files, Kubernetes objects, ports), "
            "then stop: nothing is written.",
        )
    parser.add_argument(
        "--json",
        action="store_true",
        help="Print the summary as one JSON document on stdout (never a password or a private key).",
    )


def respell_argv(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """Accept `--kms-password` as `--kms_password`; stop at an unknown flag or subcommand with a suggestion."""
    spelled: list[str] = []
    expects_value = False
    for position, token in enumerate(argv):
        if token == "--":
            return spelled + list(argv[position:])
        if expects_value:
            spelled.append(token)
            expects_value = False
            continue
        if token.startswith("--") and len(token) > 2:
            name, equals, value = token.partition("=")
            _check_subcommand_given(parser, name)
            action = _flag_action(parser, name)
            spelled.append(action.option_strings[0] + equals + value if name != action.option_strings[0] else token)
            # The next token is this flag's value even if it looks like a flag (argparse decides then).
            expects_value = not equals and action.nargs is None
            continue
        commands = _subcommands(parser)
        if commands and not token.startswith("-"):
            command = token if token in commands else token.replace("-", "_")
            if command not in commands:
                raise UsageError(
                    f"unknown subcommand {token!r}{did_you_mean(command, commands)} "
                    f"(the subcommands are {', '.join(commands)}; see {parser.prog} --help)"
                )
            return [*spelled, command, *respell_argv(commands[command], argv[position + 1 :])]
        spelled.append(token)
    return spelled


def _check_subcommand_given(parser: argparse.ArgumentParser, name: str) -> None:
    """A subcommand's flag before any subcommand: name the missing subcommand, not an 'unknown flag'."""
    commands = _subcommands(parser)
    if not commands or name in parser._option_string_actions:
        return
    underscored = "--" + name[2:].replace("-", "_")
    owners = [command for command, sub in commands.items() if underscored in sub._option_string_actions]
    if owners:
        raise UsageError(
            f"{name} needs a subcommand before it: {parser.prog} {' or '.join(owners)} {name} ... "
            f"(see {parser.prog} --help)"
        )


def add_version_flag(parser: argparse.ArgumentParser) -> None:
    """--version: the program and runner_k8s's version."""
    from . import __version__  # noqa: PLC0415 - the package's own attribute

    parser.add_argument("--version", action="version", version=f"%(prog)s (runner_k8s) {__version__}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean X?` for the closest choice, or nothing."""
    import difflib  # noqa: PLC0415 - only a mistyped command line needs it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _flag_action(parser: argparse.ArgumentParser, name: str) -> argparse.Action:
    """The action a `--flag` names: exactly, with `-` for `_`, or by a unique prefix (as argparse allows)."""
    actions = parser._option_string_actions
    underscored = "--" + name[2:].replace("-", "_")
    for candidate in (name, underscored):
        if candidate in actions:
            return actions[candidate]
    long_flags = sorted(flag for flag in actions if flag.startswith("--"))
    matches = {actions[flag] for flag in long_flags if flag.startswith(underscored)} if parser.allow_abbrev else set()
    if len(matches) == 1:
        return matches.pop()
    if matches:
        options = ", ".join(flag for flag in long_flags if flag.startswith(underscored))
        raise UsageError(f"{name} is ambiguous: it could be {options} (see {parser.prog} --help)")
    raise UsageError(f"unknown flag {name}{did_you_mean(underscored, long_flags)} (see {parser.prog} --help)")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def dispatch(args: argparse.Namespace, runtime: Runtime) -> None:
    """Run the handler a subcommand's parser set with `set_defaults(handler=...)`."""
    args.handler(args, runtime)


def _one_line(message: str) -> str:
    return " ".join(message.split())
