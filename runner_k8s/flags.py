"""The command line's values: flag types, the flags every script shares, and how passwords are read."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path

from runner_k8s.errors import InputError, UsageError
from runner_k8s.runtime import Runtime

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})
ASCII_DIGITS = re.compile(r"[0-9]+")
U64_MAX = 2**64 - 1
SHIPPED_DIR = Path(__file__).resolve().parent  # the package: installed or in the repository
SERVICE_CONFIG_NAME = "service-config.toml"
STDIN_NAME = "-"


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
    value = ask(runtime, f"{prompt}: ", flag)
    if confirm and ask(runtime, f"{prompt} (again): ", flag) != value:
        raise UsageError(f"the two {prompt}s you typed differ; run again")
    return value


def ask(runtime: Runtime, prompt: str, flag: str) -> str:
    """One password typed at the terminal; Ctrl-D (end of input) is a usage error, not a traceback."""
    try:
        return runtime.ask_secret(prompt)
    except EOFError:
        raise UsageError(
            f"no password was typed for {flag} (end of input, Ctrl-D); run again and type it, or give {flag}_file FILE"
        ) from None


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
    return [ask(runtime, f"{prompt}: ", flag) for prompt in prompts]


def parse_bool(text: str) -> bool:
    """Read true/false/yes/no/1/0/on/off in any case."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean: use true or false")


def add_bool_flag(parser: argparse.ArgumentParser, name: str, *, default: bool, help: str, unset: bool = False) -> None:
    """A boolean flag: `--name`, `--name true` and `--name no` all work.

    With `unset`, a flag not given is None (so a release that refuses it can tell), and `default` is its value.
    """
    parser.add_argument(
        name,
        type=parse_bool,
        nargs="?",
        const=True,
        default=None if unset else default,
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


def add_version_flag(parser: argparse.ArgumentParser) -> None:
    """--version: the program and runner_k8s's version."""
    from runner_k8s import __version__  # noqa: PLC0415 - the package's own attribute

    parser.add_argument("--version", action="version", version=f"%(prog)s (runner_k8s) {__version__}")
