"""A written v6.7.4 local_cluster chain read back from its objects, and planned again for other nodes.

What a day-2 change needs is all in the chain's YAML: each node's config Secret (config.toml with the
chain's genesis and initial system config, the chain CA, the node's TLS certificate and key, its peers)
and account Secret (private_key), the StatefulSets (images, resources, claim, debug sidecar; the
consensus in an annotation), the RPC Service (the NodePort base) and the NetworkPolicy (removed nodes).
`read_state` takes them apart; `state_manifests` puts them together again with the chain's planner
(manifests.local_manifests), so a caller can check the chain plans back to its own bytes before it
changes anything. Every node dials every other node of the chain, in index order: adding or removing a
node changes only the `peers` of the others' config.toml.
"""

from __future__ import annotations

import base64
import datetime as dt
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from runner_k8s import names
from runner_k8s.errors import InputError
from runner_k8s.keys.tls import ChainCa, check_node_cert
from runner_k8s.kube.nodes import RETIRED_ANNOTATION
from runner_k8s.kube.objects import Manifest
from runner_k8s.kube.resources import Resources
from runner_k8s.plan import PlanItems
from runner_k8s.ports import ContainerPort
from runner_k8s.releases.v6_7_4.accounts import Consensus, V6Account, v6_account_from_secret
from runner_k8s.releases.v6_7_4.chainplan import plan_node_folder
from runner_k8s.releases.v6_7_4.config import (
    CONFIG_FILE,
    NODE_ADDRESS_FILE,
    PRIVATE_KEY_FILE,
    VALIDATOR_ADDRESS_FILE,
    ChainConfig,
    NodeTls,
    ZenohPeer,
    render_node_config,
)
from runner_k8s.releases.v6_7_4.keygen import new_v6_node_keys
from runner_k8s.releases.v6_7_4.manifests import CONSENSUS_ANNOTATION, NodeSecrets, local_manifests
from runner_k8s.releases.v6_7_4.pods import DATA_VOLUME, NodePod
from runner_k8s.releases.v6_7_4.serviceconfig import ServiceImages

SERVICE_CONTAINERS = ("network", "consensus", "executor", "storage", "controller")


@dataclass(frozen=True)
class V6Node:
    """One node of a loaded v6.7.4 chain: its account (the key from its Secret) and its TLS identity."""

    index: int
    account: V6Account
    tls: NodeTls

    def __repr__(self) -> str:
        return f"V6Node(index={self.index}, node_address={self.account.node_address})"

    @property
    def address(self) -> str:
        """The node address as the v5 day-2 report shows one: 0x and 40 hex digits."""
        return self.account.account.address

    @property
    def device_id(self) -> None:
        """v6.7.4 has no syncthing."""
        return None

    @property
    def validator(self) -> str:
        """What the chain names it by: its BLS key (overlord) or its node address (raft), bare hex."""
        return self.account.validator_address


@dataclass(frozen=True)
class V6State:
    """Everything the chain's planner takes to make the chain's YAML again, node for node."""

    chain: str
    consensus: Consensus
    config: ChainConfig  # genesis, the initial system config, the chain CA's certificate
    images: ServiceImages
    pvc_name: str
    need_debug: bool
    node_port: int
    namespace: str | None
    retired: tuple[int, ...]
    nodes: tuple[V6Node, ...]

    def __repr__(self) -> str:
        return f"V6State({self.chain!r}, nodes={[node.index for node in self.nodes]})"

    @property
    def kind(self) -> str:
        """Only local_cluster v6.7.4 chains are changed by add_node and remove_node."""
        return "local_cluster"

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


def _bad(where: str, what: str) -> InputError:
    return InputError(f"{where}: {what} is not what runner_k8s writes for a v6.7.4 chain; restore the file")


def _secret(secrets: Mapping[str, Manifest], name: str, key: str, where: str) -> str:
    if name not in secrets:
        raise InputError(f"{where} has no Secret {name}; restore the file")
    try:
        return base64.b64decode(secrets[name]["data"][key], validate=True).decode("utf-8")
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{where}: Secret {name} has no readable {key!r}; restore the file") from None


