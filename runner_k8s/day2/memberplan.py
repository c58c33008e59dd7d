"""The plan of add_node and remove_node: the stages an operator runs as one script, never costing quorum.

What the v5.0.0 services re-read decides the steps (docs/adding-and-removing-nodes.md): network_p2p
reads its peers only at start and resolves every peer name then (a name that does not resolve stops
it), but takes connections from any node; syncthing changes its devices at runtime through its own CLI
on the pod's loopback. So no running node restarts, and the order keeps every restart safe at every
point of the plan: a peer list names a node only once that node's Service exists, and stops naming a
node before its Service goes. Every step is idempotent or skipped once done, so a plan that stopped
at any step is run again from the top. The plan runs in the work dir: its paths are relative to it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.chainload import LoadedChain, NodeState
from runner_k8s.day2.membership import NETWORK_CONFIG, is_local, peer_of
from runner_k8s.day2.planscript import Action, Kubectl, Stage, comment
from runner_k8s.flags import shell_quote
from runner_k8s.kube.storage import Storage, load_storage, pvc_file
from runner_k8s.ports import MULTI_LAYOUT, ContainerPort, Slot, external_port
from runner_k8s.releases.v5_0_0.nodefiles import CONFIG_DIR, CONFIG_XML
from runner_k8s.releases.v5_0_0.pods import DATA_PATH, SYNC_PATH
from runner_k8s.releases.v5_0_0.syncconfig import SYNC_FOLDERS
from runner_k8s.report.nextsteps import copy_commands, remove_commands, script_command

LOCAL_RPC_PORT = 28100  # kubectl port-forward puts node i's RPC on 127.0.0.1:LOCAL_RPC_PORT + i
# Below every usual ephemeral range (Linux 32768-60999, IANA 49152-65535): a fixed local port in one can be
# taken at any moment by the source port of some outgoing connection, and the port-forward fails to listen.
FILES_CONTAINER = "controller"  # a container with the node folder at /data and tar (for kubectl cp)
SYNCTHING_CLI = f"syncthing cli --home {SYNC_PATH}/{CONFIG_DIR} config"
CAUGHT_UP_TIMEOUT = 900  # seconds: catching up, and replaying raft's log
READY_TIMEOUT = "600s"  # kubectl rollout status: pulling the images and passing the probes
# Seconds every node must keep up with the chain block by block (manage_chain.py --in_step, govern/instep.py): a
# v5.0.0 node whose controller lags takes blocks only on its 12-s block-file cycle and deletes each new proposal
# file; the leader sends a proposal once, so two such voters stop the chain (docs, "Seeded join").
IN_STEP_SECONDS = 15
# In the new node's controller container: its last committed height against the newest block it synced.
REPLAYED = (
    'until [ "$(grep -o "commit_block height [0-9]*" logs/controller-service.log | tail -n 1 | cut -d " " -f 3)" '
    '-ge "$(ls blocks | sort -n | tail -n 1)" ] 2>/dev/null; do sleep 2; done'
)


@dataclass(frozen=True)
class Admin:
    """How the plan signs as the super admin: its account folder, and a file (or `<(…)`) holding its password."""

    folder: str  # a shell word
    password_file: str | None  # a shell word; None: manage_chain.py asks on the terminal


@dataclass(frozen=True)
class Reach:
    """How the plan reaches the chain: kubectl for each node's cluster, and the super admin (None: not known)."""

    kubectl: Mapping[int, Kubectl]
    admin: Admin | None


def local_admin(chain: LoadedChain, kubectl: Kubectl) -> Admin:
    """local_cluster: `<chain>-admin/`, whose password is the chain's kms password, read from its Secret."""
    secret = kubectl("get", "secret", names.kms_secret(chain.chain), "-o", "jsonpath='{.data.key_file}'")
    return Admin(shell_quote(names.admin_dir(chain.chain)), f"<({secret} | base64 -d)")


def claim_storage(work_dir: Path, claim: str) -> Storage | None:
    """The storage the claim's file in the work dir describes (create_pvc.py wrote it), or None."""
    return load_storage(work_dir / pvc_file(claim))


def manage_chain() -> str:
    """manage_chain.py as the plan calls it from the work dir: on PATH, or by its absolute path."""
    command = script_command("manage_chain.py")
    word = shlex.split(command)[0]  # before Path drops a leading ./: ./manage_chain.py is not on PATH either
    return command if "/" not in word or Path(word).is_absolute() else shell_quote(str(Path.cwd() / word))


