"""The status verb of manage_chain.py: one report, or one every few seconds until Ctrl-C."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from runner_k8s.errors import CheckError
from runner_k8s.govern.chainview import Survey, render_status, status_json, survey
from runner_k8s.govern.instep import InStep
from runner_k8s.govern.rpc import DEFAULT_TIMEOUT
from runner_k8s.runtime import Runtime

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


def wait_synced(
    addresses: Sequence[str],
    runtime: Runtime,
    *,
    chain_name: str | None,
    timeout: float,
    interval: float,
    max_lag: int,
    as_json: bool,
    min_peers: int | None = None,
    in_step: float = 0.0,
) -> None:
    """Report once every node answers, they agree and none lags more than `max_lag` blocks (caught up).

    With `min_peers` (v6.7.4), also once every node lists at least that many peers in its GetNodeStatus.
    With `in_step` seconds, also once every node has kept up with the chain block by block for that long
    (runner_k8s/govern/instep.py: a v5.0.0 node taking blocks only from synced files is not in step).

    Asks again every `interval` seconds (a node not answering yet is waited for); CheckError, with what
    is still awaited, when that does not happen within `timeout` seconds.
    """
    start = runtime.monotonic()
    steps = InStep(in_step) if in_step > 0 else None
    while True:
        view = survey(addresses, DEFAULT_TIMEOUT, chain_name)
        behind = [
            f"{node.address} {view.lag(node)} blocks behind" for node in view.answering if view.lag(node) > max_lag
        ]
        waiting_for = view.problems() + behind + too_few_peers(view, min_peers)
        if steps is not None:
            heights = {node.address: node.height for node in view.answering}
            waiting_for += steps.look(runtime.monotonic(), heights, len(heights) == len(addresses))
        if not waiting_for:
            show_view(view, runtime, as_json)
            return
        elapsed = runtime.monotonic() - start
        if elapsed >= timeout:
            runtime.status_line("")
            show_view(view, runtime, as_json)
            raise CheckError(
                f"the nodes did not catch up within {timeout:g} s: {waiting_for[0]}"
                f"{' (and more above)' if len(waiting_for) > 1 else ''}"
            )
        runtime.status_line(f"{elapsed:.0f}s of {timeout:g}s, waiting: {waiting_for[0]}")
        runtime.sleep(interval)


def too_few_peers(view: Survey, min_peers: int | None) -> list[str]:
    """The nodes that list fewer than `min_peers` peers (CheckError at once on a v5.0.0 node, which lists none)."""
    if min_peers is None:
        return []
    waiting = []
    for node in view.answering:
        if node.status is None:
            raise CheckError(
                f"{node.address} runs CITA-Cloud {node.release}, which does not list its peers (GetNodeStatus is "
                "v6.7.4's); leave --peers out"
            )
        if len(node.status.peers) < min_peers:
            waiting.append(f"{node.address} lists {len(node.status.peers)} of {min_peers} peers")
    return waiting


def show_view(view: Survey, runtime: Runtime, as_json: bool) -> None:
    """One report, as text or JSON."""
    if as_json:
        runtime.say_json(status_json(view))
        return
    for line in render_status(view):
        runtime.say(line)


def _is_terminal(runtime: Runtime) -> bool:
    try:
        return runtime.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def validator_already(addresses: Sequence[str], validator: bytes, *, chain_name: str | None, present: bool) -> bool:
    """For --if_needed: every node answers, they agree, and `validator` is (present) or is not a validator.

    False otherwise: the change is then checked, and refused or sent, as without the flag.
    """
    view = survey(addresses, DEFAULT_TIMEOUT, chain_name)
    config = view.agreed_config()
    if config is None or view.problems():
        return False
    if any(len(entry) != len(validator) for entry in config.validators):
        return False  # a node address on an overlord chain (BLS keys): checked, and refused, as without the flag
    return (validator in config.validators) == present
