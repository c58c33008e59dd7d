"""The governance verbs of manage_chain.py: check a change against the running chain, sign it, send it, wait.

Nothing is sent unless every check passes: the admin's key opens and is the chain's admin, every
node answers and agrees, the chain is the admin's and of the admin folder's release, and the change
is one the chain's services apply without harm (transactions.py holds the rules for the outputs
themselves; v6plan.py the checks particular to v6.7.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runner_k8s.errors import CheckError
from runner_k8s.govern import v6plan
from runner_k8s.govern.adminkeys import admin_chain_name, new_admin_address
from runner_k8s.govern.chainview import CHAIN_ID_HASH, Survey, every_node, read_node, survey
from runner_k8s.govern.rpc import DEFAULT_TIMEOUT, Controller
from runner_k8s.govern.transactions import (
    ADDRESS_BYTES,
    V5,
    V6,
    Lock,
    SignedUtxo,
    SystemConfig,
    added_validators,
    admin_output,
    brake_output,
    build_utxo,
    hex0x,
    removed_validators,
    validators_output,
)
from runner_k8s.keys.accounts import Account
from runner_k8s.releases.v6_7_4 import govrules as v6rules
from runner_k8s.runtime import Runtime


@dataclass(frozen=True)
class Change:
    """What the operator asked for: a verb, the lock it uses, and its argument."""

    verb: str
    lock: Lock
    address: bytes = b""  # set_admin; add_validator, remove_validator: the validator entry (20 or 48 bytes)
    on: bool = False  # emergency_brake
    seconds: int = 0  # set_block_interval
    node_address: bytes = b""  # add_validator, remove_validator: the node's address (its --node_dir's)
    node_dir_given: bool = False


BLOCK_INTERVAL_REASON = (
    "set_block_interval is refused on v5.0.0: a running consensus_raft v5.0.0 never applies a new block interval "
    "(it reads the interval once, when its raft store is empty), so the chain would report one interval and keep "
    "another; choose it when the chain is made (create_k8s_config.py --block_interval), or run v6.7.4"
)


@dataclass(frozen=True)
class Options:
    """How to reach the chain and how careful to be."""

    rpc: tuple[str, ...]
    admin_dir: Path
    chain_name: str | None = None
    node_rpc: str | None = None
    new_admin_dir: Path | None = None
    yes: bool = False
    max_lag: int = 20
    timeout: float = 120.0
    rpc_timeout: float = DEFAULT_TIMEOUT
    in_step: float = 0.0  # add_validator: seconds every node must then keep up block by block (0: not asked)
    admin_release: str = V5  # the release of the --admin_dir account: kms.db (v5.0.0) or private_key (v6.7.4)


@dataclass
class Plan:
    """A checked, signed change and what it was checked against."""

    change: Change
    config: SystemConfig
    signed: SignedUtxo
    after: object
    checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- checks against the running chain ----------------------------------------------------------------


def tolerated_failures(validators: int) -> int:
    """How many validators raft can lose and still make blocks: a majority must remain."""
    return (validators - 1) // 2


def check_chain(options: Options, signer: Account, view: Survey, checks: list[str]) -> SystemConfig:
    """Every node answers and agrees, the chain is the admin's, and the signer is its admin."""
    problems = view.problems()
    if problems:
        raise CheckError("; ".join(problems))
    config = view.agreed_config()
    assert config is not None, "no problems means every node answered with the same config"
    block = f"block {hex0x(view.hashes_at_common[view.nodes[0].address])} at height {view.common_height}"
    if len(view.nodes) == 1:
        checks.append(f"the node answered, with {block}")
    else:
        checks.append(f"{every_node(len(view.nodes))} answered and agree on the system config and on {block}")
    if view.chain_name is not None:
        checks.append(
            f"the chain id is {CHAIN_ID_HASH[config.release]}({view.chain_name!r}) = {hex0x(config.chain_id)}"
        )
    else:
        checks.append("chain id not compared with a chain name (give --chain_name to compare it)")
    signer_address = bytes.fromhex(signer.address[2:])
    if signer_address != config.admin:
        raise CheckError(
            f"the signer {signer.address} (--admin_dir {options.admin_dir}) is not the chain's admin "
            f"{hex0x(config.admin)}; give the current admin's account folder"
        )
    checks.append(f"the signer {signer.address} is the chain's admin")
    return config