def syncthing_add(kubectl: Kubectl, chain: LoadedChain, node: NodeState, new: NodeState, cluster: int | None) -> Action:
    """A running node's syncthing learns the new device and shares the three folders with it.

    A second add keeps one entry, so the step is safe to repeat.
    """
    _, device = peer_of(chain, new)
    host = f"[{device.host}]" if ":" in device.host else device.host
    added = json.dumps(
        {"deviceID": device.device_id, "name": device.name, "addresses": [f"tcp://{host}:{device.port}"]},
        separators=(",", ":"),
    )
    shared = json.dumps({"deviceID": device.device_id}, separators=(",", ":"))
    script = (
        f'{SYNCTHING_CLI} devices add-json "$0" && for folder in {" ".join(SYNC_FOLDERS)}; '
        f'do {SYNCTHING_CLI} folders "$folder" devices add-json "$1" || exit 1; done'
    )
    pod = names.pod_name(chain.chain, node.index)
    command = kubectl("exec", pod, "-c", "syncthing", "--", "sh", "-c", shell_quote(script))
    return Action((f"{command} {shell_quote(added)} {shell_quote(shared)}",), cluster=cluster)


def syncthing_remove(
    kubectl: Kubectl, chain: LoadedChain, node: NodeState, gone: NodeState, cluster: int | None
) -> Action:
    """A running node's syncthing stops sharing the folders with a removed device and forgets it.

    What is already gone is left alone, so the step is safe to repeat.
    """
    script = (
        f'for folder in {" ".join(SYNC_FOLDERS)}; do if {SYNCTHING_CLI} folders "$folder" devices list | grep -q "$0"; '
        f'then {SYNCTHING_CLI} folders "$folder" devices "$0" delete || exit 1; fi; done; '
        f'if {SYNCTHING_CLI} devices list | grep -q "$0"; then {SYNCTHING_CLI} devices "$0" delete; fi'
    )
    pod = names.pod_name(chain.chain, node.index)
    command = kubectl("exec", pod, "-c", "syncthing", "--", "sh", "-c", shell_quote(script))
    return Action((f"{command} {gone.device_id}",), cluster=cluster)


def copied_files(kubectl: Kubectl, chain: LoadedChain, node: NodeState, cluster: int | None) -> list[Action]:
    """A running node's new peer list and syncthing config, copied into its pod (read at its next start)."""
    pod, folder = names.pod_name(chain.chain, node.index), names.node_dir(chain.chain, node.index)
    copies = []
    for relative in (NETWORK_CONFIG, f"{CONFIG_DIR}/{CONFIG_XML}"):
        source = shell_quote(f"{folder}/{relative}")
        copies.append(
            Action((kubectl("cp", source, f"{pod}:{DATA_PATH}/{relative}", "-c", FILES_CONTAINER),), cluster=cluster)
        )
    return copies


def rpc_reach(chain: LoadedChain, nodes: Sequence[NodeState], reach: Reach) -> tuple[list[Action], list[str]]:
    """How this machine reaches every node's RPC: port-forwards (local_cluster) or the LoadBalancers."""
    if not is_local(chain):
        found = []
        for node in nodes:
            assert node.host is not None and node.base_port is not None
            host = f"[{node.host}]" if ":" in node.host else node.host
            found.append(f"{host}:{external_port(MULTI_LAYOUT, node.base_port, Slot.RPC)}")
        return [], found
    return local_forwards(chain.chain, [node.index for node in nodes], lambda index: reach.kubectl[index])


def local_forwards(
    chain: str, indices: Sequence[int], kubectl_for: Callable[[int], Kubectl]
) -> tuple[list[Action], list[str]]:
    """Port-forwards to each node's controller RPC (127.0.0.1:LOCAL_RPC_PORT + i), then a check; the addresses."""
    forwards = [
        Action(
            (
                kubectl_for(index)(
                    "port-forward",
                    f"pod/{names.pod_name(chain, index)}",
                    f"{LOCAL_RPC_PORT + index}:{int(ContainerPort.CONTROLLER)}",
                    ">/dev/null",
                ),
            ),
            background=True,
        )
        for index in indices
    ]
    # A port-forward that cannot listen (its local port taken) ends at once: stop here, not in a long wait.
    alive = Action(
        ("sleep 2", f'test "$(jobs -rp | wc -l)" -eq {len(forwards)}'),
        note="every port-forward still runs (one whose local port is taken ends)",
    )
    return [*forwards, alive], [f"127.0.0.1:{LOCAL_RPC_PORT + index}" for index in indices]


def wait_synced(chain: LoadedChain, rpcs: Sequence[str], note: str = "", *, in_step: bool = False) -> Action:
    """Every node answers, they agree, none is behind (a new node: it has caught up); in_step: and keeps up."""
    manage = manage_chain()
    steps = f" --interval 1 --in_step {IN_STEP_SECONDS}" if in_step else ""
    return Action(
        (
            f"{manage} status --rpc {','.join(rpcs)} --chain_name {chain.chain} --wait_synced{steps} "
            f"--timeout {CAUGHT_UP_TIMEOUT}",
        ),
        note=note,
    )


