"""A written v6.7.4 multi_cluster chain read back from its node files, and planned again for other nodes.

Each node has its own YAML file `<chain>-<i>.yaml` (for its own cluster): its two Secrets, its
NetworkPolicy (the retired indices), its StatefulSet, its LoadBalancer Service (the port base and the
LoadBalancer id) and, for every other node j, the name `<chain>-<j>` leading to j's LoadBalancer (an
ExternalName Service for a host name, a selector-less Service and an EndpointSlice for an IP). A node's
LoadBalancer address is written only in the other nodes' files, so it is read from there (and must be
the same in all of them). `multi_state_manifests` plans every file again with the create verb's planner
(manifests.multi_node_manifests): a caller checks the chain plans back to its own bytes before a change.
Adding or removing a node changes, in the other files, the config Secret's `peers` and the peer objects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner_k8s import names
from runner_k8s.errors import InputError
from runner_k8s.kube.nodes import LB_ID_ANNOTATION, RETIRED_ANNOTATION
from runner_k8s.kube.objects import Manifest
from runner_k8s.ports import MULTI_LAYOUT, Slot, external_port
from runner_k8s.releases.v6_7_4.accounts import Consensus
from runner_k8s.releases.v6_7_4.chainstate import (
    V6Node,
    _bad,
    _chain_config,
    _containers,
    _images,
    _node,
)
from runner_k8s.releases.v6_7_4.config import ChainConfig, ZenohPeer, render_node_config
from runner_k8s.releases.v6_7_4.manifests import (
    CONSENSUS_ANNOTATION,
    NodeSecrets,
    RemotePeer,
    multi_node_manifests,
)
from runner_k8s.releases.v6_7_4.pods import NodePod
from runner_k8s.releases.v6_7_4.serviceconfig import ServiceImages

MULTI_KIND = "multi_cluster"


@dataclass(frozen=True)
class Seat:
    """Where a node of a multi_cluster chain runs: its LoadBalancer (address, port base, id) and its claim."""

    host: str
    base_port: int
    lb_token: str
    pvc_name: str

    def network_port(self) -> int:
        """The LoadBalancer's UDP port for zenoh (the other clusters dial it)."""
        return external_port(MULTI_LAYOUT, self.base_port, Slot.NETWORK)

    def rpc(self) -> str:
        """host:port of the node's controller RPC at its LoadBalancer ([v6] for an IPv6 address)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{external_port(MULTI_LAYOUT, self.base_port, Slot.RPC)}"


@dataclass(frozen=True)
class V6MultiState:
    """Everything the planner takes to make each node's file again; `seats` by node index."""

    chain: str
    consensus: Consensus
    config: ChainConfig
    images: ServiceImages
    need_debug: bool
    namespace: str | None
    retired: tuple[int, ...]
    nodes: tuple[V6Node, ...]
    seats: Mapping[int, Seat]

    def __repr__(self) -> str:
        return f"V6MultiState({self.chain!r}, nodes={[node.index for node in self.nodes]})"

    @property
    def kind(self) -> str:
        """One node per cluster."""
        return MULTI_KIND

    @property
    def next_index(self) -> int:
        """The index a new node gets: never one a node of this chain has had."""
        return max([node.index for node in self.nodes] + list(self.retired)) + 1

    def node(self, index: int) -> V6Node:
        """The node with this index (InputError naming the ones there are)."""
        for node in self.nodes:
            if node.index == index:
                return node
        there = ", ".join(str(node.index) for node in self.nodes)
        raise InputError(f"chain {self.chain!r} has no node {index}; its nodes are {there}")


def _by_kind(documents: Sequence[Manifest]) -> dict[str, dict[str, Manifest]]:
    kinds: dict[str, dict[str, Manifest]] = {}
    for document in documents:
        kinds.setdefault(str(document.get("kind")), {})[str(document["metadata"].get("name"))] = document
    return kinds


def _own_seat(kinds: Mapping[str, Mapping[str, Manifest]], chain: str, index: int, claim: str, where: str) -> Seat:
    """A node's port base and LoadBalancer id, from its LoadBalancer Service (its address comes from the others)."""
    service = kinds.get("Service", {}).get(names.lb_service(chain, index))
    try:
        assert service is not None
        ports = {str(port["name"]): int(port["port"]) for port in service["spec"]["ports"]}
        token = str(service["metadata"]["annotations"][LB_ID_ANNOTATION])
        base = ports["network"] - MULTI_LAYOUT.offsets[Slot.NETWORK]
    except (AssertionError, KeyError, TypeError, ValueError):
        raise _bad(where, f"the LoadBalancer Service {names.lb_service(chain, index)}") from None
    return Seat("", base, token, claim)


def _peer_hosts(kinds: Mapping[str, Mapping[str, Manifest]], chain: str, others: Sequence[int]) -> dict[int, str]:
    """The LoadBalancer address this file gives each other node: an ExternalName, or an EndpointSlice's address."""
    found = {}
    for other in others:
        service = kinds.get("Service", {}).get(names.node_name(chain, other), {})
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName":
            found[other] = str(spec.get("externalName"))
            continue
        endpoints = kinds.get("EndpointSlice", {}).get(names.peer_endpoints(chain, other), {})
        try:
            found[other] = str(endpoints["endpoints"][0]["addresses"][0])
        except (KeyError, IndexError, TypeError):
            continue
    return found