def _check_tolerance(
    config: SystemConfig, count: int, options: Options, plan_warnings: list[str], checks: list[str]
) -> None:
    if config.release == V6:
        tolerated, needed, kind = v6plan.tolerance(config, count)
    else:
        tolerated, needed, kind = tolerated_failures(count), count // 2 + 1, "raft"
    if tolerated >= 1:
        checks.append(f"{count} validators after the change: {kind} still makes blocks with {tolerated} of them down")
        return
    warning = (
        f"after this change the chain has {count} validator{'s' if count > 1 else ''}: {kind} needs {needed} of "
        f"them, so one node failure stops the chain"
    )
    if not options.yes:
        raise CheckError(f"{warning}; pass --yes to do it anyway")
    plan_warnings.append(warning)


def check_new_node(options: Options, view: Survey, checks: list[str], node_address: bytes = b"") -> None:
    """The node of a validator to add runs this chain and is caught up (its controller at --node_rpc)."""
    assert options.node_rpc is not None, "manage_chain.py add_validator requires --node_rpc"
    node = read_node(options.node_rpc, options.rpc_timeout)
    if not node.answered:
        raise CheckError(
            f"the new validator's node {options.node_rpc}: {node.error}; start it and let it catch up first"
        )
    assert node.config is not None, "a node that answered reported its system config"
    reference = view.agreed_config()
    assert reference is not None
    if node.config.chain_id != reference.chain_id:
        raise CheckError(
            f"the node at {options.node_rpc} runs chain {hex0x(node.config.chain_id)}, not this chain "
            f"{hex0x(reference.chain_id)}"
        )
    lag = view.top_height - node.height
    if lag > options.max_lag:
        raise CheckError(
            f"the new validator's node {options.node_rpc} is at height {node.height}, {lag} blocks behind the "
            f"chain's {view.top_height} (at most {options.max_lag} allowed, --max_lag); a validator that has not "
            "caught up cannot vote; wait until it has, then run again"
        )
    # The histories are compared at the highest block both have: a node ahead of the others is checked too.
    height = min(node.height, view.common_height)
    with Controller(view.nodes[0].address, options.rpc_timeout) as chain_node:
        ours = chain_node.block_hash(height)
    with Controller(options.node_rpc, options.rpc_timeout) as new_node:
        theirs = new_node.block_hash(height)
    if theirs != ours:
        raise CheckError(
            f"the node at {options.node_rpc} has block {hex0x(theirs)} at height {height}, the chain has "
            f"{hex0x(ours)}: it is on another history"
        )
    if node.status is not None and node_address and node.status.address != node_address:
        raise CheckError(
            f"the node at {options.node_rpc} is {hex0x(node.status.address)}, not {hex0x(node_address)}; give the "
            "RPC address of the new validator's own node"
        )
    checks.append(
        f"the new validator's node {options.node_rpc} runs this chain at height {node.height}, "
        f"{max(lag, 0)} blocks behind (at most {options.max_lag})"
    )


def _leader(view: Survey) -> bytes:
    """The proposer of the highest block any node reports: raft's leader when that block was made."""
    top = max(view.answering, key=lambda node: node.height)
    assert top.latest is not None
    return top.latest.proposer


def _check_new_admin(change: Change, options: Options, signer: Account, checks: list[str], warnings: list[str]) -> None:
    """The new admin's account exists (--new_admin_dir), is of the chain's kms flavour, or --yes says never mind."""
    if options.new_admin_dir is not None:
        found = new_admin_address(options.new_admin_dir, signer, options.admin_release)
        if found != hex0x(change.address):
            raise CheckError(
                f"--new_admin_dir {options.new_admin_dir} holds account {found}, not {hex0x(change.address)}"
            )
        checks.append(f"--new_admin_dir {options.new_admin_dir} holds {found}, an {signer.flavour.value} account")
        return
    warning = (
        f"only {hex0x(change.address)} can govern the chain after this; its account folder was not "
        "given (--new_admin_dir), so it is not known to exist"
    )
    if not options.yes:
        raise CheckError(f"{warning}; give --new_admin_dir DIR or pass --yes")
    warnings.append(warning)