def vote(
    chain: LoadedChain, verb: str, node: NodeState, rpcs: Sequence[str], admin: Admin | None, extra: str
) -> Action:
    """The super admin's validator change, skipped when every node already has it (--if_needed)."""
    manage = manage_chain()
    command = f"{manage} {verb} {node.address} --rpc {','.join(rpcs)} --chain_name {chain.chain}{extra}"
    if admin is None:
        folder = "with the super admin's account folder (or give --admin_dir)"
        return comment(f"{folder}: {command} --admin_dir DIR --if_needed")
    password = "" if admin.password_file is None else f" --admin_password_file {admin.password_file}"
    return Action((f"{command} --admin_dir {admin.folder}{password} --if_needed",))


def copy_stage(chain: LoadedChain, new: NodeState, work_dir: Path, kubectl: Kubectl, cluster: int | None) -> Stage:
    """The new node's folder onto its claim's storage; skipped once its StatefulSet exists (it may run on that copy)."""
    new_dir = names.node_dir(chain.chain, new.index)
    storage = claim_storage(work_dir, new.pvc_name)
    actions: list[Action] = []
    if storage is None:
        make = f"create_pvc.py nfs_pvc --nfs_server HOST --nfs_path PATH --pvc_name {new.pvc_name}"
        actions.append(comment(f"before this script: make the claim {new.pvc_name} ({make}), apply it", cluster))
        actions.append(comment(f"and copy {new_dir} onto its storage as {new_dir}", cluster))
    else:
        if not is_local(chain):
            apply = kubectl("apply", "-f", shell_quote(pvc_file(new.pvc_name)))
            actions.append(Action((apply,), cluster=cluster, note=f"the claim {new.pvc_name}"))
        guard = kubectl.exists("statefulset", names.node_name(chain.chain, new.index))
        commands = copy_commands(storage, new_dir, names.chain_dir(chain.chain))
        actions += [Action((command,), guard, cluster) for command in commands]
    return Stage(
        f"node{new.index}'s folder onto its claim's storage (skipped once node{new.index} exists)",
        tuple(actions),
        cluster,
    )


def add_node_stages(
    chain: LoadedChain,
    new: NodeState,
    work_dir: Path,
    reach: Reach,
    seed: Stage | None = None,
    why: str = "",
    keep: Callable[[str], str] | None = None,
) -> list[Stage]:
    """From written files to a running chain with one more validator; `seed` fills its folder from a stopped peer.

    `keep` runs the vote's wait beside the loop that offers the new node its proposals again (day2/keepup.py).
    """
    cluster = None if is_local(chain) else new.index
    where = {node.index: (None if is_local(chain) else node.index) for node in chain.nodes}
    new_kubectl = reach.kubectl[new.index]
    copied = copy_stage(chain, new, work_dir, new_kubectl, cluster)
    notes = (comment(why, cluster),) if why else ()
    stages = [Stage(copied.title, (*notes, *copied.actions), copied.cluster)]
    if seed is not None:
        stages.append(seed)
    learn = [syncthing_add(reach.kubectl[node.index], chain, node, new, where[node.index]) for node in chain.nodes]
    stages.append(Stage(f"the running nodes' syncthing learns node{new.index}'s device (at once)", tuple(learn)))
    yaml_file = names.chain_yaml(chain.chain) if is_local(chain) else names.node_yaml(chain.chain, new.index)
    start = (
        Action((new_kubectl("apply", "-f", shell_quote(yaml_file)),), cluster=cluster),
        Action(
            (
                new_kubectl(
                    "rollout",
                    "status",
                    f"statefulset/{names.node_name(chain.chain, new.index)}",
                    f"--timeout={READY_TIMEOUT}",
                ),
            ),
            cluster=cluster,
            note="its pod runs and is ready",
        ),
    )
    stages.append(
        Stage(
            f"start node{new.index} (its Service, Secret and StatefulSet; nothing else changes) and wait for it",
            start,
            cluster,
        )
    )
    copies = [
        action
        for node in chain.nodes
        for action in copied_files(reach.kubectl[node.index], chain, node, where[node.index])
    ]
    stages.append(
        Stage(
            f"the running nodes' new peer lists, read at their next start (node{new.index}'s name resolves now)",
            tuple(copies),
        )
    )
    forwards, rpcs = rpc_reach(chain, [*chain.nodes, new], reach)
    # Seeded, the new node is at the head: add_validator returns once it keeps up too, so it votes from then on.
    voted = f" --in_step {IN_STEP_SECONDS} --timeout {CAUGHT_UP_TIMEOUT}" if seed is not None else ""
    vote_in = vote(chain, "add_validator", new, rpcs, reach.admin, f" --node_rpc {rpcs[-1]}{voted}")
    if keep is not None and not vote_in.commands[0].startswith("#"):
        vote_in = Action((keep(vote_in.commands[0]),), note=f"node{new.index} is offered its proposals again meanwhile")
    in_step = wait_synced(
        chain,
        rpcs[:-1],
        f"every old node keeps up block by block: node{new.index} does not yet when the vote makes it a voter",
        in_step=True,
    )
    stages.append(
        Stage(
            f"wait until node{new.index} has caught up, then make it a validator",
            (*forwards, in_step, wait_synced(chain, rpcs), vote_in),
        )
    )
    replayed = new_kubectl("exec", names.pod_name(chain.chain, new.index), "-c", FILES_CONTAINER, "--")
    replayed += f" timeout {CAUGHT_UP_TIMEOUT} sh -c {shell_quote(REPLAYED)}"
    title = (
        f"node{new.index}'s raft takes the entries made since its seed (as fast as its controller holds their blocks, "
        "whatever the chain's age): take no node down before this returns"
        if seed is not None
        else "a new v5.0.0 validator replays raft's log before it votes: take no node down before this returns"
    )
    stages.append(Stage(title, (Action((replayed,), cluster=cluster),), cluster))
    return stages


