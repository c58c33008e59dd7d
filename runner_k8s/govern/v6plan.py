"""The checks particular to a v6.7.4 chain's changes: its validator entries, its leader, its block interval.

What differs from v5.0.0 (governance.py holds what does not): an overlord chain's validators are
48-byte BLS keys taken from the node's folder; removing raft's current leader is allowed, since
consensus_raft v6.7.4 hands leadership to another up-to-date validator before it leaves; overlord has
no fixed leader; the block interval is applied at run time from the next block.
"""

from __future__ import annotations

from runner_k8s.errors import CheckError
from runner_k8s.govern.chainview import Survey
from runner_k8s.govern.transactions import SystemConfig, hex0x
from runner_k8s.releases.v6_7_4 import govrules
from runner_k8s.releases.v6_7_4.accounts import Consensus

HEAD_LAG = 2  # blocks: a validator this close to the highest node is up to date


def consensus(config: SystemConfig) -> Consensus:
    """The consensus the chain runs, from its validators."""
    return govrules.consensus_of(config.validators)


def entry_for(config: SystemConfig, entry: bytes, node_dir_given: bool) -> bytes:
    """The validator entry of the node the operator named, checked against the chain's consensus."""
    kind = consensus(config)
    if kind is Consensus.OVERLORD and len(entry) == govrules.NODE_ADDRESS_BYTES:
        raise CheckError(
            f"this is an overlord chain: its validators are the nodes' BLS keys, not node addresses like "
            f"{hex0x(entry)}; give the node's folder with --node_dir (its validator_address holds the key)"
        )
    if kind is Consensus.RAFT and len(entry) != govrules.NODE_ADDRESS_BYTES:
        where = "--node_dir's validator_address" if node_dir_given else "the validator given"
        raise CheckError(
            f"this is a raft chain: its validators are 20-byte node addresses, but {where} is a BLS key "
            "(an overlord node's); give a node of this chain"
        )
    govrules.check_entry(entry, kind)
    return entry


def added(config: SystemConfig, entry: bytes, node_dir_given: bool, checks: list[str]) -> tuple[bytes, ...]:
    """The validator set with the new entry at the end."""
    entry = entry_for(config, entry, node_dir_given)
    if entry in config.validators:
        raise CheckError(f"{hex0x(entry)} is already a validator; nothing to change")
    what = "a BLS12-381 public key" if consensus(config) is Consensus.OVERLORD else "a node address"
    checks.append(f"{hex0x(entry)} is {what}, not a validator yet; it goes at the end of the list")
    return (*config.validators, entry)


def _leader_check(view: Survey, entry: bytes, new: tuple[bytes, ...], checks: list[str]) -> None:
    """Raft: removing the leader needs another validator at the head to hand the lead to."""
    top = max(view.answering, key=lambda node: node.height)
    assert top.latest is not None
    if top.latest.proposer != entry[: govrules.NODE_ADDRESS_BYTES]:
        checks.append(f"{hex0x(entry)} is not raft's leader (the latest block is by {hex0x(top.latest.proposer)})")
        return
    ready = [
        node.address
        for node in view.answering
        if node.status is not None and node.status.address in new and view.lag(node) <= HEAD_LAG
    ]
    if not ready:
        raise CheckError(
            f"{hex0x(entry)} is raft's leader and no other validator answers at the head (--rpc) to take the "
            "lead; consensus_raft would stop making blocks until one catches up: start one, then run again"
        )
    checks.append(
        f"{hex0x(entry)} is raft's leader: consensus_raft v6.7.4 hands the lead to an up-to-date validator "
        f"first ({', '.join(ready)} at the head)"
    )


def removed(
    config: SystemConfig, entry: bytes, node_dir_given: bool, view: Survey, checks: list[str]
) -> tuple[bytes, ...]:
    """The validator set without the entry; never empty; raft's leader only with another validator at the head."""
    entry = entry_for(config, entry, node_dir_given)
    if entry not in config.validators:
        raise CheckError(
            f"{hex0x(entry)} is not a validator (the validators are {', '.join(map(hex0x, config.validators))})"
        )
    if len(config.validators) == 1:
        raise CheckError(
            f"{hex0x(entry)} is the last validator: a chain without validators makes no more blocks; add another "
            "validator first"
        )
    new = tuple(validator for validator in config.validators if validator != entry)
    checks.append(f"{hex0x(entry)} is a validator and not the last one")
    if consensus(config) is Consensus.RAFT:
        _leader_check(view, entry, new, checks)
    else:
        checks.append("overlord has no fixed leader: the proposer rotates among the validators")
    return new


def tolerance(config: SystemConfig, count: int) -> tuple[int, int, str]:
    """(tolerated failures, validators needed, consensus name) of a set of `count` validators."""
    kind = consensus(config)
    return govrules.tolerated_failures(kind, count), govrules.needed(kind, count), kind.value


def block_interval(config: SystemConfig, seconds: int, yes: bool, checks: list[str], warnings: list[str]) -> bytes:
    """Lock 1003's output; the chain's pace changes from the block after the one that holds it."""
    output, warning = govrules.block_interval_output(config.block_interval, seconds, yes)
    if warning:
        warnings.append(warning)
    low, high = govrules.BLOCK_INTERVAL_MIN, govrules.BLOCK_INTERVAL_MAX
    checks.append(
        f"{seconds} s is within {low} to {high} s; v6.7.4 applies it at run time (now {config.block_interval} s)"
    )
    return output