def plan_output(
    change: Change,
    options: Options,
    signer: Account,
    view: Survey,
    checks: list[str],
    warnings: list[str],
) -> tuple[bytes, object]:
    """The lock's output for the change and the value it gives, after the checks particular to the verb."""
    config = view.agreed_config()
    assert config is not None
    if change.lock is Lock.ADMIN:
        output = admin_output(config, change.address)
        checks.append(f"{hex0x(change.address)} is 20 bytes and not the admin yet")
        _check_new_admin(change, options, signer, checks, warnings)
        return output, change.address
    if change.lock is Lock.EMERGENCY_BRAKE:
        output = brake_output(config, change.on)
        checks.append(f"the brake is {'off' if change.on else 'on'} now")
        if change.on:
            refusal = "EmergencyBrake" if config.release == V6 else "forbidden"
            warnings.append(
                f"with the brake on every node refuses ordinary transactions ({refusal!r}); those already in "
                "the pool are still packed. Only the admin's changes get through, including brake off"
            )
        return output, change.on
    if change.lock is Lock.BLOCK_INTERVAL:
        if config.release != V6:
            raise CheckError(BLOCK_INTERVAL_REASON)
        return v6plan.block_interval(config, change.seconds, options.yes, checks, warnings), change.seconds
    if config.release == V6:
        return _v6_validators(change, options, view, checks, warnings)
    if len(change.address) != ADDRESS_BYTES:
        raise CheckError("a v5.0.0 chain's validators are 20-byte node addresses, not BLS keys; give a node address")
    if change.verb == "add_validator":
        new = added_validators(config, change.address)
        checks.append(f"{hex0x(change.address)} is 20 bytes and not a validator yet")
        check_new_node(options, view, checks)
    else:
        new = removed_validators(config, change.address)
        checks.append(f"{hex0x(change.address)} is a validator and not the last one")
        leader = _leader(view)
        if leader == change.address:
            raise CheckError(
                f"{hex0x(change.address)} made the latest block: it is raft's leader, and a removed v5.0.0 leader "
                "does not step down, its consensus panics (raft-rs) and stays dead until its pod restarts; restart "
                "its pod so that another validator takes the lead, check with status, then run again"
            )
        checks.append(f"{hex0x(change.address)} is not raft's leader (the latest block is by {hex0x(leader)})")
    _check_tolerance(config, len(new), options, warnings, checks)
    output = validators_output(config.validators, new)
    checks.append(f"one membership change: {len(config.validators)} -> {len(new)} validators")
    return output, new


def _v6_validators(
    change: Change, options: Options, view: Survey, checks: list[str], warnings: list[str]
) -> tuple[bytes, object]:
    config = view.agreed_config()
    assert config is not None
    if change.verb == "add_validator":
        new = v6plan.added(config, change.address, change.node_dir_given, checks)
        check_new_node(options, view, checks, change.node_address)
    else:
        new = v6plan.removed(config, change.address, change.node_dir_given, view, checks)
    _check_tolerance(config, len(new), options, warnings, checks)
    output = v6rules.validators_output(config.validators, new)
    checks.append(f"one membership change: {len(config.validators)} -> {len(new)} validators")
    return output, new


def plan_change(change: Change, options: Options, signer: Account, runtime: Runtime) -> Plan:
    """Every check, then the signed transaction; raises with the first reason to refuse."""
    chain_name = options.chain_name or admin_chain_name(options.admin_dir)
    view = survey(options.rpc, options.rpc_timeout, chain_name)
    checks: list[str] = []
    if view.release and view.release != options.admin_release:
        kind = "a v6.7.4 account (private_key)" if options.admin_release == V6 else "a v5.0.0 account (kms.db)"
        raise CheckError(
            f"the chain at --rpc runs {view.release}, but --admin_dir {options.admin_dir} holds {kind}; give "
            f"the admin folder of this chain (<chain>-admin/)"
        )
    if chain_name is not None and options.chain_name is None and view.chain_id_problem():
        raise CheckError(
            f"{view.chain_id_problem()} (the name comes from --admin_dir {options.admin_dir}; give --chain_name "
            "if the folder was renamed)"
        )
    config = check_chain(options, signer, view, checks)
    warnings: list[str] = []
    output, after = plan_output(change, options, signer, view, checks, warnings)
    signed = build_utxo(config, change.lock, output, signer, runtime.randbytes)
    size = f"{len(output)} byte{'' if len(output) == 1 else 's'}"
    checks.append(f"output of {size} is valid for lock {int(change.lock)} ({change.lock.label})")
    return Plan(change, config, signed, after, checks, warnings)
