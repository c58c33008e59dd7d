"""The plans of add_node and remove_node on a v6.7.4 multi_cluster chain: one cluster per node, nothing restarted.

As on a local_cluster v6.7.4 chain (day2.v6memberplan), network_zenoh re-reads its config.toml's
`peers` at run time from the refreshed config Secret, so no running node restarts. What differs: each
node lives in its own cluster (every kubectl command names that cluster's `--context`), each node
reaches the others through names that lead to their LoadBalancers (the peer objects of its own file),
and the plan reaches every node's RPC at its LoadBalancer. Order: a name is made in a cluster before
any config there names it (the new node's peer objects in the old clusters first, then the new node
with its own, then the old nodes' configs), and a config stops naming a node before the name goes.
Every step is idempotent or skipped once done, so a plan that stopped anywhere is run again from the top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.memberplan import CAUGHT_UP_TIMEOUT, READY_TIMEOUT, claim_storage, manage_chain
from runner_k8s.day2.planscript import Action, Kubectl, Stage, comment
from runner_k8s.flags import shell_quote
from runner_k8s.kube.storage import pvc_file
from runner_k8s.releases.v6_7_4.chainstate import V6Node
from runner_k8s.releases.v6_7_4.config import HOT_UPDATE_SECONDS
from runner_k8s.releases.v6_7_4.multistate import Seat, V6MultiState, peer_object_names
from runner_k8s.releases.v6_7_4.pods import CHAIN_USER
from runner_k8s.report.nextsteps import copy_commands, remove_commands

PEER_SELECTOR = "app.kubernetes.io/component=peer"  # the label of every peer object (manifests.peer_objects)


@dataclass(frozen=True)
class MultiReach:
    """How the plan reaches the chain: kubectl for each node's cluster, and the super admin's folder (a shell word)."""

    kubectl: Mapping[int, Kubectl]
    admin_dir: str | None  # None: not found here; the vote is left to the operator


def wait_synced(state: V6MultiState, rpcs: Sequence[str]) -> Action:
    """Every node answers at its LoadBalancer, they agree, none is behind, and each lists all the others as peers."""
    command = (
        f"{manage_chain()} status --rpc {','.join(rpcs)} --chain_name {shell_quote(state.chain)} --wait_synced "
        f"--peers {len(rpcs) - 1} --timeout {CAUGHT_UP_TIMEOUT}"
    )
    return Action((command,))


def vote(state: V6MultiState, reach: MultiReach, words: str, rpcs: Sequence[str]) -> Action:
    """The super admin's validator change (--if_needed: skipped once every node has it)."""
    command = f"{manage_chain()} {words} --rpc {','.join(rpcs)} --chain_name {shell_quote(state.chain)}"
    if reach.admin_dir is None:
        return comment(f"with the super admin's account folder (not found here; or give --admin_dir): {command} "
                       "--admin_dir DIR --if_needed")  # fmt: skip
    return Action((f"{command} --admin_dir {reach.admin_dir} --if_needed",))


def peers_only(kubectl: Kubectl, state: V6MultiState, index: int) -> str:
    """Apply only the peer objects of node `index`'s file (the names leading to the other LoadBalancers)."""
    return kubectl("apply", "-f", shell_quote(names.node_yaml(state.chain, index)), "-l", PEER_SELECTOR)


def copy_stage(state: V6MultiState, new: V6Node, seat: Seat, work_dir: Path, kubectl: Kubectl) -> Stage:
    """The new node's claim in its cluster, and its folder onto the claim's storage (skipped once the node exists)."""
    folder = names.node_dir(state.chain, new.index)
    storage = claim_storage(work_dir, seat.pvc_name)
    cluster = new.index
    if storage is None:
        make = f"create_pvc.py nfs_pvc --nfs_server HOST --nfs_path PATH --pvc_name {seat.pvc_name}"
        actions = [
            comment(f"before this script: make the claim {seat.pvc_name} ({make}), apply it", cluster),
            comment(f"and copy {folder} onto its storage as {folder}, owned by {CHAIN_USER}:{CHAIN_USER}", cluster),
        ]
    else:
        apply = kubectl("apply", "-f", shell_quote(pvc_file(seat.pvc_name)))
        guard = kubectl.exists("statefulset", names.node_name(state.chain, new.index))
        commands = copy_commands(storage, folder, names.chain_dir(state.chain), CHAIN_USER)
        actions = [Action((apply,), cluster=cluster, note=f"the claim {seat.pvc_name}")]
        actions += [Action((command,), guard, cluster) for command in commands]
    title = f"node{new.index}'s claim and folder in its cluster (the copy is skipped once node{new.index} exists)"
    return Stage(title, tuple(actions), cluster)


