"""The plans of add_node and remove_node on a v6.7.4 local_cluster chain: nothing that runs is restarted.

What the v6.7.4 services re-read decides the steps (docs/adding-and-removing-nodes.md): network_zenoh
looks at its config.toml every `hot_update_interval` seconds (15 here) and, when the file changed,
takes its new `peers` (dialling the new ones, forgetting the removed ones) without a restart; a Secret
mounted as a volume is refreshed in a running pod by the kubelet (within about a minute). So adding a
node is one `kubectl apply` of the chain's YAML (the new node's objects, and every other node's config
Secret with the new peer), then waits that observe the result: every node lists all the others as its
peers (the reload happened everywhere) and the new node is at the head; only then is it made a
validator. Removing one takes it out of the validators first, then out of the peer lists, then
deletes its objects. Every step is idempotent or skipped once done, so a plan that stopped at any step
is run again from the top. The plan runs in the work dir: its paths are relative to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.memberplan import CAUGHT_UP_TIMEOUT, READY_TIMEOUT, claim_storage, local_forwards, manage_chain
from runner_k8s.day2.planscript import Action, Kubectl, Stage, comment
from runner_k8s.flags import shell_quote
from runner_k8s.releases.v6_7_4.chainstate import V6Node, V6State
from runner_k8s.releases.v6_7_4.config import HOT_UPDATE_SECONDS
from runner_k8s.releases.v6_7_4.pods import CHAIN_USER
from runner_k8s.report.nextsteps import copy_commands, remove_commands


def rpc_forwards(state: V6State, nodes: Sequence[V6Node], kubectl: Kubectl) -> tuple[list[Action], list[str]]:
    """Port-forwards to every node's controller RPC (as on v5.0.0), and the addresses."""
    return local_forwards(state.chain, [node.index for node in nodes], lambda index: kubectl)


def wait_synced(state: V6State, rpcs: Sequence[str], note: str = "") -> Action:
    """Every node answers, they agree, none is behind, and each lists all the others as its peers."""
    command = (
        f"{manage_chain()} status --rpc {','.join(rpcs)} --chain_name {shell_quote(state.chain)} --wait_synced "
        f"--peers {len(rpcs) - 1} --timeout {CAUGHT_UP_TIMEOUT}"
    )
    return Action((command,), note=note)


def admin_flags(state: V6State) -> str:
    """The super admin of a local_cluster chain: `<chain>-admin/` (its private_key needs no password)."""
    return f"--admin_dir {shell_quote(names.admin_dir(state.chain))}"


def copy_stage(state: V6State, new: V6Node, work_dir: Path, kubectl: Kubectl) -> Stage:
    """The new node's folder onto the claim's storage, owned by the services' user; skipped once it runs there."""
    folder = names.node_dir(state.chain, new.index)
    storage = claim_storage(work_dir, state.pvc_name)
    if storage is None:
        make = f"create_pvc.py local_pvc --pvc_name {state.pvc_name}"
        actions = [
            comment(f"before this script: copy {folder} onto the storage of the claim {state.pvc_name} ({make})"),
        ]
    else:
        guard = kubectl.exists("statefulset", names.node_name(state.chain, new.index))
        commands = copy_commands(storage, folder, names.chain_dir(state.chain), CHAIN_USER)
        actions = [Action((command,), guard) for command in commands]
    title = f"node{new.index}'s folder onto the claim's storage (skipped once node{new.index} exists)"
    return Stage(title, tuple(actions))


def add_v6_stages(
    state: V6State,
    new: V6Node,
    work_dir: Path,
    kubectl: Kubectl,
    address: str,
    seed: Stage | None = None,
    why: str = "",
) -> list[Stage]:
    """From written files to a running chain with one more validator, no running node restarted.

    `address` is the new node's address as the plan shows it (a dry run's placeholder); `seed` fills its
    folder from a stopped peer (day2.v6seeding), `why` says which join the plan uses.
    """
    yaml_file = shell_quote(names.chain_yaml(state.chain))
    name = names.node_name(state.chain, new.index)
    apply = (
        Action((kubectl("apply", "-f", yaml_file),)),
        Action(
            (kubectl("rollout", "status", f"statefulset/{name}", f"--timeout={READY_TIMEOUT}"),),
            note="its pod runs and is ready",
        ),
    )
    nodes = [*state.nodes, new]
    forwards, rpcs = rpc_forwards(state, nodes, kubectl)
    node_dir = shell_quote(names.node_dir(state.chain, new.index))
    vote = (
        f"{manage_chain()} add_validator {address} --rpc {','.join(rpcs)} --chain_name {shell_quote(state.chain)} "
        f"{admin_flags(state)} --node_dir {node_dir} --node_rpc {rpcs[-1]} --if_needed"
    )
    copied = copy_stage(state, new, work_dir, kubectl)
    notes = (comment(why),) if why else ()
    return [
        Stage(copied.title, (*notes, *copied.actions)),
        *([seed] if seed is not None else []),
        Stage(
            f"apply the chain's YAML: node{new.index}'s Secrets, Service and StatefulSet, and the other nodes' config "
            f"Secrets with node{new.index} among their peers (nothing restarts), then wait for node{new.index}",
            apply,
        ),
        Stage(
            f"wait until every node has re-read its peers (network_zenoh looks every {HOT_UPDATE_SECONDS} s, once the "
            f"kubelet has refreshed the Secret) and node{new.index} is at the head",
            (*forwards, wait_synced(state, rpcs)),
        ),
        Stage(
            f"make node{new.index} a validator (its validator key from its folder), and see the chain go on",
            (Action((vote,)), wait_synced(state, rpcs)),
        ),
    ]


def remove_v6_stages(state: V6State, gone: V6Node, work_dir: Path, kubectl: Kubectl) -> list[Stage]:
    """From written files to a chain without the node: out of the validators, out of the peers, then deleted."""
    remaining = [node for node in state.nodes if node.index != gone.index]
    forwards, rpcs = rpc_forwards(state, remaining, kubectl)
    vote = (
        f"{manage_chain()} remove_validator 0x{gone.validator} --rpc {','.join(rpcs)} "
        f"--chain_name {shell_quote(state.chain)} {admin_flags(state)} --if_needed"
    )
    objects = [
        f"statefulset/{names.node_name(state.chain, gone.index)}",
        f"service/{names.node_name(state.chain, gone.index)}",
        f"service/{names.executor_service(state.chain, gone.index)}",
        f"secret/{names.config_secret(state.chain, gone.index)}",
        f"secret/{names.account_secret(state.chain, gone.index)}",
    ]
    storage = claim_storage(work_dir, state.pvc_name)
    folder = names.node_dir(state.chain, gone.index)
    if storage is None:
        wipe = [comment(f"delete {folder} from the claim's storage by hand")]
    else:
        wipe = [Action((command,)) for command in remove_commands(storage, folder)]
    return [
        Stage(
            f"reach the nodes that stay; node{gone.index} out of the validators (nothing to do when it is not one)",
            (*forwards, wait_synced(state, rpcs), Action((vote,))),
        ),
        Stage(
            f"apply the chain's YAML: the other nodes' config Secrets without node{gone.index} (read at run time), "
            f"then stop node{gone.index} and delete its objects",
            (
                Action((kubectl("apply", "-f", shell_quote(names.chain_yaml(state.chain))),)),
                Action((kubectl("delete", *objects, "--ignore-not-found"),)),
            ),
        ),
        Stage(f"delete node{gone.index}'s folder (its chain data) from the claim's storage", tuple(wipe)),
        Stage(f"the chain goes on without node{gone.index}", (wait_synced(state, rpcs),)),
    ]
