"""Plan a loaded chain again for a set of nodes: its YAML, and the node files that name the other nodes.

The create verbs' planners do the work; this module only feeds them what chainload read back. A
loaded chain is first planned for its own nodes and must come out exactly as it is on disk
(`check_unchanged`), so a day-2 change rewrites nothing it does not understand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runner_k8s import names
from runner_k8s.day2.chainfiles import read_file
from runner_k8s.day2.chainload import LOCAL_KIND, LoadedChain, NodeState
from runner_k8s.errors import InputError
from runner_k8s.kube.objects import Manifest
from runner_k8s.kube.yamltext import render_yaml
from runner_k8s.ports import MULTI_LAYOUT, ContainerPort, Slot, external_port
from runner_k8s.releases.v5_0_0.manifests import local_manifests, multi_node_manifests
from runner_k8s.releases.v5_0_0.nodefiles import CONFIG_DIR, CONFIG_XML, ChainFiles, NetworkConfigs, Peer
from runner_k8s.releases.v5_0_0.pods import NodePod
from runner_k8s.releases.v5_0_0.syncconfig import API_KEY_SLOT, SyncDevice, render_config_xml, with_api_key

NETWORK_CONFIG = "network-config.toml"


def is_local(chain: LoadedChain) -> bool:
    """Whether the chain was made by local_cluster (one cluster, one YAML)."""
    return chain.kind == LOCAL_KIND


def node_pod(chain: LoadedChain, node: NodeState) -> NodePod:
    """The inputs of a node's StatefulSet, as the create verbs build them."""
    return NodePod(
        chain=chain.chain,
        index=node.index,
        services=chain.services,
        pvc_name=node.pvc_name,
        kms_secret=names.kms_secret(chain.chain) if is_local(chain) else names.kms_secret(chain.chain, node.index),
        need_monitor=chain.need_monitor,
        need_debug=chain.need_debug,
        state_db_user=chain.state_db_user,
    )


def plan_manifests(chain: LoadedChain, nodes: Sequence[NodeState], retired: Sequence[int]) -> dict[str, list[Manifest]]:
    """YAML file -> its objects, for the chain made of `nodes` (multi_cluster: one file per node)."""
    if is_local(chain):
        assert chain.node_port is not None
        documents = local_manifests(
            [node_pod(chain, node) for node in nodes],
            kms_password=nodes[0].kms_password,
            state_db_password=chain.state_db_password,
            node_port=chain.node_port,
            network_keys=[node.network_key for node in nodes],
            namespace=chain.namespace,
            retired=retired,
        )
        return {names.chain_yaml(chain.chain): list(documents)}
    planned = {}
    for node in nodes:
        assert node.base_port is not None and node.lb_token is not None
        planned[names.node_yaml(chain.chain, node.index)] = multi_node_manifests(
            node_pod(chain, node),
            kms_password=node.kms_password,
            state_db_password=chain.state_db_password,
            network_key=node.network_key,
            base=node.base_port,
            lb_token=node.lb_token,
            namespace=chain.namespace,
            retired=retired,
        )
    return planned


def peer_of(chain: LoadedChain, node: NodeState) -> tuple[Peer, SyncDevice]:
    """How the other nodes reach a node: its network service, and its syncthing device."""
    if is_local(chain):
        host = names.node_name(chain.chain, node.index)
        return Peer(host, int(ContainerPort.P2P)), SyncDevice(node.device_id, host, host, int(ContainerPort.SYNC))
    assert node.host is not None and node.base_port is not None
    network = external_port(MULTI_LAYOUT, node.base_port, Slot.NETWORK)
    sync = external_port(MULTI_LAYOUT, node.base_port, Slot.SYNC)
    return Peer(node.host, network), SyncDevice(node.device_id, node.host, node.host, sync)


