"""Which Kubernetes objects a v6.7.4 chain gets: per node two Secrets, its pod, the Services that reach it.

Nodes find each other by zenoh over QUIC (UDP) at `<chain>-<i>`, the name in each node's TLS
certificate. In one cluster that name is the node's Service. In multi_cluster every cluster gets, for
each other node, a Service of that name that leads to the node's LoadBalancer: a selector-less
Service with an EndpointSlice for an IP address, an ExternalName Service for a host name. Either can
be changed while the pods run, so a node added later needs no restart of the others.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from runner_k8s import names
from runner_k8s.kube.nodes import (
    CHAIN_LABEL,
    CLUSTER_IP,
    LB_ID_ANNOTATION,
    LB_OVERRIDE_ANNOTATION,
    LOAD_BALANCER,
    NODE_LABEL,
    NODE_PORT,
    app_labels,
    node_selector,
    slot_port,
    version_label,
    with_retired,
)
from runner_k8s.kube.objects import (
    UDP,
    Manifest,
    build_external_name,
    build_headless_peer,
    build_network_policy,
    build_secret,
    build_service,
    build_statefulset,
    in_namespace,
    policy_ports,
    service_port,
)
from runner_k8s.ports import LOCAL_LAYOUT, MULTI_LAYOUT, ContainerPort, Slot, external_port
from runner_k8s.releases.v6_7_4.config import (
    CONFIG_FILE,
    NODE_ADDRESS_FILE,
    PRIVATE_KEY_FILE,
    VALIDATOR_ADDRESS_FILE,
)
from runner_k8s.releases.v6_7_4.pods import NodePod, build_pod_spec

RELEASE_ANNOTATION = "runner-k8s/release"
CONSENSUS_ANNOTATION = "runner-k8s/consensus"
LOCAL_SLOTS = (Slot.RPC, Slot.CALL)
MULTI_SLOTS = (Slot.NETWORK, Slot.RPC, Slot.CALL)


@dataclass(frozen=True)
class NodeSecrets:
    """What a node's two Secrets hold: its config.toml (TLS key inside) and account files."""

    config_toml: bytes
    node_address: str
    validator_address: str
    private_key: str

    def __repr__(self) -> str:
        return f"NodeSecrets(node_address={self.node_address})"


@dataclass(frozen=True)
class RemotePeer:
    """Another cluster's node as this cluster reaches it: its LoadBalancer host and network port."""

    index: int
    host: str
    port: int


def labels(pod: NodePod, component: str) -> dict[str, str]:
    """The app.kubernetes.io labels of a chain's objects, versioned by the controller's image."""
    return app_labels(pod.chain, component, version_label(pod.images.image_of("controller", pod.consensus)))


def slots_of(pod: NodePod, base: Sequence[Slot]) -> list[Slot]:
    """The exposed slots: the layout's own, and the debug port when the debug container runs (multi)."""
    return [*base, Slot.DEBUG] if pod.need_debug and base is MULTI_SLOTS else list(base)


def build_node_statefulset(pod: NodePod) -> Manifest:
    """A node's StatefulSet, annotated with the release and consensus a later run reads back."""
    statefulset = build_statefulset(
        pod.name,
        {NODE_LABEL: pod.name, CHAIN_LABEL: pod.chain, **labels(pod, "node")},
        node_selector(pod.chain, pod.index),
        pod.name,
        build_pod_spec(pod),
    )
    annotations = {RELEASE_ANNOTATION: "v6.7.4", CONSENSUS_ANNOTATION: pod.consensus.value}
    return {**statefulset, "metadata": {**statefulset["metadata"], "annotations": annotations}}


def node_secrets(pod: NodePod, secrets: NodeSecrets) -> list[Manifest]:
    """The config Secret (mounted by every service) and the account Secret (controller, overlord)."""
    config = {
        CONFIG_FILE: secrets.config_toml,
        NODE_ADDRESS_FILE: secrets.node_address.encode("ascii"),
        VALIDATOR_ADDRESS_FILE: secrets.validator_address.encode("ascii"),
    }
    return [
        build_secret(names.config_secret(pod.chain, pod.index), config, labels(pod, "config")),
        build_secret(
            names.account_secret(pod.chain, pod.index),
            {PRIVATE_KEY_FILE: secrets.private_key.encode("ascii")},
            labels(pod, "account"),
        ),
    ]


