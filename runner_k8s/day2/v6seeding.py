"""add_node --seed_from I on a v6.7.4 local_cluster chain: the new node starts on a copy of node I's chain data.

What is chain data, from the v6.7.4 sources and cloud-op's backup (docs/adding-and-removing-nodes.md,
"Seeded join on v6.7.4"): in a node's working directory (its folder on the claim, mounted at /data)
the executor keeps `data/statedb` and `data/nosql` (its `db_path`), the storage service keeps
`chain_data/` (its `data_root`); the controller keeps nothing of its own. cloud-op's `backup` copies
exactly these three. Never copied: consensus's own state (overlord's `overlord_wal/`, raft's
`raft-data-dir/`: the seed's votes, locks, terms; cloud-op deletes exactly these as "consensus data"
when it rolls a node back), and the node's identity (node_address, validator_address, its key and
TLS files, which live in its Secrets, and its config). The new node keeps its own; its consensus
starts empty and follows the chain from the seeded height.

The plan stops node I (its StatefulSet to 0 replicas, so every container stops and closes its
databases), copies on the storage host into a staging folder and moves it into place (owned by the
images' user), marks the new folder seeded, starts node I again and waits until every node agrees
and lists all the others as peers, then goes on as the plain plan does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.memberplan import CAUGHT_UP_TIMEOUT, READY_TIMEOUT, manage_chain
from runner_k8s.day2.onstorage import chain_root, on_storage, storage_has
from runner_k8s.day2.planscript import Action, Kubectl, Stage
from runner_k8s.day2.seeding import (
    SEED_RPC_PORT,
    STAGING,
    STOPPED_TIMEOUT,
    ChainView,
    marker,
    seed_storage,
)
from runner_k8s.errors import CheckError, RunnerError, UsageError
from runner_k8s.flags import shell_quote
from runner_k8s.kube.storage import Storage
from runner_k8s.ports import ContainerPort
from runner_k8s.releases.v6_7_4.accounts import Consensus
from runner_k8s.releases.v6_7_4.chainstate import V6Node, V6State
from runner_k8s.releases.v6_7_4.config import EXECUTOR_DB, RAFT_DIR, STORAGE_ROOT, WAL_DIR
from runner_k8s.releases.v6_7_4.pods import CHAIN_USER

# What cloud-op's backup copies (src/backup/mod.rs:43-75), by the names our config.toml gives them.
SEEDED = (STORAGE_ROOT, f"{EXECUTOR_DB}/statedb", f"{EXECUTOR_DB}/nosql")
CONSENSUS_STATE = (WAL_DIR, RAFT_DIR)  # never copied; the new node's own (if any) is cleared
# Measured (docs/adding-and-removing-nodes.md, "Seeded join on v6.7.4"; bench/join_v6.py on one two-core
# machine running every node): a plain join syncs about SYNC_BLOCKS_PER_SECOND once its controller answers
# (at the head 7.6 s after its pod's start at 302 blocks, 39.6 s at 3,003); the seed stage takes about
# SEED_SECONDS (node I down about 5 s of it, then back at the head) and the new node answers at the head.
SYNC_BLOCKS_PER_SECOND = 85
SEED_SECONDS = 12


@dataclass(frozen=True)
class V6SeedChoice:
    """The seed node, with the line the plan prints: which join it uses and why."""

    seed: V6Node
    reason: str
    unchecked: str | None = None  # a dry run without --rpc: what the real run checks


def break_even() -> int:
    """The height above which a seed is faster than the plain sync (as measured)."""
    return SYNC_BLOCKS_PER_SECOND * SEED_SECONDS


def quorum(count: int, consensus: Consensus) -> tuple[int, str]:
    """How many of `count` validators must vote for a block, and the rule's name.

    overlord (0.4, every weight 1 in consensus_overlord's validators_to_nodes): more than two thirds,
    `acc * 3 > vote_weight_sum * 2` (overlord src/utils/auth_manage.rs, is_above_threshold); raft:
    a majority, `total / 2 + 1` (raft-rs src/util.rs, majority).
    """
    if consensus is Consensus.RAFT:
        return count // 2 + 1, "raft's majority"
    return 2 * count // 3 + 1, "overlord's more than two thirds"


def v6_seed_node(state: V6State, seed_index: int) -> V6Node:
    """Node I of a local_cluster chain (one whole line naming the nodes there are, when it is none)."""
    if state.kind != "local_cluster":
        raise UsageError(
            f"--seed_from is for local_cluster chains: node{seed_index} of multi_cluster chain {state.chain!r} keeps "
            "its data on its own cluster's storage; leave --seed_from out (the plain join)"
        )
    seed = next((node for node in state.nodes if node.index == seed_index), None)
    if seed is None:
        have = ", ".join(str(node.index) for node in state.nodes)
        raise UsageError(
            f"--seed_from {seed_index}: chain {state.chain!r} has no node {seed_index}; its nodes are {have}"
        )
    return seed


def plain_reason(new_index: int) -> str:
    """What the plan says when it syncs plainly (no --seed_from): the measured break-even."""
    return (
        f"plain sync: node{new_index} syncs the chain from its peers (measured: about {SYNC_BLOCKS_PER_SECOND} "
        f"blocks a second) and stops no node; a seed (--seed_from I) adds about {SEED_SECONDS} s (node I stopped for "
        f"part of it), so it pays only above about {break_even()} blocks"
    )


def check_v6_seed(state: V6State, seed_index: int, new_index: int, view: ChainView | None) -> V6SeedChoice:
    """Node I can stop for the copy without costing quorum and is at the head; the line the plan prints."""
    seed = v6_seed_node(state, seed_index)
    if view is None:
        return V6SeedChoice(seed, f"seeded from node{seed_index} (the chain was not asked: a dry run without --rpc)")
    validators = {address.lower().removeprefix("0x") for address in view.validators}
    count = len(validators)
    need, rule = quorum(count, state.consensus)
    voter = seed.validator.lower() in validators
    if voter and count - 1 < need:
        raise CheckError(
            f"node{seed_index} is one of the chain's {count} validators: stopping it for the copy leaves "
            f"{count - 1}, fewer than {rule} of {need}, and the chain would stop; seed from a node that is no "
            "validator, or leave --seed_from out (the plain join)"
        )
    behind = max(view.heights.values(), default=view.seed_height)
    if view.seed_height < behind:
        raise CheckError(
            f"node{seed_index} is at height {view.seed_height}, behind the chain's head {behind} (asked at --rpc): "
            "a seed must be at the head; wait until it has caught up, or seed from another node"
        )
    head = max(behind, view.seed_height)
    sync = head / SYNC_BLOCKS_PER_SECOND
    cost = "stopping it costs no vote" if not voter else f"{count - 1} of {count} validators keep voting"
    verdict = (
        "the seed is faster"
        if head > break_even()
        else f"a plain join would be faster here (above about {break_even()} blocks the seed is)"
    )
    return V6SeedChoice(
        seed,
        f"seeded from node{seed_index} ({cost}): at height {head} a plain sync takes about {sync:.0f} s (measured: "
        f"{SYNC_BLOCKS_PER_SECOND} blocks a second), the seed about {SEED_SECONDS} s: {verdict}",
    )


def choose_v6_seed(
    state: V6State, seed_index: int, new_index: int, ask: Callable[[], ChainView] | None, *, dry_run: bool
) -> V6SeedChoice:
    """Ask the chain (a dry run may go without), then check and decide; the real run needs the answer."""
    v6_seed_node(state, seed_index)
    try:
        if ask is None:
            raise UsageError("no --rpc was given")
        view: ChainView | None = ask()
    except RunnerError as exc:
        if not dry_run:
            raise
        choice = check_v6_seed(state, seed_index, new_index, None)
        return V6SeedChoice(choice.seed, choice.reason, f"node{seed_index}'s height and the validators ({exc})")
    return check_v6_seed(state, seed_index, new_index, view)


def v6_seed_script(root: str, seed: int, new: int) -> str:
    """Copy node I's chain data into the new node's folder: staged, owned by the services' user, moved, marked last.

    Safe to run again from the top: the staging folder is made afresh, and node I (stopped) does not change.
    """
    source, target, owner = f"node{seed}", f"node{new}", f"{CHAIN_USER}:{CHAIN_USER}"
    seeded = " ".join(SEEDED)
    return "; ".join(
        [
            "set -e",
            f"cd {shell_quote(root)}",
            f'for item in {seeded}; do test -d {source}/"$item" || '
            f'{{ echo "{source}/$item is missing: node{seed} has not run as a v6.7.4 node" >&2; exit 1; }}; done',
            f"rm -rf {target}/{STAGING}",
            f"mkdir -p {target}/{STAGING}/{EXECUTOR_DB}",
            f'for item in {seeded}; do cp -a {source}/"$item" {target}/{STAGING}/"$item"; done',
            f"chown -R {owner} {target}/{STAGING}",
            "rm -rf " + " ".join(f"{target}/{item}" for item in (STORAGE_ROOT, EXECUTOR_DB, *CONSENSUS_STATE)),
            f"mv {target}/{STAGING}/{STORAGE_ROOT} {target}/{STAGING}/{EXECUTOR_DB} {target}/",
            f"rmdir {target}/{STAGING}",
            f"touch {target}/{marker(seed)}",
        ]
    )


def synced_now(state: V6State, kubectl: Kubectl, note: str) -> Action:
    """In a subshell with its own port-forwards (ended with it): every node answers, agrees, sees all the others."""
    forwards = [
        kubectl(
            "port-forward",
            f"pod/{names.pod_name(state.chain, node.index)}",
            f"{SEED_RPC_PORT + node.index}:{int(ContainerPort.CONTROLLER)}",
            ">/dev/null",
        )
        for node in state.nodes
    ]
    rpcs = ",".join(f"127.0.0.1:{SEED_RPC_PORT + node.index}" for node in state.nodes)
    wait = (
        f"{manage_chain()} status --rpc {rpcs} --chain_name {shell_quote(state.chain)} --wait_synced "
        f"--peers {len(state.nodes) - 1} --timeout {CAUGHT_UP_TIMEOUT}"
    )
    body = (
        "( trap 'kill $(jobs -p) 2>/dev/null || true' EXIT; "
        + " & ".join(forwards)
        + f' & sleep 2 && test "$(jobs -rp | wc -l)" -eq {len(state.nodes)} && {wait} )'
    )
    return Action((body,), note=note)


def v6_seed_stage(state: V6State, seed: V6Node, new: V6Node, storage: Storage, kubectl: Kubectl) -> Stage:
    """Stop node I, copy its chain data into the new node's folder on the storage, start node I, wait for it."""
    root = chain_root(storage, names.chain_dir(state.chain))
    done = storage_has(storage, f"{root}/node{new.index}/{marker(seed.index)}")
    seeded = f"{kubectl.exists('statefulset', names.node_name(state.chain, new.index))} || {done}"
    seed_sts = f"statefulset/{names.node_name(state.chain, seed.index)}"
    seed_pod = f"pod/{names.pod_name(state.chain, seed.index)}"
    replicas = kubectl("get", seed_sts, "-o", "jsonpath='{.spec.replicas}'")
    stopped = f'test "$({replicas})" = 0'
    actions = (
        Action(
            synced_now(state, kubectl, "").commands,
            f"{seeded} || {stopped}",
            note=f"every node answers and none is behind: node{seed.index} is at the head, the others can vote",
        ),
        Action((kubectl("scale", seed_sts, "--replicas=0"),), seeded, note=f"node{seed.index} stops, all at once"),
        Action(
            (kubectl("wait", "--for=delete", seed_pod, f"--timeout={STOPPED_TIMEOUT}"),),
            seeded,
            note="its pod is gone: every container stopped, every database closed",
        ),
        Action(
            (on_storage(storage, v6_seed_script(root, seed.index, new.index)),),
            seeded,
            note=f"node{seed.index}'s chain data into node{new.index}'s folder, never its keys or consensus state",
        ),
        Action((kubectl("scale", seed_sts, "--replicas=1"),), note=f"node{seed.index} starts again"),
        Action(
            (kubectl("rollout", "status", seed_sts, f"--timeout={READY_TIMEOUT}"),), note="its pod runs and is ready"
        ),
        synced_now(state, kubectl, f"node{seed.index} has caught up"),
    )
    return Stage(
        f"seed node{new.index} from node{seed.index}: stop it, copy its chain data, start it again "
        f"(skipped once node{new.index}'s folder is seeded)",
        actions,
    )


def v6_seeded_plan(
    state: V6State, choice: V6SeedChoice | None, new: V6Node, work_dir: Path, kubectl: Kubectl
) -> tuple[Stage | None, str]:
    """The seed stage (None: the plain sync, no --seed_from) and the line that says which join the plan uses and why."""
    if choice is None:
        return None, plain_reason(new.index)
    storage = seed_storage(state.pvc_name, work_dir)
    return v6_seed_stage(state, choice.seed, new, storage, kubectl), choice.reason