def add_multi_stages(
    state: V6MultiState, new: V6Node, seats: Mapping[int, Seat], work_dir: Path, reach: MultiReach, shown: str
) -> list[Stage]:
    """From written files to a running chain with one more validator; `shown` is the new node's address as shown."""
    name = names.node_name(state.chain, new.index)
    mine = reach.kubectl[new.index]
    names_first = [
        Action((peers_only(reach.kubectl[node.index], state, node.index),), cluster=node.index) for node in state.nodes
    ]
    start = (
        Action((mine("apply", "-f", shell_quote(names.node_yaml(state.chain, new.index))),), cluster=new.index),
        Action(
            (mine("rollout", "status", f"statefulset/{name}", f"--timeout={READY_TIMEOUT}"),),
            cluster=new.index,
            note="its pod runs and is ready",
        ),
    )
    configs = [
        Action(
            (reach.kubectl[node.index]("apply", "-f", shell_quote(names.node_yaml(state.chain, node.index))),),
            cluster=node.index,
        )
        for node in state.nodes
    ]
    rpcs = [seats[node.index].rpc() for node in [*state.nodes, new]]
    words = (
        f"add_validator {shown} --node_dir {shell_quote(names.node_dir(state.chain, new.index))} --node_rpc {rpcs[-1]}"
    )
    return [
        Stage(
            f"every old node's cluster: the name {name} leading to node{new.index}'s LoadBalancer "
            f"({seats[new.index].host}), before any config names it",
            tuple(names_first),
        ),
        copy_stage(state, new, seats[new.index], work_dir, mine),
        Stage(
            f"start node{new.index} in its cluster (its Secrets, Services, the names of the other nodes, its "
            "StatefulSet) and wait for it",
            start,
            new.index,
        ),
        Stage(
            f"every old node's config Secret with node{new.index} among its peers (read at run time: nothing restarts)",
            tuple(configs),
        ),
        Stage(
            f"wait until every node has re-read its peers (network_zenoh looks every {HOT_UPDATE_SECONDS} s, once the "
            f"kubelet has refreshed the Secret) and node{new.index} is at the head",
            (wait_synced(state, rpcs),),
        ),
        Stage(
            f"make node{new.index} a validator (its validator key from its folder), and see the chain go on",
            (vote(state, reach, words, rpcs), wait_synced(state, rpcs)),
        ),
    ]


def remove_multi_stages(
    state: V6MultiState, gone: V6Node, own_objects: Sequence[tuple[str, str]], work_dir: Path, reach: MultiReach
) -> list[Stage]:
    """From written files to a chain without the node: out of the validators, out of the peers, then deleted.

    `own_objects` are (kind, name) of everything in the node's own file.
    """
    remaining = [node for node in state.nodes if node.index != gone.index]
    rpcs = [state.seats[node.index].rpc() for node in remaining]
    words = f"remove_validator 0x{gone.validator}"
    configs = [
        Action(
            (reach.kubectl[node.index]("apply", "-f", shell_quote(names.node_yaml(state.chain, node.index))),),
            cluster=node.index,
        )
        for node in remaining
    ]
    peer_names = [f"{kind}/{name}" for kind, name in peer_object_names(state, gone.index)]
    forget = [
        Action((reach.kubectl[node.index]("delete", *peer_names, "--ignore-not-found"),), cluster=node.index)
        for node in remaining
    ]
    mine = reach.kubectl[gone.index]
    objects = [f"{kind.lower()}/{name}" for kind, name in own_objects]
    seat = state.seats[gone.index]
    storage = claim_storage(work_dir, seat.pvc_name)
    folder = names.node_dir(state.chain, gone.index)
    if storage is None:
        wipe = [comment(f"delete {folder} from the storage of the claim {seat.pvc_name} by hand", gone.index)]
    else:
        wipe = [Action((command,), cluster=gone.index) for command in remove_commands(storage, folder)]
    return [
        Stage(
            f"the nodes that stay answer at their LoadBalancers; node{gone.index} out of the validators (nothing to do "
            "when it is not one)",
            (wait_synced(state, rpcs), vote(state, reach, words, rpcs)),
        ),
        Stage(
            f"every other node's config Secret without node{gone.index} (read at run time), and its NetworkPolicy",
            tuple(configs),
        ),
        Stage(
            f"stop node{gone.index} and delete its objects in its cluster",
            (Action((mine("delete", *objects, "--ignore-not-found"),), cluster=gone.index),),
            gone.index,
        ),
        Stage(f"every other node's cluster: the name {names.node_name(state.chain, gone.index)} goes", tuple(forget)),
        Stage(f"delete node{gone.index}'s folder (its chain data) from its claim's storage", tuple(wipe), gone.index),
        Stage(f"the chain goes on without node{gone.index}", (wait_synced(state, rpcs),)),
    ]
