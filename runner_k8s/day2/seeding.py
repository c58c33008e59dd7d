"""add_node --seed_from I: the new node starts on a copy of node I's chain data, so it votes at any age (issue 25).

A v5.0.0 node keeps its chain state in its folder: consensus_raft's `raft-data-dir/` (raft's log, hard
and conf state, applied index and the block height it committed), the storage service's `storage.db`,
the executor's `data/` and the controller's `blocks/`, `proposals/`, `txs/`, `tx_infos/`. Copied
together from a node stopped cleanly, they are one consistent state; the new node keeps its own
identity (node_address, key_id, kms.db, network key, peers, syncthing's config/, every config file),
and raft, which names a node by a hash of its address, sees a node that is not in the copied
configuration: it never campaigns, and once the admin's vote adds it, the leader finds its log where
node I's ended (docs/adding-and-removing-nodes.md, "Seeded join", has the evidence from the sources).

The plan stops node I (its StatefulSet to 0 replicas, so all its containers stop together), copies on
the storage host into a staging folder and moves it into place, marks the new folder seeded, starts
node I again and waits until every node agrees, then goes on as the plain plan does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.chainload import LoadedChain, NodeState
from runner_k8s.day2.keepup import kept_up
from runner_k8s.day2.memberplan import (
    CAUGHT_UP_TIMEOUT,
    IN_STEP_SECONDS,
    READY_TIMEOUT,
    Reach,
    claim_storage,
    manage_chain,
)
from runner_k8s.day2.membership import is_local
from runner_k8s.day2.onstorage import chain_root, on_storage, storage_has
from runner_k8s.day2.planscript import Action, Kubectl, Stage
from runner_k8s.errors import CheckError, RunnerError, UsageError
from runner_k8s.flags import shell_quote
from runner_k8s.kube.storage import Storage
from runner_k8s.ports import ContainerPort

# What is copied: the chain's data of the four services that keep any. Never the identity files.
SEEDED_DIRS = ("raft-data-dir", "data", "blocks", "proposals", "txs", "tx_infos")
SEEDED_DB = "storage.db"  # with its companions (storage.db-journal, -wal, -shm) when there are any
NEVER_COPIED = ("node_address", "key_id", "kms.db", "config/", "network-config.toml", "*-config.toml")
STAGING = ".seed"
SEED_RPC_PORT = 28200  # the seed stage's own port-forwards: node i's RPC on 127.0.0.1:SEED_RPC_PORT + i
KEEP_MARGIN = 60  # seconds the keep-up loop may outlive its wait's time-out (the plan stops it at once)
STOPPED_TIMEOUT = "300s"  # kubectl wait: node I's pod gone (its containers stopped, files closed)
# Measured (issue 17, docs): a plain join's controller syncs the chain's blocks at about 1.8 a second. And on a chain
# whose blocks carry transactions it may never finish: v5.0.0's controller offers a synced transaction to its pool
# once, when its file arrives, and refuses one valid more than 100 blocks past its height then; a block with a
# refused transaction is never synced (docs, "The plain join on a chain with transactions"). So --seed_from seeds
# whatever the height: the new node starts at the head's height, not at 0.
REPLAY_BLOCKS_PER_SECOND = 1.8


@dataclass(frozen=True)
class ChainView:
    """What the running chain said: its validators, each asked node's height, and node I's own (asked last)."""

    validators: Sequence[str]
    heights: Mapping[str, int]  # --rpc address -> height
    seed_height: int


@dataclass(frozen=True)
class SeedChoice:
    """The seed node, with the reason the plan prints."""

    seed: NodeState
    reason: str
    unchecked: str | None = None  # a dry run without --rpc: what the real run checks


def marker(seed: int) -> str:
    """The file the copy leaves last in the new node's folder: the seed is complete."""
    return f".seeded-from-node{seed}"


def seed_node(chain: LoadedChain, seed_index: int) -> NodeState:
    """Node I of the chain; on a local_cluster chain the nodes share one claim (checked before the chain is asked)."""
    seed = next((node for node in chain.nodes if node.index == seed_index), None)
    if seed is None:
        have = ", ".join(str(node.index) for node in chain.nodes)
        raise UsageError(
            f"--seed_from {seed_index}: chain {chain.chain!r} has no node {seed_index}; its nodes are {have}"
        )
    if is_local(chain) and any(node.pvc_name != seed.pvc_name for node in chain.nodes):
        raise UsageError(f"--seed_from: the nodes of chain {chain.chain!r} are not on one claim; leave it out")
    return seed