def _containers(statefulset: Manifest, where: str) -> tuple[dict[str, Manifest], str]:
    """A node's containers by name, and the claim its node folder is on."""
    try:
        spec = statefulset["spec"]["template"]["spec"]
        containers = {container["name"]: container for container in spec["containers"]}
        claims = [
            volume["persistentVolumeClaim"]["claimName"] for volume in spec["volumes"] if volume["name"] == DATA_VOLUME
        ]
    except (KeyError, TypeError):
        raise _bad(where, f"StatefulSet {statefulset.get('metadata', {}).get('name')}") from None
    if len(claims) != 1 or any(name not in containers for name in SERVICE_CONTAINERS):
        raise _bad(where, f"StatefulSet {statefulset['metadata'].get('name')}")
    return containers, str(claims[0])


def _images(containers: Mapping[str, Manifest], consensus: Consensus, where: str) -> ServiceImages:
    """The images and resources of a node's containers, as a service config would have given them."""
    try:
        images = {
            (f"consensus_{consensus.value}" if name == "consensus" else name): str(containers[name]["image"])
            for name in SERVICE_CONTAINERS
        }
        resources = {
            name: Resources(
                cpu_request=str(container["resources"]["requests"]["cpu"]),
                memory_request=str(container["resources"]["requests"]["memory"]),
                cpu_limit=str(container["resources"]["limits"]["cpu"]),
                memory_limit=str(container["resources"]["limits"]["memory"]),
            )
            for name, container in containers.items()
        }
    except (KeyError, TypeError):
        raise _bad(where, "a node's containers") from None
    return ServiceImages(images, resources)


def _chain_config(document: Mapping[str, Any], consensus: Consensus, where: str) -> ChainConfig:
    """What every node's config.toml holds alike, from one node's."""
    try:
        system = document["system_config"]
        return ChainConfig(
            chain_id=str(system["chain_id"]),
            timestamp_ms=int(document["genesis_block"]["timestamp"]),
            admin=str(system["admin"]),
            validators=tuple(str(validator) for validator in system["validators"]),
            block_interval=int(system["block_interval"]),
            consensus=consensus,
            ca_cert_pem=str(document["network_zenoh"]["ca_cert"]),
        )
    except (KeyError, TypeError, ValueError):
        raise _bad(where, "a node's config.toml") from None


def _node(
    secrets: Mapping[str, Manifest], chain: str, index: int, consensus: Consensus, where: str
) -> tuple[V6Node, dict[str, Any]]:
    """A node from its two Secrets (its key checked against the addresses beside it), and its parsed config.toml."""
    config_secret, account_secret = names.config_secret(chain, index), names.account_secret(chain, index)
    try:
        document = tomllib.loads(_secret(secrets, config_secret, CONFIG_FILE, where))
        network = document["network_zenoh"]
        tls = NodeTls(str(network["cert"]), str(network["priv_key"]))
        account = v6_account_from_secret(int(_secret(secrets, account_secret, PRIVATE_KEY_FILE, where), 16), consensus)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError):
        raise _bad(where, f"Secrets {config_secret} and {account_secret}") from None
    named = (
        _secret(secrets, config_secret, NODE_ADDRESS_FILE, where),
        _secret(secrets, config_secret, VALIDATOR_ADDRESS_FILE, where),
    )
    if named != (account.node_address, account.validator_address):
        raise InputError(
            f"{where}: Secret {config_secret} names another account than the key in Secret {account_secret}; "
            "restore the file"
        )
    return V6Node(index, account, tls), document


