"""What every release's node objects share: names of labels and Service types, selectors, ports, probes, hardening."""

from __future__ import annotations

import re
from collections.abc import Sequence

from runner_k8s import names
from runner_k8s.kube.images import image_tag
from runner_k8s.kube.objects import Manifest, service_port
from runner_k8s.ports import Slot

LB_ID_ANNOTATION = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"
LB_OVERRIDE_ANNOTATION = "service.beta.kubernetes.io/alicloud-loadbalancer-force-override-listeners"
CLUSTER_IP = "ClusterIP"
NODE_PORT = "NodePort"
LOAD_BALANCER = "LoadBalancer"

# app.kubernetes.io labels: one selector (`app.kubernetes.io/instance=<chain>`) finds every object of a chain.
APP_NAME = "cita-cloud-node"
PART_OF = "cita-cloud"
MANAGED_BY = "runner_k8s"
INSTANCE_LABEL = "app.kubernetes.io/instance"
# On the chain's (local) or every node's (multi) NetworkPolicy: indices of nodes remove_node took away.
RETIRED_ANNOTATION = "runner-k8s/retired-nodes"
LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
CHAIN_LABEL = "chain_name"
NODE_LABEL = "node_name"

# Probes: the services may take minutes to start (the controller waits for the others, syncthing scans).
STARTUP = {"periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 30}
READINESS = {"periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
LIVENESS = {"periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3}
POD_SECURITY = {"seccompProfile": {"type": "RuntimeDefault"}}


def version_label(image: str) -> str:
    """`app.kubernetes.io/version`: an image's tag (v5.0.0, v6.7.4), or `untagged`."""
    tag = image_tag(image)
    return tag if tag is not None and LABEL_VALUE.fullmatch(tag) else "untagged"


def app_labels(chain: str, component: str, version: str) -> dict[str, str]:
    """The app.kubernetes.io labels every object of the chain carries."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        INSTANCE_LABEL: chain,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/version": version,
    }


def node_selector(chain: str, index: int) -> dict[str, str]:
    """Selects one node's pod."""
    return {NODE_LABEL: names.node_name(chain, index)}


def with_retired(policy: Manifest, retired: Sequence[int]) -> Manifest:
    """The policy, annotated with the indices of removed nodes (never given to a new node) when there are any."""
    if not retired:
        return policy
    annotations = {RETIRED_ANNOTATION: ",".join(str(index) for index in sorted(retired))}
    return {**policy, "metadata": {**policy["metadata"], "annotations": annotations}}


def slot_port(slot: Slot, external: int, service_type: str) -> Manifest:
    """A Service port of `slot`: a NodePort on the container's port, else the external port itself."""
    if service_type == NODE_PORT:
        return service_port(slot.port_name, slot.target, slot.target, external)
    return service_port(slot.port_name, external, slot.target)
