"""Bounded reads of the files users hand us: an endless or huge input ends in one clear error."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from runner_k8s.errors import InputError


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, at most `limit` of them (/dev/zero or a huge file is refused, not read)."""
    with open(path, "rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{what} {path} is larger than {limit} bytes; is it the right file?")
    return data


SERVICE_CONFIG_MAX_BYTES = 1 << 20


def load_service_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML of a service config file; every way it can fail is one InputError naming the fix."""
    return load_service_text(path)[1]


def load_service_text(path: Path) -> tuple[str, dict[str, Any]]:
    """A service config file's text and its parsed TOML (the text names lines in messages)."""
    where = str(path)
    try:
        text = read_bounded(path, SERVICE_CONFIG_MAX_BYTES, "service config").decode("utf-8")
        return text, tomllib.loads(text)
    except FileNotFoundError:
        raise InputError(f"service config {where} does not exist; pass --service_config with the right path") from None
    except OSError as exc:
        raise InputError(f"cannot read service config {where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"service config {where} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"service config {where} is not valid TOML: {exc}; fix that line") from None
    except RecursionError:
        raise InputError(f"service config {where} nests tables or arrays too deeply; is it the right file?") from None
