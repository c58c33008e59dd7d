"""The CITA-Cloud composition: which Kubernetes objects a chain gets, with their labels (contracts.md §6)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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
    Manifest,
    build_network_policy,
    build_secret,
    build_service,
    build_statefulset,
    in_namespace,
    policy_ports,
    service_port,
)
from runner_k8s.ports import LOCAL_LAYOUT, MULTI_LAYOUT, ContainerPort, Slot, external_port
from runner_k8s.releases.v5_0_0.pods import (
    KMS_KEY_FILE,
    NETWORK_KEY_FILE,
    STATE_DB_PASSWORD_KEY,
    NodePod,
    build_pod_spec,
)
from runner_k8s.releases.v5_0_0.serviceconfig import ServiceConfig


def app_version(services: ServiceConfig) -> str:
    """`app.kubernetes.io/version`: the controller image's tag (v5.0.0), or `untagged`."""
    return version_label(services.get("controller").image)


def chain_labels(chain: str, component: str, services: ServiceConfig) -> dict[str, str]:
    """The app.kubernetes.io labels every object of the chain carries."""
    return app_labels(chain, component, app_version(services))


def node_labels(pod: NodePod) -> dict[str, str]:
    """Labels of a node's StatefulSet and pod: the selector labels, then the app.kubernetes.io ones."""
    return {
        NODE_LABEL: pod.name,
        CHAIN_LABEL: pod.chain,
        **chain_labels(pod.chain, "node", pod.services),
    }


def build_node_statefulset(pod: NodePod) -> Manifest:
    """A node's StatefulSet: one replica of its pod over the existing claim."""
    return build_statefulset(
        pod.name,
        node_labels(pod),
        node_selector(pod.chain, pod.index),
        names.node_name(pod.chain, pod.index),
        build_pod_spec(pod),
    )


def build_chain_secret(pod: NodePod, password: str, state_db_password: str) -> Manifest:
    """The chain's Secret: the kms password (mounted as /kms/key_file) and, for CouchDB, its password."""
    data = {KMS_KEY_FILE: password.encode("utf-8")}
    if pod.has_state_db:
        data[STATE_DB_PASSWORD_KEY] = state_db_password.encode("utf-8")
    return build_secret(pod.kms_secret, data, chain_labels(pod.chain, "kms", pod.services))


def build_network_secret(pod: NodePod, network_key: str) -> Manifest:
    """A node's network key Secret, mounted as /network/network-key."""
    return build_secret(
        names.network_secret(pod.chain, pod.index),
        {NETWORK_KEY_FILE: network_key.encode("ascii")},
        chain_labels(pod.chain, "network", pod.services),
    )


def build_network_policy_of(
    name: str, pod: NodePod, selector: dict[str, str], peers_port_rule: bool, published: Sequence[Slot]
) -> Manifest:
    """Ingress only to the published ports from anywhere and, with `peers_port_rule`, p2p/sync from the chain's pods."""
    rules: list[Manifest] = []
    if peers_port_rule:
        rules.append(
            {
                "from": [{"podSelector": {"matchLabels": {CHAIN_LABEL: pod.chain}}}],
                "ports": policy_ports([int(ContainerPort.P2P), int(ContainerPort.SYNC)]),
            }
        )
    rules.append({"ports": policy_ports(slot.target for slot in published)})
    return build_network_policy(name, chain_labels(pod.chain, "network-policy", pod.services), selector, rules)


def local_manifests(
    pods: Sequence[NodePod],
    *,
    kms_password: str,
    state_db_password: str,
    node_port: int,
    network_keys: Sequence[str],
    namespace: str | None = None,
    retired: Sequence[int] = (),
) -> Iterator[Manifest]:
    """Every object of a single-cluster chain, in the documented order; `retired` are removed nodes' indices."""
    for document in _local_manifests(pods, kms_password, state_db_password, node_port, network_keys, retired):
        yield in_namespace(document, namespace)