def network_policy(
    name: str, pod: NodePod, selector: Mapping[str, str], peers: bool, published: Sequence[Slot]
) -> Manifest:
    """Ingress to the published ports from anywhere and, with `peers`, zenoh (UDP) from the chain's own pods."""
    rules: list[Manifest] = []
    if peers:
        rules.append(
            {
                "from": [{"podSelector": {"matchLabels": {CHAIN_LABEL: pod.chain}}}],
                "ports": policy_ports([int(ContainerPort.P2P)], UDP),
            }
        )
    tcp = [slot.target for slot in published if slot is not Slot.NETWORK]
    udp = [slot.target for slot in published if slot is Slot.NETWORK]
    rules.append({"ports": policy_ports(tcp) + policy_ports(udp, UDP)})
    return build_network_policy(name, labels(pod, "network-policy"), selector, rules)


def local_manifests(
    pods: Sequence[NodePod],
    secrets: Sequence[NodeSecrets],
    *,
    node_port: int,
    namespace: str | None = None,
    retired: Sequence[int] = (),
) -> Iterator[Manifest]:
    """Every object of a single-cluster v6.7.4 chain; `retired` are removed nodes' indices."""
    first = pods[0]
    chain = first.chain
    documents: list[Manifest] = [
        with_retired(
            network_policy(names.chain_network_policy(chain), first, {CHAIN_LABEL: chain}, True, LOCAL_SLOTS),
            retired,
        ),
        build_service(
            names.rpc_service(chain),
            NODE_PORT,
            [slot_port(Slot.RPC, external_port(LOCAL_LAYOUT, node_port, Slot.RPC), NODE_PORT)],
            {CHAIN_LABEL: chain},
            labels(first, "rpc"),
        ),
    ]
    for pod, secret in zip(pods, secrets, strict=True):
        documents += node_secrets(pod, secret)
        documents.append(
            build_service(
                pod.name,
                CLUSTER_IP,
                [service_port("network", int(ContainerPort.P2P), int(ContainerPort.P2P), protocol=UDP)],
                node_selector(chain, pod.index),
                labels(pod, "node"),
            )
        )
        documents.append(build_node_statefulset(pod))
        call = external_port(LOCAL_LAYOUT, node_port, Slot.CALL, pod.index)
        documents.append(
            build_service(
                names.executor_service(chain, pod.index),
                NODE_PORT,
                [slot_port(Slot.CALL, call, NODE_PORT)],
                node_selector(chain, pod.index),
                labels(pod, "executor"),
            )
        )
    for document in documents:
        yield in_namespace(document, namespace)


def peer_objects(pod: NodePod, peer: RemotePeer) -> list[Manifest]:
    """In this node's cluster: the name `<chain>-<j>` leading to node j's LoadBalancer."""
    name = names.node_name(pod.chain, peer.index)
    try:
        address = str(ipaddress.ip_address(peer.host))
    except ValueError:
        return [build_external_name(name, labels(pod, "peer"), peer.host)]
    endpoints = names.peer_endpoints(pod.chain, peer.index)
    return build_headless_peer(name, endpoints, labels(pod, "peer"), "network", address, peer.port, UDP)


def multi_node_manifests(
    pod: NodePod,
    secrets: NodeSecrets,
    *,
    base: int,
    lb_token: str,
    peers: Sequence[RemotePeer],
    namespace: str | None = None,
    retired: Sequence[int] = (),
) -> list[Manifest]:
    """The objects of one node of a multi-cluster v6.7.4 chain (its own YAML file)."""
    published = slots_of(pod, MULTI_SLOTS)
    ports = [
        {**slot_port(slot, external_port(MULTI_LAYOUT, base, slot), LOAD_BALANCER), "protocol": UDP}
        if slot is Slot.NETWORK
        else slot_port(slot, external_port(MULTI_LAYOUT, base, slot), LOAD_BALANCER)
        for slot in published
    ]
    selector = node_selector(pod.chain, pod.index)
    documents = [
        *node_secrets(pod, secrets),
        # Peers arrive through the LoadBalancer from other clusters, usually source-NATed: every
        # published port is open to all; the others (storage, consensus...) stay shut.
        with_retired(
            network_policy(names.node_network_policy(pod.chain, pod.index), pod, selector, False, published), retired
        ),
        build_node_statefulset(pod),
        build_service(
            names.lb_service(pod.chain, pod.index),
            LOAD_BALANCER,
            ports,
            selector,
            labels(pod, "node"),
            annotations={LB_ID_ANNOTATION: lb_token, LB_OVERRIDE_ANNOTATION: "true"},
        ),
    ]
    for peer in peers:
        documents += peer_objects(pod, peer)
    return [in_namespace(document, namespace) for document in documents]
