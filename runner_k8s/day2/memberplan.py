"""The printed plan of add_node and remove_node: the steps an operator follows, never costing quorum.

What the v5.0.0 services re-read decides the steps (README, "Adding and removing nodes"): network_p2p
reads its peers only at start but takes connections from any node, and syncthing changes its devices
at runtime through its own CLI on the pod's loopback. So no running node restarts: each gets its new
files for its next start, syncthing learns the new device at once, and the new node dials the others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.chainload import LoadedChain, NodeState
from runner_k8s.day2.membership import NETWORK_CONFIG, is_local, peer_of
from runner_k8s.flags import shell_quote, shown_path
from runner_k8s.ports import MULTI_LAYOUT, ContainerPort, Slot, external_port
from runner_k8s.releases.v5_0_0.nodefiles import CONFIG_DIR, CONFIG_XML
from runner_k8s.releases.v5_0_0.pods import DATA_PATH, SYNC_PATH
from runner_k8s.releases.v5_0_0.syncconfig import SYNC_FOLDERS
from runner_k8s.report.nextsteps import copy_commands, pvc_steps, remove_commands, script_command
from runner_k8s.report.reports import Step

LOCAL_RPC_PORT = 50100  # kubectl port-forward puts node i's RPC on 127.0.0.1:LOCAL_RPC_PORT + i
FILES_CONTAINER = "controller"  # a container with the node folder at /data and tar (for kubectl cp)
SYNCTHING_CLI = f"syncthing cli --home {SYNC_PATH}/{CONFIG_DIR} config"
CAUGHT_UP_TIMEOUT = 900


def in_namespace(chain: LoadedChain) -> str:
    """` -n <namespace>` for kubectl, when the chain has one."""
    return f" -n {shell_quote(chain.namespace)}" if chain.namespace else ""


def changed_files_of(chain: LoadedChain, work_dir: Path, node: NodeState, cluster: int | None) -> list[Step]:
    """A running node's new peer list and syncthing config, copied into its pod (read at its next start)."""
    pod, ns = names.pod_name(chain.chain, node.index), in_namespace(chain)
    folder = names.node_dir(chain.chain, node.index)
    copies = []
    for relative in (NETWORK_CONFIG, f"{CONFIG_DIR}/{CONFIG_XML}"):
        source = shell_quote(shown_path(work_dir, f"{folder}/{relative}"))
        copies.append(Step(f"kubectl cp {source} {pod}:{DATA_PATH}/{relative} -c {FILES_CONTAINER}{ns}", cluster))
    return copies


def syncthing_add(chain: LoadedChain, node: NodeState, new: NodeState, cluster: int | None) -> Step:
    """Tell a running node's syncthing about the new device and share the three folders with it."""
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
    return Step(
        f"kubectl exec {pod} -c syncthing{in_namespace(chain)} -- sh -c {shell_quote(script)} "
        f"{shell_quote(added)} {shell_quote(shared)}",
        cluster,
    )


def syncthing_remove(chain: LoadedChain, node: NodeState, gone: NodeState, cluster: int | None) -> Step:
    """Have a running node's syncthing forget a removed device (and stop sharing the folders with it)."""
    script = (
        f'for folder in {" ".join(SYNC_FOLDERS)}; do {SYNCTHING_CLI} folders "$folder" devices "$0" delete; done; '
        f'{SYNCTHING_CLI} devices "$0" delete'
    )
    pod = names.pod_name(chain.chain, node.index)
    return Step(
        f"kubectl exec {pod} -c syncthing{in_namespace(chain)} -- sh -c {shell_quote(script)} {gone.device_id}",
        cluster,
    )


def rpc_addresses(chain: LoadedChain, nodes: Sequence[NodeState]) -> tuple[list[Step], list[str]]:
    """How this machine reaches every node's RPC: port-forwards (local_cluster) or the LoadBalancers."""
    if not is_local(chain):
        found = []
        for node in nodes:
            assert node.host is not None and node.base_port is not None
            host = f"[{node.host}]" if ":" in node.host else node.host
            found.append(f"{host}:{external_port(MULTI_LAYOUT, node.base_port, Slot.RPC)}")
        return [], found
    forwards = [
        Step(
            f"kubectl port-forward{in_namespace(chain)} pod/{names.pod_name(chain.chain, node.index)} "
            f"{LOCAL_RPC_PORT + node.index}:{int(ContainerPort.CONTROLLER)} >/dev/null &"
        )
        for node in nodes
    ]
    return forwards, [f"127.0.0.1:{LOCAL_RPC_PORT + node.index}" for node in nodes]


def add_node_steps(chain: LoadedChain, new: NodeState, work_dir: Path) -> list[Step]:
    """From written files to a running chain with one more validator."""
    cluster = None if is_local(chain) else new.index
    new_dir = names.node_dir(chain.chain, new.index)
    steps = [Step(f"# 1. node{new.index}'s folder onto its claim's storage, and its objects into the cluster", cluster)]
    storage, claim_steps = pvc_steps(new.pvc_name, work_dir, "nfs_pvc --nfs_server HOST --nfs_path PATH")
    if not is_local(chain):
        steps += [Step(command, cluster) for command in claim_steps]
    if storage is None:
        steps.append(Step(f"# copy {shown_path(work_dir, new_dir)} onto that storage as {new_dir}", cluster))
    else:
        steps += [
            Step(command, cluster)
            for command in copy_commands(storage, shown_path(work_dir, new_dir), names.chain_dir(chain.chain))
        ]
    yaml_file = names.chain_yaml(chain.chain) if is_local(chain) else names.node_yaml(chain.chain, new.index)
    apply = Step(f"kubectl apply -f {shell_quote(shown_path(work_dir, yaml_file))}", cluster)
    steps.append(Step("# 2. every running node: its new files (read at its next start) and syncthing's new device"))
    for node in chain.nodes:
        where = None if is_local(chain) else node.index
        steps += [*changed_files_of(chain, work_dir, node, where), syncthing_add(chain, node, new, where)]
    steps += [Step(f"# 3. start node{new.index}; it dials the others, who take it without a restart", cluster), apply]
    return steps + validator_steps(chain, [*chain.nodes, new], new)