def _local_manifests(
    pods: Sequence[NodePod],
    kms_password: str,
    state_db_password: str,
    node_port: int,
    network_keys: Sequence[str],
    retired: Sequence[int],
) -> Iterator[Manifest]:
    first = pods[0]
    chain, services = first.chain, first.services
    yield build_chain_secret(first, kms_password, state_db_password)
    # p2p and sync only from the chain's own pods; the NodePort targets from anywhere; nothing else.
    published = [slot for slot in first.slots_in_use(LOCAL_LAYOUT)]
    policy = build_network_policy_of(
        names.chain_network_policy(chain), first, {CHAIN_LABEL: chain}, peers_port_rule=True, published=published
    )
    yield with_retired(policy, retired)
    rpc = external_port(LOCAL_LAYOUT, node_port, Slot.RPC)
    yield build_service(
        names.rpc_service(chain),
        NODE_PORT,
        [slot_port(Slot.RPC, rpc, NODE_PORT)],
        {CHAIN_LABEL: chain},
        chain_labels(chain, "rpc", services),
    )
    for pod, network_key in zip(pods, network_keys, strict=True):
        index = pod.index
        yield build_network_secret(pod, network_key)
        yield build_service(
            names.node_name(chain, index),
            CLUSTER_IP,
            [
                service_port("network", int(ContainerPort.P2P), int(ContainerPort.P2P)),
                service_port("syncthing", int(ContainerPort.SYNC), int(ContainerPort.SYNC)),
            ],
            node_selector(chain, index),
            chain_labels(chain, "node", services),
        )
        yield build_node_statefulset(pod)
        used = pod.slots_in_use(LOCAL_LAYOUT)
        monitor_slots = [slot for slot in (Slot.PROCESS, Slot.EXPORTER) if slot in used]
        if monitor_slots:
            yield _node_port_service(names.monitor_service(chain, index), "monitor", pod, node_port, monitor_slots)
        executor_slots = [slot for slot in (Slot.CALL, Slot.CHAINCODE, Slot.EVENTHUB) if slot in used]
        yield _node_port_service(names.executor_service(chain, index), "executor", pod, node_port, executor_slots)


def _node_port_service(name: str, component: str, pod: NodePod, base: int, slots: Sequence[Slot]) -> Manifest:
    ports = [slot_port(slot, external_port(LOCAL_LAYOUT, base, slot, pod.index), NODE_PORT) for slot in slots]
    return build_service(
        name, NODE_PORT, ports, node_selector(pod.chain, pod.index), chain_labels(pod.chain, component, pod.services)
    )


def multi_node_manifests(
    pod: NodePod,
    *,
    kms_password: str,
    state_db_password: str,
    network_key: str,
    base: int,
    lb_token: str,
    namespace: str | None = None,
    retired: Sequence[int] = (),
) -> list[Manifest]:
    """The objects of one node of a multi-cluster chain (its own YAML file); `retired` as for local_manifests."""
    used = pod.slots_in_use(MULTI_LAYOUT)
    ports = [slot_port(slot, external_port(MULTI_LAYOUT, base, slot, pod.index), LOAD_BALANCER) for slot in used]
    selector = node_selector(pod.chain, pod.index)
    documents = [
        build_chain_secret(pod, kms_password, state_db_password),
        build_network_secret(pod, network_key),
        # The peers arrive through their LoadBalancers from other clusters, usually source-NATed:
        # every published port is open to all; only the unpublished ones (kms, consensus...) are shut.
        with_retired(
            build_network_policy_of(
                names.node_network_policy(pod.chain, pod.index), pod, selector, peers_port_rule=False, published=used
            ),
            retired,
        ),
        build_node_statefulset(pod),
        build_service(
            names.lb_service(pod.chain, pod.index),
            LOAD_BALANCER,
            ports,
            selector,
            chain_labels(pod.chain, "node", pod.services),
            annotations={LB_ID_ANNOTATION: lb_token, LB_OVERRIDE_ANNOTATION: "true"},
        ),
    ]
    return [in_namespace(document, namespace) for document in documents]