def plan_node_files(chain: LoadedChain, nodes: Sequence[NodeState]) -> dict[str, bytes]:
    """Path -> bytes of every node's network-config.toml and config/config.xml, for the chain made of `nodes`."""
    reached = [peer_of(chain, node) for node in nodes]
    network = NetworkConfigs(chain.enable_tls, [peer for peer, _ in reached])
    config_xml = render_config_xml(API_KEY_SLOT, [device for _, device in reached])
    planned = {}
    for position, node in enumerate(nodes):
        folder = names.node_dir(chain.chain, node.index)
        planned[f"{folder}/{NETWORK_CONFIG}"] = network.for_node(position)
        planned[f"{folder}/{CONFIG_DIR}/{CONFIG_XML}"] = with_api_key(config_xml, node.api_key)
    return planned


def chain_files(chain: LoadedChain) -> ChainFiles:
    """The files a new node shares byte for byte with the others (the chain's genesis and configs)."""
    return ChainFiles(
        genesis=chain.shared["genesis.toml"],
        init_sys_config=chain.shared["init_sys_config.toml"],
        controller_config=chain.shared["controller-config.toml"],
        enable_tls=chain.enable_tls,
    )


def rendered(document: Manifest) -> bytes:
    """One object as render_yaml writes it in a file (a `---` line first)."""
    return render_yaml([document])


def unlike(present: Sequence[tuple[str, str]], wanted: Sequence[tuple[str, str]], chain: str) -> str:
    """How a YAML file's objects differ from those runner_k8s makes for the chain (they differ)."""
    missing = [key for key in wanted if key not in present]
    if missing:
        return (
            f"{' '.join(missing[0])} is missing (deleted by hand?); a change would write it again, so nothing was "
            "done: restore the file"
        )
    added = [key for key in present if key not in wanted]
    if added:
        return (
            f"{' '.join(added[0])} is not one runner_k8s makes for chain {chain!r} (added by hand?); a change would "
            "drop it, so nothing was done: move it to a file of its own"
        )
    return (
        "its objects are not in the order runner_k8s writes them (edited by hand?); a change would replace it, so "
        "nothing was done: restore the file"
    )


def check_unchanged(work_dir: Path, chain: LoadedChain) -> None:
    """What a change reads or rewrites is exactly what this tool wrote (else it would change what it did not mean to).

    The objects a change carries over untouched are copied byte for byte instead, so they need no check.
    """
    planned = plan_manifests(chain, chain.nodes, chain.retired)
    for file_name, chunks in chain.documents.items():
        wanted = {(doc["kind"], doc["metadata"]["name"]): doc for doc in planned.get(file_name, [])}
        present = [(chunk.kind, chunk.name) for chunk in chunks]
        if present != list(wanted):
            raise InputError(f"{work_dir / file_name}: {unlike(present, list(wanted), chain.chain)}")
        for chunk in chunks:
            if chunk.read and rendered(wanted[(chunk.kind, chunk.name)]) != chunk.text:
                raise InputError(
                    f"{work_dir / file_name}: {chunk.kind} {chunk.name} is not what runner_k8s makes for chain "
                    f"{chain.chain!r} (edited by hand?); a change would replace it, so nothing was done: restore "
                    "the file"
                )
    for path, data in plan_node_files(chain, chain.nodes).items():
        if read_file(work_dir / path) != data:
            raise InputError(
                f"{work_dir / path} is not what runner_k8s wrote for chain {chain.chain!r} (edited by hand?); "
                "a change would replace it, so nothing was done: restore the file"
            )


def plan_yaml(chain: LoadedChain, nodes: Sequence[NodeState], retired: Sequence[int]) -> dict[str, bytes]:
    """File -> new text, for each YAML file the chain of `nodes` needs written (multi: only those that change).

    Objects that stay as they were keep their exact text; new and changed ones are rendered.
    """
    planned = plan_manifests(chain, nodes, retired)
    changed_policy = tuple(sorted(retired)) != tuple(sorted(chain.retired))
    written = {}
    for file_name, documents in planned.items():
        old = {(chunk.kind, chunk.name): chunk.text for chunk in chain.documents.get(file_name, [])}
        parts = []
        for doc in documents:
            key = (doc["kind"], doc["metadata"]["name"])
            keep = key in old and not (changed_policy and doc["kind"] == "NetworkPolicy")
            parts.append(old[key] if keep else rendered(doc))
        text = b"".join(parts)
        if text != b"".join(old.values()) or file_name not in chain.documents:
            written[file_name] = text
    return written