def validator_steps(chain: LoadedChain, nodes: Sequence[NodeState], new: NodeState) -> list[Step]:
    """Wait until the new node has caught up, then vote it in (the super admin signs)."""
    forwards, rpcs = rpc_addresses(chain, nodes)
    manage = script_command("manage_chain.py")
    everyone = ",".join(rpcs)
    steps = [Step(f"# 4. wait until node{new.index} has caught up, then make it a validator")]
    steps += forwards
    steps.append(Step(f"{manage} status --rpc {everyone} --wait_synced --timeout {CAUGHT_UP_TIMEOUT}"))
    vote = f"{manage} add_validator {new.address} --rpc {everyone} --node_rpc {rpcs[-1]}"
    replayed = replay_wait(chain, new)
    if is_local(chain):
        # The super admin's password is the chain's kms password: read from the chain's Secret, never printed.
        secret = names.kms_secret(chain.chain)
        password = f"kubectl get secret {secret}{in_namespace(chain)} -o jsonpath='{{.data.key_file}}' | base64 -d"
        admin = shell_quote(names.admin_dir(chain.chain))
        steps.append(Step(f"{vote} --admin_dir {admin} --admin_password_file <({password})"))
        steps += [Step(REPLAY_NOTE), replayed]
    else:
        steps.append(Step(f"# then, with the super admin's account folder (asks its password): {vote} --admin_dir DIR"))
        steps += [Step(f"{REPLAY_NOTE}:"), Step(f"# {replayed.command}", replayed.node)]
    if forwards:
        steps.append(Step("kill $(jobs -p)  # the port-forwards"))
    return steps


REPLAY_NOTE = (
    "# 5. a new v5.0.0 validator replays raft's log from its first entry, and votes only then: take no node "
    "down before this returns"
)
# In the new node's controller container: its last committed height against the newest block it synced.
REPLAYED = (
    'until [ "$(grep -o "commit_block height [0-9]*" logs/controller-service.log | tail -n 1 | cut -d " " -f 3)" '
    '-ge "$(ls blocks | sort -n | tail -n 1)" ] 2>/dev/null; do sleep 2; done'
)


def replay_wait(chain: LoadedChain, new: NodeState) -> Step:
    """Wait until the new validator's consensus has caught up with the chain (its controller's log says so)."""
    pod = names.pod_name(chain.chain, new.index)
    command = f"kubectl exec {pod} -c {FILES_CONTAINER}{in_namespace(chain)} -- timeout {CAUGHT_UP_TIMEOUT} sh -c "
    return Step(command + shell_quote(REPLAYED), None if is_local(chain) else new.index)


def remove_node_steps(chain: LoadedChain, gone: NodeState, work_dir: Path) -> list[Step]:
    """From written files to a chain without the node; the others first learn it is gone."""
    remaining = [node for node in chain.nodes if node.index != gone.index]
    steps = [
        Step(f"# 1. every other node: its peer list without node{gone.index} (read at its next start) and syncthing")
    ]
    for node in remaining:
        where = None if is_local(chain) else node.index
        steps += [*changed_files_of(chain, work_dir, node, where), syncthing_remove(chain, node, gone, where)]
    cluster = None if is_local(chain) else gone.index
    ns = in_namespace(chain)
    objects = [f"statefulset/{names.node_name(chain.chain, gone.index)}"]
    if is_local(chain):
        objects += [
            f"service/{names.node_name(chain.chain, gone.index)}",
            f"service/{names.executor_service(chain.chain, gone.index)}",
            f"secret/{names.network_secret(chain.chain, gone.index)}",
        ]
        if chain.need_monitor:
            objects.append(f"service/{names.monitor_service(chain.chain, gone.index)}")
    else:
        objects = [f"{kind}/{name}" for kind, name in multi_objects(chain.chain, gone.index)]
    steps.append(Step(f"# 2. stop node{gone.index} and delete its objects", cluster))
    steps.append(Step(f"kubectl delete {' '.join(objects)}{ns} --ignore-not-found", cluster))
    if is_local(chain):
        steps.append(Step(f"kubectl apply -f {shell_quote(shown_path(work_dir, names.chain_yaml(chain.chain)))}"))
    storage, _ = pvc_steps(gone.pvc_name, work_dir, "local_pvc")
    folder = names.node_dir(chain.chain, gone.index)
    steps.append(Step(f"# 3. delete node{gone.index}'s folder from the storage: it holds its keys", cluster))
    if storage is None:
        steps.append(Step(f"# delete {folder} from that cluster's storage", cluster))
    else:
        steps += [Step(command, cluster) for command in remove_commands(storage, folder)]
    return steps


def multi_objects(chain: str, index: int) -> list[tuple[str, str]]:
    """(kind, name) of a multi_cluster node's objects, as its YAML holds them."""
    return [
        ("secret", names.kms_secret(chain, index)),
        ("secret", names.network_secret(chain, index)),
        ("networkpolicy", names.node_network_policy(chain, index)),
        ("service", names.lb_service(chain, index)),
    ]
