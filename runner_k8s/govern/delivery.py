"""Deliver a planned change: send it, wait until every node applies it (and keeps making blocks), report it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from runner_k8s.errors import CheckError, ExitCode, Interrupted, RunnerError, Stopped
from runner_k8s.govern.chainview import every_node
from runner_k8s.govern.governance import Change, Options, Plan, plan_change
from runner_k8s.govern.instep import InStep
from runner_k8s.govern.rpc import Controller, NodeError, Rejected
from runner_k8s.govern.transactions import Lock, hex0x
from runner_k8s.keys.accounts import Account
from runner_k8s.releases.v6_7_4 import govrules
from runner_k8s.runtime import Runtime

POLL_SECONDS = 1.0
BLOCKS_AFTER_CHANGE = 2  # a validator change is proven by this many further blocks, the same on every node
REASON_HINTS = {
    "dup": "the same transaction is already waiting in the pool: an earlier run's change is still pending; "
    "wait, then run status",
    "Invalid pre_tx_hash": "another change of this lock was applied after the pre-check; run status and decide again",
    "forbidden": "the node does not take this signer as the admin; run status",
    **govrules.REASON_HINTS,
}


def send(plan: Plan, options: Options) -> str:
    """Send the transaction to the first node that takes it; a refusal is final (it is the chain's rule)."""
    unreachable = []
    for address in options.rpc:
        try:
            with Controller(address, options.rpc_timeout) as node:
                accepted = node.send_raw_transaction(plan.signed.raw)
        except Rejected as refusal:
            hint = next((text for reason, text in REASON_HINTS.items() if refusal.reason.startswith(reason)), "")
            raise CheckError(f"{refusal}{'; ' + hint if hint else ''}") from None
        except NodeError as error:
            unreachable.append(str(error))
            continue
        if accepted != plan.signed.tx_hash:
            raise CheckError(
                f"node {address} took the transaction as {hex0x(accepted)}, not {hex0x(plan.signed.tx_hash)}; "
                "it may not be a CITA-Cloud controller"
            )
        return address
    raise CheckError(f"no node took the transaction ({'; '.join(unreachable)}); nothing was sent")


@contextlib.contextmanager
def _controllers(addresses: Sequence[str], timeout: float) -> Iterator[dict[str, Controller]]:
    with contextlib.ExitStack() as stack:
        yield {address: stack.enter_context(Controller(address, timeout)) for address in addresses}


def _poll(
    what: str,
    options: Options,
    runtime: Runtime,
    step: Callable[[dict[str, Controller], dict[str, str]], bool],
) -> float:
    """Call `step` each second until it returns True; its `report` (node -> state) explains a time-out.

    The states are listed in --rpc order, whichever node answered first.
    """
    start = runtime.monotonic()
    report: dict[str, str] = {}
    with _controllers(options.rpc, options.rpc_timeout) as nodes:
        while True:
            if step(nodes, report):
                runtime.status_line(f"{what}: done in {runtime.monotonic() - start:.0f}s", final=True)
                return runtime.monotonic() - start
            elapsed = runtime.monotonic() - start
            if elapsed >= options.timeout:
                runtime.status_line("", final=False)
                listed = [address for address in options.rpc if address in report]
                listed += [key for key in report if key not in options.rpc]  # e.g. "in step"
                states = "; ".join(f"{key}: {report[key]}" for key in listed)
                raise CheckError(f"{what}: not done within {options.timeout:g}s ({states})")
            runtime.status_line(f"{what}: {elapsed:.0f}s of {options.timeout:g}s")
            runtime.sleep(POLL_SECONDS)


def value_text(value: object) -> str:
    """A governed value as the reports print it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, bytes):
        return hex0x(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(hex0x(item) for item in value) + "]"
    return str(value)


def wait_applied(plan: Plan, options: Options, runtime: Runtime) -> tuple[dict[str, int], float]:
    """Every node reports the lock's new pre-hash (= this transaction) and the new value; their heights then."""
    lock, signed = plan.change.lock, plan.signed
    applied: dict[str, int] = {}

    def step(nodes: dict[str, Controller], report: dict[str, str]) -> bool:
        for address, node in nodes.items():
            if address in applied:
                continue
            try:
                config, height = node.system_config(), node.block_number()
            except NodeError as error:
                report[address] = error.reason
                continue
            pre_hash = config.pre_hash(lock)
            if pre_hash == signed.tx_hash:
                applied[address] = height
                report[address] = f"applied by height {height}"
            elif pre_hash != signed.pre_tx_hash:
                raise CheckError(
                    f"node {address}: another transaction ({hex0x(pre_hash)}) changed {lock.label} first; "
                    f"{lock.label} is now {value_text(config.value(lock))}; run status and decide again"
                )
            else:
                report[address] = f"{lock.label} still {value_text(config.value(lock))} at height {height}"
        return len(applied) == len(nodes)

    seconds = _poll(
        f"waiting for {every_node(len(options.rpc))} to apply {signed.tx_hash.hex()[:12]}…", options, runtime, step
    )
    return applied, seconds


def wait_blocks_continue(plan: Plan, options: Options, runtime: Runtime) -> dict[str, object]:
    """After a validator change: BLOCKS_AFTER_CHANGE blocks more than any node has once all applied it, alike on all.

    The target is counted from the heights read now, not from those seen when each node applied the
    change: a node seen early may have gone on since, and a chain that stopped after that would pass.
    After add_validator every node must also have reached the highest height of the reading before
    (a second earlier): a new v5.0.0 voter whose controller is a sync cycle (12 s) behind cannot vote
    yet, though it has passed the target. With --in_step (options.in_step seconds) every node must also
    have kept up block by block for that long (govern/instep.py): once this returns, the new validator
    votes at once.
    """
    adding = plan.change.verb == "add_validator"
    heads: list[int] = []  # the highest height of each reading that every node answered
    target: list[int] = []  # set by the first round that reads every node
    found: dict[str, object] = {}
    steps = InStep(options.in_step) if adding and options.in_step > 0 else None

    def step(nodes: dict[str, Controller], report: dict[str, str]) -> bool:
        heights = {}
        for address, node in nodes.items():
            try:
                heights[address] = node.block_number()
            except NodeError as error:
                report[address] = error.reason
        answered = len(heights) == len(nodes)
        waiting = [] if steps is None else steps.look(runtime.monotonic(), heights, answered)
        if waiting:
            report["in step"] = waiting[0]
        if answered and not target:
            target.append(max(heights.values()) + BLOCKS_AFTER_CHANGE)
        goal = f" of {target[0]}" if target else ""
        report.update((address, f"height {height}{goal}") for address, height in heights.items())
        if answered:
            heads.append(max(heights.values()))
        if not answered or min(heights.values()) < target[0]:
            return False
        before = heads[-2]  # the reading that set the target came first
        behind = {address: height for address, height in heights.items() if height < before}
        if adding and behind:
            report.update((address, f"height {height}, behind {before}") for address, height in behind.items())
            return False
        if waiting:
            return False
        blocks = {address: node.block(target[0]) for address, node in nodes.items()}
        if len({block.hash for block in blocks.values()}) > 1:
            raise CheckError(
                f"after the change the nodes have different blocks at height {target[0]}: "
                + "; ".join(f"{address}: {hex0x(block.hash)}" for address, block in blocks.items())
            )
        block = next(iter(blocks.values()))
        found.update(height=target[0], hash=hex0x(block.hash), proposer=hex0x(block.proposer))
        return True

    _poll(f"waiting for {BLOCKS_AFTER_CHANGE} more blocks on every node", options, runtime, step)
    removed = plan.change.verb == "remove_validator" and plan.config.release != govrules.RELEASE
    if removed and found["proposer"] == hex0x(plan.change.address):
        plan.warnings.append(
            f"block {found['height']} was still made by the removed {hex0x(plan.change.address)}: it was leading "
            "when the change was applied and v5.0.0 does not step it down; restart its pod"
        )
    return found


def interrupted(plan: Plan, sent_to: str | None, stop: KeyboardInterrupt) -> Interrupted:
    """What to tell a user who stopped a run once the transaction was (or may have been) sent."""
    where = f"was sent to {sent_to}" if sent_to else "may have been sent (the run was stopped while sending it)"
    return Interrupted(
        f"stopped while waiting; transaction {hex0x(plan.signed.tx_hash)} {where} and may still be "
        "applied: check with manage_chain.py status",
        stop.exit_code if isinstance(stop, Stopped) else int(ExitCode.INTERRUPTED),
    )


# --- the verb and its report ---------------------------------------------------------------------------


def _json_value(value: object) -> object:
    if isinstance(value, bytes):
        return hex0x(value)
    if isinstance(value, tuple):
        return [hex0x(item) for item in value]
    return value


def render_change(report: dict[str, object]) -> list[str]:
    """The report of a change (or of its dry run) as lines of text."""
    transaction, checks, warnings = report["transaction"], report["checks"], report["warnings"]
    assert isinstance(transaction, dict) and isinstance(checks, list) and isinstance(warnings, list)
    lines = ["checks passed:", *(f"  - {check}" for check in checks)]
    lines += [f"warning: {warning}" for warning in warnings]
    lines.append(
        f"transaction: lock {transaction['lock_id']} ({transaction['lock']}), version {transaction['version']}"
    )
    lines += [f"  {name:<12}{transaction[name]}" for name in ("pre_tx_hash", "output", "tx_hash", "sender")]
    lock = Lock(transaction["lock_id"])
    change = f"{lock.label}: {report['before_text']} -> {report['after_text']}"
    if report["dry_run"]:
        return [*lines, f"would change {change}", "dry run: nothing was sent"]
    applied = report["applied_at"]
    assert isinstance(applied, dict)
    heights = ", ".join(f"{address} {height}" for address, height in applied.items())
    lines.append(f"sent to {report['sent_to']}")
    lines.append(f"applied on {every_node(len(applied))} after {report['seconds']} s (heights: {heights})")
    blocks = report.get("blocks_continue")
    if isinstance(blocks, dict):
        made = f"block {blocks['height']} {blocks['hash']} by {blocks['proposer']}"
        lines.append(f"blocks continue: {made}, the same on every node")
    return [*lines, f"changed {change}"]


def govern(
    change: Change, options: Options, signer: Account, runtime: Runtime, *, dry_run: bool, as_json: bool
) -> None:
    """Check, sign and (unless dry_run) send one change, wait until every node applies it, print the report."""
    try:
        plan = plan_change(change, options, signer, runtime)
    except RunnerError as exc:
        raise CheckError(f"{exc}; nothing was sent") from None
    lock = change.lock
    before = plan.config.value(lock)
    report: dict[str, object] = {
        "command": change.verb,
        "dry_run": dry_run,
        "nodes": list(options.rpc),
        "chain_id": hex0x(plan.config.chain_id),
        "checks": plan.checks,
        "warnings": plan.warnings,
        "transaction": plan.signed.describe(),
        "before": _json_value(before),
        "after": _json_value(plan.after),
    }
    if not dry_run:
        try:
            sent_to = send(plan, options)
        except KeyboardInterrupt as stop:
            raise interrupted(plan, None, stop) from None
        report["sent_to"] = sent_to
        try:
            applied, seconds = wait_applied(plan, options, runtime)
            report["applied_at"] = applied
            report["seconds"] = round(seconds, 1)
            if lock is Lock.VALIDATORS:
                report["blocks_continue"] = wait_blocks_continue(plan, options, runtime)
        except KeyboardInterrupt as stop:
            raise interrupted(plan, sent_to, stop) from None
        except RunnerError as exc:  # a time-out, another change first, a node gone: the transaction is out
            raise CheckError(f"{exc}; the transaction {hex0x(plan.signed.tx_hash)} was sent to {sent_to}") from None
    if as_json:
        runtime.say_json(report)
        return
    texts = {"before_text": value_text(before), "after_text": value_text(plan.after)}
    for line in render_change(report | texts):
        runtime.say(line)