def check_seed(chain: LoadedChain, seed_index: int, new_index: int, view: ChainView | None) -> SeedChoice:
    """Node I can be stopped for the copy without costing quorum and is at the head; the reason the plan seeds."""
    seed = seed_node(chain, seed_index)
    if view is None:
        return SeedChoice(seed, "seeded (the chain was not asked: a dry run without --rpc)", "the seed's checks")
    validators = {address.lower() for address in view.validators}
    count = len(validators)
    if seed.address.lower() in validators and count - 1 < count // 2 + 1:
        raise CheckError(
            f"node{seed_index} is one of the chain's {count} validators: stopping it for the copy leaves {count - 1}, "
            f"fewer than raft's majority of {count // 2 + 1}, and the chain would stop; seed from a node that is no "
            "validator, or leave --seed_from out (the plain join)"
        )
    head = max([*view.heights.values(), view.seed_height])
    behind = max(view.heights.values(), default=view.seed_height)
    if view.seed_height < behind:
        raise CheckError(
            f"node{seed_index} is at height {view.seed_height}, behind the chain's head {behind} (asked at --rpc): "
            "a seed must be at the head; wait until it has caught up, or seed from another node"
        )
    replay = head / REPLAY_BLOCKS_PER_SECOND
    if seed.address.lower() not in validators:
        return SeedChoice(seed, f"seeded from node{seed_index}, no validator: stopping it costs no vote")
    return SeedChoice(
        seed,
        f"seeded from node{seed_index}: at height {head} a plain join would sync for about {replay:.0f} s before "
        f"node{new_index} votes, or never once a block carries a transaction its controller refuses; the seed stops "
        f"node{seed_index} for about a minute instead",
    )


def seed_script(root: str, seed: int, new: int) -> str:
    """Copy node I's data into the new node's folder: staged, then moved into place, the marker last.

    Safe to run again from the top: the staging folder is made afresh, and node I (stopped) does not change.
    """
    source, target = f"node{seed}", f"node{new}"
    dirs = " ".join(SEEDED_DIRS)
    return "; ".join(
        [
            "set -e",
            f"cd {shell_quote(root)}",
            f'for item in {dirs} {SEEDED_DB}; do test -e {source}/"$item" || '
            f'{{ echo "{source}/$item is missing: node{seed} has not run as a v5.0.0 node" >&2; exit 1; }}; done',
            f"rm -rf {target}/{STAGING}",
            f"mkdir {target}/{STAGING}",
            f'for item in {dirs}; do cp -a {source}/"$item" {target}/{STAGING}/; done',
            f'for item in {source}/{SEEDED_DB} {source}/{SEEDED_DB}-*; do if [ -e "$item" ]; then '
            f'cp -a "$item" {target}/{STAGING}/; fi; done',
            f'for item in {dirs}; do rm -rf {target}/"$item"; done',
            f"rm -f {target}/{SEEDED_DB} {target}/{SEEDED_DB}-*",
            f"mv {target}/{STAGING}/* {target}/",
            f"rmdir {target}/{STAGING}",
            f"touch {target}/{marker(seed)}",
        ]
    )


def synced_now(
    chain: LoadedChain,
    kubectl: Kubectl,
    nodes: Sequence[NodeState],
    note: str,
    keep: Callable[[str], str] | None = None,
) -> Action:
    """In a subshell with its own port-forwards (ended with it): the nodes agree, none is behind, each keeps up.

    Keeping up block by block is what a restarted seed may not do for a while (docs, "Seeded join"): `keep`
    runs the wait beside the keep-up loop that offers it its proposals again (day2/keepup.py).
    """
    forwards = [
        kubectl(
            "port-forward",
            f"pod/{names.pod_name(chain.chain, node.index)}",
            f"{SEED_RPC_PORT + node.index}:{int(ContainerPort.CONTROLLER)}",
            ">/dev/null",
        )
        for node in nodes
    ]
    rpcs = ",".join(f"127.0.0.1:{SEED_RPC_PORT + node.index}" for node in nodes)
    wait = (
        f"{manage_chain()} status --rpc {rpcs} --chain_name {chain.chain} --wait_synced --interval 1 "
        f"--in_step {IN_STEP_SECONDS} --timeout {CAUGHT_UP_TIMEOUT}"
    )
    if keep is not None:
        wait = keep(wait)
    body = (
        "( trap 'kill $(jobs -p) 2>/dev/null || true' EXIT; "
        + " & ".join(forwards)
        + f' & sleep 2 && test "$(jobs -rp | wc -l)" -eq {len(nodes)} && {wait} )'
    )
    return Action((body,), note=note)