def read_multi_state(chain: str, files: Mapping[int, tuple[str, Sequence[Manifest]]]) -> V6MultiState:
    """The chain's state from each node's file (index -> (path, objects)); InputError naming what is wrong.

    Only what the planner takes is read here; `multi_state_manifests` must then give back the same files.
    """
    indices = sorted(files)
    nodes: list[V6Node] = []
    seats: dict[int, Seat] = {}
    hosts: dict[int, dict[int, str]] = {}
    parsed: list[dict[str, Any]] = []
    first: dict[str, Any] = {}
    for index in indices:
        where, documents = files[index]
        kinds = _by_kind(documents)
        statefulset = kinds.get("StatefulSet", {}).get(names.node_name(chain, index))
        if statefulset is None:
            raise InputError(f"{where} has no StatefulSet {names.node_name(chain, index)}; restore the file")
        annotations = statefulset["metadata"].get("annotations") or {}
        try:
            consensus = Consensus(str(annotations.get(CONSENSUS_ANNOTATION)))
        except ValueError:
            raise _bad(where, f"the {CONSENSUS_ANNOTATION} annotation") from None
        containers, claim = _containers(statefulset, where)
        node, document = _node(kinds.get("Secret", {}), chain, index, consensus, where)
        nodes.append(node)
        parsed.append(document)
        seats[index] = _own_seat(kinds, chain, index, claim, where)
        hosts[index] = _peer_hosts(kinds, chain, [other for other in indices if other != index])
        if not first:
            policy = kinds.get("NetworkPolicy", {}).get(names.node_network_policy(chain, index), {})
            retired_text = (policy.get("metadata", {}).get("annotations") or {}).get(RETIRED_ANNOTATION, "")
            first = {
                "where": where,
                "consensus": consensus,
                "images": _images(containers, consensus, where),
                "need_debug": "debug" in containers,
                "namespace": statefulset["metadata"].get("namespace"),
                "retired": tuple(int(item) for item in str(retired_text).split(",") if item.isdigit()),
            }
    if len(indices) == 1:
        raise InputError(
            f"{files[indices[0]][0]}: chain {chain!r} has one node, and its LoadBalancer address is written only in "
            "the other nodes' files; add_node and remove_node change multi_cluster v6.7.4 chains of two nodes or more"
        )
    for index in indices:
        given = {other: hosts[other].get(index) for other in indices if other != index}
        for other, host in given.items():
            if host is None:
                raise InputError(
                    f"{files[other][0]} does not say where node{index}'s LoadBalancer is (its peer objects are not "
                    "whole); restore the file as multi_cluster wrote it"
                )
        if len(set(given.values())) != 1:
            first_other, *rest = given
            odd = next(other for other in rest if given[other] != given[first_other])
            raise InputError(
                f"node{index}'s LoadBalancer is {given[first_other]} in {files[first_other][0]} but {given[odd]} in "
                f"{files[odd][0]}; restore the files as multi_cluster wrote them"
            )
        host = given[next(iter(given))]
        assert host is not None
        seat = seats[index]
        seats[index] = Seat(host, seat.base_port, seat.lb_token, seat.pvc_name)
    return V6MultiState(
        chain=chain,
        consensus=first["consensus"],
        config=_chain_config(parsed[0], first["consensus"], first["where"]),
        images=first["images"],
        need_debug=first["need_debug"],
        namespace=first["namespace"],
        retired=first["retired"],
        nodes=tuple(nodes),
        seats=seats,
    )


def remote_peers(seats: Mapping[int, Seat], nodes: Sequence[V6Node], index: int) -> list[RemotePeer]:
    """How node `index`'s cluster reaches every other node of `nodes`: its LoadBalancer's network port."""
    return [
        RemotePeer(node.index, seats[node.index].host, seats[node.index].network_port())
        for node in nodes
        if node.index != index
    ]


def multi_state_manifests(
    state: V6MultiState, nodes: Sequence[V6Node], seats: Mapping[int, Seat], retired: Sequence[int]
) -> dict[str, list[Manifest]]:
    """File -> objects, for the chain made of `nodes` (index order), as multi_cluster makes them."""
    planned = {}
    for node in nodes:
        seat = seats[node.index]
        pod = NodePod(state.chain, node.index, state.images, state.consensus, seat.pvc_name, state.need_debug)
        peers = remote_peers(seats, nodes, node.index)
        config = render_node_config(
            state.config,
            pod.name,
            node.tls,
            [ZenohPeer(names.node_name(state.chain, peer.index), peer.port) for peer in peers],
        )
        secrets = NodeSecrets(config, node.account.node_address, node.validator, node.account.private_key_hex)
        planned[names.node_yaml(state.chain, node.index)] = multi_node_manifests(
            pod,
            secrets,
            base=seat.base_port,
            lb_token=seat.lb_token,
            peers=peers,
            namespace=state.namespace,
            retired=retired,
        )
    return planned


def peer_object_names(state: V6MultiState, index: int) -> list[tuple[str, str]]:
    """(kind, name) of what, in another node's cluster, makes `<chain>-<index>` lead to node index's LoadBalancer."""
    name = names.node_name(state.chain, index)
    try:
        ipaddress.ip_address(state.seats[index].host)
    except ValueError:
        return [("service", name)]
    return [("service", name), ("endpointslice", names.peer_endpoints(state.chain, index))]