def remove_node_stages(chain: LoadedChain, gone: NodeState, work_dir: Path, reach: Reach) -> list[Stage]:
    """From written files to a chain without the node; the others first stop naming it."""
    remaining = [node for node in chain.nodes if node.index != gone.index]
    where = {node.index: (None if is_local(chain) else node.index) for node in chain.nodes}
    forwards, rpcs = rpc_reach(chain, remaining, reach)
    check = vote(chain, "remove_validator", gone, rpcs, reach.admin, "")
    stages = [
        Stage(
            f"reach the nodes that stay; node{gone.index} must be no validator (nothing to do when it is not)",
            (*forwards, wait_synced(chain, rpcs), check),
        )
    ]
    forget = []
    for node in remaining:
        kubectl = reach.kubectl[node.index]
        forget += copied_files(kubectl, chain, node, where[node.index])
        forget.append(syncthing_remove(kubectl, chain, node, gone, where[node.index]))
    stages.append(
        Stage(
            f"every other node: its peer list without node{gone.index} (read at its next start), and syncthing",
            tuple(forget),
        )
    )
    cluster = where[gone.index]
    kubectl = reach.kubectl[gone.index]
    objects = [f"{kind}/{name}" for kind, name in node_objects(chain, gone.index)]
    stop = [Action((kubectl("delete", *objects, "--ignore-not-found"),), cluster=cluster)]
    if is_local(chain):
        stop.append(Action((kubectl("apply", "-f", shell_quote(names.chain_yaml(chain.chain))),)))
    else:  # each node's NetworkPolicy records the index that is never given again
        stop += [
            Action(
                (reach.kubectl[node.index]("apply", "-f", shell_quote(names.node_yaml(chain.chain, node.index))),),
                cluster=node.index,
            )
            for node in remaining
        ]
    stages.append(Stage(f"stop node{gone.index} and delete its objects", tuple(stop), cluster))
    storage = claim_storage(work_dir, gone.pvc_name)
    folder = names.node_dir(chain.chain, gone.index)
    if storage is None:
        wipe = [comment(f"delete {folder} from that cluster's storage by hand", cluster)]
    else:
        wipe = [Action((command,), cluster=cluster) for command in remove_commands(storage, folder)]
    stages.append(Stage(f"delete node{gone.index}'s folder from the storage: it holds its keys", tuple(wipe), cluster))
    stages.append(Stage(f"the chain goes on without node{gone.index}", (wait_synced(chain, rpcs),)))
    return stages


def node_objects(chain: LoadedChain, index: int) -> list[tuple[str, str]]:
    """(kind, name) of the objects of one node, as the chain's YAML holds them."""
    if not is_local(chain):
        return [
            ("statefulset", names.node_name(chain.chain, index)),
            ("secret", names.kms_secret(chain.chain, index)),
            ("secret", names.network_secret(chain.chain, index)),
            ("networkpolicy", names.node_network_policy(chain.chain, index)),
            ("service", names.lb_service(chain.chain, index)),
        ]
    objects = [
        ("statefulset", names.node_name(chain.chain, index)),
        ("service", names.node_name(chain.chain, index)),
        ("service", names.executor_service(chain.chain, index)),
        ("secret", names.network_secret(chain.chain, index)),
    ]
    if chain.need_monitor:
        objects.append(("service", names.monitor_service(chain.chain, index)))
    return objects