def seed_stage(chain: LoadedChain, seed: NodeState, new: NodeState, storage: Storage, reach: Reach) -> Stage:
    """Stop node I, copy its data into the new node's folder on the storage, start node I again, wait for it."""
    kubectl = reach.kubectl[seed.index]
    root = chain_root(storage, names.chain_dir(chain.chain))
    done = storage_has(storage, f"{root}/node{new.index}/{marker(seed.index)}")
    new_exists = kubectl.exists("statefulset", names.node_name(chain.chain, new.index))
    seed_sts = f"statefulset/{names.node_name(chain.chain, seed.index)}"
    seed_pod = names.pod_name(chain.chain, seed.index)
    replicas = kubectl("get", seed_sts, "-o", "jsonpath='{.spec.replicas}'")
    stopped = f'test "$({replicas})" = 0'
    seeded = f"{new_exists} || {done}"
    actions = (
        Action(
            synced_now(chain, kubectl, chain.nodes, "").commands,
            f"{seeded} || {stopped}",
            note=f"every node answers, none is behind, each keeps up: node{seed.index} is at the head, the others vote",
        ),
        Action((kubectl("scale", seed_sts, "--replicas=0"),), seeded, note=f"node{seed.index} stops, all at once"),
        Action(
            (kubectl("wait", "--for=delete", f"pod/{seed_pod}", f"--timeout={STOPPED_TIMEOUT}"),),
            seeded,
            note="its pod is gone: every container stopped, every file closed",
        ),
        Action(
            (on_storage(storage, seed_script(root, seed.index, new.index)),),
            seeded,
            note=f"node{seed.index}'s chain data into node{new.index}'s folder, never its identity",
        ),
        Action((kubectl("scale", seed_sts, "--replicas=1"),), note=f"node{seed.index} starts again"),
        Action(
            (kubectl("rollout", "status", seed_sts, f"--timeout={READY_TIMEOUT}"),),
            note="its pod runs and is ready",
        ),
        synced_now(
            chain,
            kubectl,
            chain.nodes,
            f"node{seed.index} has caught up and keeps up block by block (offered its proposals again meanwhile)",
            keeper(storage, root, chain, seed.index),
        ),
    )
    return Stage(
        f"seed node{new.index} from node{seed.index}: stop it, copy its chain data, start it again "
        f"(skipped once node{new.index}'s folder is seeded)",
        actions,
    )


def keeper(storage: Storage, root: str, chain: LoadedChain, target: int) -> Callable[[str], str]:
    """A wait on the chain, run beside the keep-up loop for node `target`, fed by the first other old node."""
    source = next((node.index for node in chain.nodes if node.index != target), target)
    return lambda command: kept_up(storage, root, source, target, CAUGHT_UP_TIMEOUT + KEEP_MARGIN, command)


def seed_storage(pvc_name: str, work_dir: Path) -> Storage:
    """The storage of the seed's and the new node's claim (one host, or an NFS export), as the work dir says."""
    storage = claim_storage(work_dir, pvc_name)
    if storage is None:
        raise UsageError(
            f"--seed_from needs the claim's file {pvc_name}.yaml in the work dir (create_pvc.py wrote it): the "
            "plan copies node data on the storage it describes"
        )
    if not storage.nfs and len(storage.hosts) != 1:
        raise UsageError(
            f"--seed_from: claim {pvc_name} is a local path on {len(storage.hosts)} hosts, and node data lies "
            "on the host where its pod ran; seed on one host or an NFS export, or leave --seed_from out"
        )
    return storage


def plain_reason(new_index: int) -> str:
    """What the plan says when it syncs plainly because no seed was asked for."""
    instead = "add it with --seed_from I instead"
    return (
        f"plain sync: node{new_index} syncs the chain from block 1 (about {REPLAY_BLOCKS_PER_SECOND} blocks a "
        "second) before it votes, and on v5.0.0 never gets past a block carrying a transaction its controller refused "
        f"(the plan's wait then times out without the vote); {instead}"
    )


def choose_seed(
    chain: LoadedChain,
    seed_index: int,
    new_index: int,
    ask: Callable[[], ChainView] | None,
    *,
    dry_run: bool,
) -> SeedChoice:
    """Ask the chain (a dry run may go without), then check and decide; the real run needs the answer."""
    seed_node(chain, seed_index)
    try:
        if ask is None:
            raise UsageError("no --rpc was given")
        view: ChainView | None = ask()
    except RunnerError as exc:
        if not dry_run:
            raise
        choice = check_seed(chain, seed_index, new_index, None)
        return SeedChoice(choice.seed, choice.reason, f"node{seed_index}'s height and the validators ({exc})")
    return check_seed(chain, seed_index, new_index, view)


def seeded_plan(
    chain: LoadedChain, choice: SeedChoice | None, new: NodeState, work_dir: Path, reach: Reach
) -> tuple[Stage | None, str, Callable[[str], str] | None]:
    """The seed stage (None: a plain sync), why the plan seeds or syncs, and the new node's keep-up (None: plain).

    The keep-up wraps the vote's wait: it runs beside the loop that offers the new node its proposals again.
    """
    if choice is None:
        return None, plain_reason(new.index), None
    storage = seed_storage(choice.seed.pvc_name, work_dir)
    root = chain_root(storage, names.chain_dir(chain.chain))
    keep = keeper(storage, root, chain, new.index)
    return seed_stage(chain, choice.seed, new, storage, reach), choice.reason, keep