def read_state(chain: str, documents: Sequence[Manifest], indices: Sequence[int], where: str) -> V6State:
    """The chain's state from its objects (InputError naming what is missing or not as this tool writes it).

    Only what the planner takes is read here; `state_manifests` must then give back the same objects.
    """
    kinds: dict[str, dict[str, Manifest]] = {}
    for document in documents:
        kinds.setdefault(str(document.get("kind")), {})[str(document["metadata"].get("name"))] = document
    first = kinds.get("StatefulSet", {}).get(names.node_name(chain, indices[0]))
    if first is None:
        raise InputError(f"{where} has no StatefulSet {names.node_name(chain, indices[0])}; restore the file")
    annotations = first["metadata"].get("annotations") or {}
    try:
        consensus = Consensus(str(annotations.get(CONSENSUS_ANNOTATION)))
    except ValueError:
        raise _bad(where, f"the {CONSENSUS_ANNOTATION} annotation") from None
    containers, claim = _containers(first, where)
    secrets = kinds.get("Secret", {})
    nodes, parsed = zip(*(_node(secrets, chain, index, consensus, where) for index in indices), strict=True)
    rpc = kinds.get("Service", {}).get(names.rpc_service(chain))
    try:
        node_port = int(rpc["spec"]["ports"][0]["nodePort"]) if rpc is not None else -1
    except (KeyError, IndexError, TypeError, ValueError):
        node_port = -1
    if node_port < 0:
        raise InputError(f"{where}: Service {names.rpc_service(chain)} with its nodePort is missing; restore the file")
    policy = kinds.get("NetworkPolicy", {}).get(names.chain_network_policy(chain), {})
    retired_text = (policy.get("metadata", {}).get("annotations") or {}).get(RETIRED_ANNOTATION, "")
    retired = tuple(int(item) for item in str(retired_text).split(",") if item.isdigit())
    return V6State(
        chain=chain,
        consensus=consensus,
        config=_chain_config(parsed[0], consensus, where),
        images=_images(containers, consensus, where),
        pvc_name=claim,
        need_debug="debug" in containers,
        node_port=node_port,
        namespace=first["metadata"].get("namespace"),
        retired=retired,
        nodes=tuple(nodes),
    )


def peers_of(state: V6State, nodes: Sequence[V6Node], index: int) -> list[ZenohPeer]:
    """Whom node `index` dials: every other node of `nodes`, in index order, at its Service's name."""
    port = int(ContainerPort.P2P)
    return [ZenohPeer(names.node_name(state.chain, node.index), port) for node in nodes if node.index != index]


def config_toml(state: V6State, nodes: Sequence[V6Node], node: V6Node) -> bytes:
    """A node's config.toml in the chain made of `nodes`."""
    domain = names.node_name(state.chain, node.index)
    return render_node_config(state.config, domain, node.tls, peers_of(state, nodes, node.index))


def state_manifests(state: V6State, nodes: Sequence[V6Node], retired: Sequence[int]) -> list[Manifest]:
    """The chain's objects for `nodes` (index order), as local_cluster makes them."""
    pods = [
        NodePod(state.chain, node.index, state.images, state.consensus, state.pvc_name, state.need_debug)
        for node in nodes
    ]
    secrets = [
        NodeSecrets(
            config_toml(state, nodes, node),
            node.account.node_address,
            node.validator,
            node.account.private_key_hex,
        )
        for node in nodes
    ]
    return list(local_manifests(pods, secrets, node_port=state.node_port, namespace=state.namespace, retired=retired))


class ChainNodes(Protocol):
    """What check_ca reads of a loaded chain of either kind (V6State, multistate.V6MultiState)."""

    @property
    def chain(self) -> str:
        """The chain's name."""

    @property
    def config(self) -> ChainConfig:
        """What every node's config.toml holds alike (the CA's certificate among it)."""

    @property
    def nodes(self) -> tuple[V6Node, ...]:
        """The chain's nodes."""


def check_ca(state: ChainNodes, ca: ChainCa, where: str) -> None:
    """The CA folder's CA is the one every node trusts, and it signed each node's certificate."""
    if ca.cert_pem.decode("ascii", errors="replace") != state.config.ca_cert_pem:
        raise InputError(
            f"{where}: the CA certificate is not the one the chain's nodes trust (their config.toml's ca_cert); "
            "restore the chain's own CA folder"
        )
    for node in state.nodes:
        try:
            domain = names.node_name(state.chain, node.index)
            check_node_cert(ca, domain, node.tls.cert_pem.encode(), node.tls.key_pem.encode())
        except ValueError as exc:
            raise InputError(
                f"{where}: node{node.index}'s certificate in its config Secret: {exc}; restore the chain's CA folder "
                "and its YAML as they were made"
            ) from None


def new_node(state: V6State, ca: ChainCa, index: int, randbytes: Any, now: dt.datetime) -> V6Node:
    """A fresh node: a new account (its own key) and a certificate for `<chain>-<index>` signed by the chain CA."""
    keys = new_v6_node_keys(state.consensus, ca, names.node_name(state.chain, index), randbytes, now)
    return V6Node(index, keys.account, NodeTls(keys.cert.cert_pem.decode("ascii"), keys.cert.key_pem.decode("ascii")))


def node_folder(state: V6State, node: V6Node) -> PlanItems:
    """The node's folder on the claim (its working directory) with its public addresses."""
    return plan_node_folder(state.chain, node.index, node.account, node.validator)
