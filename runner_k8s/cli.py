"""Shared command-line pieces: flag types, the parser class, and the one place errors are printed."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NoReturn

from runner_k8s.errors import ExitCode, RunnerError, Stopped, UsageError
from runner_k8s.runtime import Runtime, SummaryLost
from runner_k8s.write import files

# Flags whose value is a password (or a list of them): never repeated in an error message.
SECRET_FLAGS = ("--kms_password", "--kms_passwords", "--state_db_password", "--admin_password")
HIDDEN = "***"
FLAG_TOKEN = re.compile(r"--?[A-Za-z][-A-Za-z0-9_]*")


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


def scrub(message: str, argv: Sequence[str], *, secrets: bool = True) -> str:
    """An argparse message without any value that may be a password.

    "unrecognized arguments" lists the words of an unquoted password with spaces, so of those only
    flag-like words are repeated; a script that takes no password (`secrets` False) repeats them all.
    """
    prefix = "unrecognized arguments: "
    if message.startswith(prefix) and not secrets:
        return message
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
        raise UsageError(f"{scrub(message, self._argv, secrets=takes_secrets(self))} (see {self.prog} --help)")


def takes_secrets(parser: argparse.ArgumentParser) -> bool:
    """Whether the parser, or one of its subcommands, has a password flag."""
    flags = {flag for action in parser._actions for flag in action.option_strings}
    return bool(flags & set(SECRET_FLAGS)) or any(takes_secrets(sub) for sub in _subcommands(parser).values())


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


def respell_argv(
    parser: argparse.ArgumentParser, argv: Sequence[str], siblings: dict[str, argparse.ArgumentParser] | None = None
) -> list[str]:
    """Accept `--kms-password` as `--kms_password`; stop at an unknown flag or subcommand with a suggestion.

    `siblings` are the other subcommands of the same script: a flag of one of them is named as theirs.
    """
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
            action = _flag_action(parser, name, siblings or {})
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
            others = {other: sub for other, sub in commands.items() if other != command}
            return [*spelled, command, *respell_argv(commands[command], argv[position + 1 :], others)]
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
        spelled = owners[0] if len(owners) == 1 else "{" + ",".join(owners) + "}"
        raise UsageError(
            f"{name} needs a subcommand before it: {parser.prog} {spelled} {name} ... (see {parser.prog} --help)"
        )


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean X?` for the closest choice, or nothing."""
    import difflib  # noqa: PLC0415 - only a mistyped command line needs it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _flag_action(
    parser: argparse.ArgumentParser, name: str, siblings: dict[str, argparse.ArgumentParser]
) -> argparse.Action:
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
    owners = [other for other, sub in siblings.items() if underscored in sub._option_string_actions]
    if owners:
        raise UsageError(
            f"{name} is a flag of {' and '.join(owners)}, not of {parser.prog.rsplit(' ', 1)[-1]} (see {parser.prog} "
            "--help)"
        )
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
