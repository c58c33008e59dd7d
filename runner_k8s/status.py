"""The status verb of manage_chain.py: one report, or one every few seconds until Ctrl-C."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from .chainview import render_status, status_json, survey
from .cli import Runtime
from .errors import CheckError
from .rpc import DEFAULT_TIMEOUT

CLEAR_SCREEN = "\x1b[H\x1b[2J"


def show_status(addresses: Sequence[str], runtime: Runtime, *, chain_name: str | None, as_json: bool) -> None:
    """Print the report; fail (exit 1, after the report) when a node does not answer or the nodes disagree."""
    view = survey(addresses, DEFAULT_TIMEOUT, chain_name)
    if as_json:
        runtime.say_json(status_json(view))
    else:
        for line in render_status(view):
            runtime.say(line)
    problems = view.problems()
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise CheckError(f"{count} on the chain: {problems[0]}{' (and more above)' if len(problems) > 1 else ''}")


def watch_status(
    addresses: Sequence[str], runtime: Runtime, *, chain_name: str | None, interval: float, as_json: bool
) -> None:
    """A fresh report every `interval` seconds until Ctrl-C, which ends the watch normally (exit 0)."""
    terminal = _is_terminal(runtime)
    try:
        while True:
            view = survey(addresses, DEFAULT_TIMEOUT, chain_name)
            now = dt.datetime.fromtimestamp(runtime.clock(), tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if as_json:
                runtime.say(json.dumps({"time": now, **status_json(view)}, separators=(",", ":")))
            else:
                header = f"{now} manage_chain.py status, every {interval:g} s; Ctrl-C ends it"
                lines = [header, *render_status(view)]
                if terminal:
                    lines[0] = CLEAR_SCREEN + lines[0]
                for line in [*lines, ""]:
                    runtime.say(line)
            runtime.flush()
            runtime.sleep(interval)
    except KeyboardInterrupt:
        return


def _is_terminal(runtime: Runtime) -> bool:
    try:
        return runtime.stdout.isatty()
    except (AttributeError, ValueError):
        return False
