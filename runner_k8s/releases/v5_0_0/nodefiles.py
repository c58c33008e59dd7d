"""Pure planners of a node folder: TOML configs, log configs, identity files (contracts.md §2)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

import tomli_w

from runner_k8s import names
from runner_k8s.plan import CERT_PEM, KEY_ID, KEY_PEM, KMS_DB, NODE_ADDRESS, Dir, File, PlanItems, secret_file
from runner_k8s.ports import ContainerPort
from runner_k8s.releases.v5_0_0.serviceconfig import SERVICE_NAMES

LOG4RS_TEMPLATE = Path(__file__).resolve().parent / "templates" / "log4rs.yaml"
PREVHASH = "0x" + "0" * 64
SYSTEM_CONFIG_VERSION = 0
# logs/: consensus_raft opens its log file there without making the folder (else it runs without logs).
EMPTY_DIRS = ("tx_infos", "txs", "proposals", "blocks", "logs")
CONFIG_DIR = "config"
CONFIG_XML = "config.xml"


@dataclass(frozen=True)
class Peer:
    """Where a node reaches another node's network service."""

    host: str
    port: int


@dataclass(frozen=True)
class NodeKeys:
    """A node's own key material; None where the user copies it in later (multi_cluster)."""

    key_id: bytes | None
    node_address: bytes | None
    kms_db: bytes | None
    cert_pem: bytes | None
    key_pem: bytes | None

    def __repr__(self) -> str:
        return "NodeKeys(...)"


@dataclass(frozen=True)
class ChainFiles:
    """The rendered files every node of a chain shares, byte for byte."""

    genesis: bytes
    init_sys_config: bytes
    controller_config: bytes
    enable_tls: bool


def chain_id(chain_name: str) -> str:
    """`0x` + SHA-256 of the chain name (UTF-8)."""
    return "0x" + hashlib.sha256(chain_name.encode("utf-8")).hexdigest()


def render_toml(data: dict[str, object]) -> bytes:
    """TOML text as the services read it."""
    return tomli_w.dumps(data).encode("utf-8")


@functools.cache
def _network_head(enable_tls: bool, has_peers: bool) -> bytes:
    head: dict[str, object] = {"enable_tls": enable_tls, "port": int(ContainerPort.P2P)}
    if not has_peers:
        head["peers"] = []
    return render_toml(head)


@functools.cache
def _peer_table(peer: Peer) -> bytes:
    # tomli_w would inline short tables; the services' examples and our contract use [[peers]].
    # network_p2p joins `ip:port` and parses it as a socket address: an IPv6 address needs brackets.
    host = f"[{peer.host}]" if ":" in peer.host else peer.host
    return ("\n[[peers]]\n" + tomli_w.dumps({"ip": host, "port": peer.port})).encode("utf-8")


def render_network_config(enable_tls: bool, peers: Sequence[Peer]) -> bytes:
    """network-config.toml: top-level keys first, then one [[peers]] table per other node."""
    return _network_head(enable_tls, bool(peers)) + b"".join(_peer_table(peer) for peer in peers)


class NetworkConfigs:
    """Every node's network-config.toml: each peer table rendered once, node i gets all but its own."""

    def __init__(self, enable_tls: bool, nodes: Sequence[Peer]) -> None:
        self.head = _network_head(enable_tls, len(nodes) > 1)
        self.tables = [_peer_table(peer) for peer in nodes]

    def for_node(self, index: int) -> bytes:
        """The file of node `index`: the same bytes as render_network_config with every other node."""
        return b"".join([self.head, *self.tables[:index], *self.tables[index + 1 :]])


def render_consensus_config(node_id: int) -> bytes:
    """consensus-config.toml (node_id is unused by v5 but required)."""
    return render_toml(
        {
            "network_port": int(ContainerPort.NETWORK),
            "controller_port": int(ContainerPort.CONTROLLER),
            "node_id": node_id,
        }
    )


def render_controller_config(block_delay_number: int) -> bytes:
    """controller-config.toml."""
    return render_toml(
        {
            "network_port": int(ContainerPort.NETWORK),
            "consensus_port": int(ContainerPort.CONSENSUS),
            "storage_port": int(ContainerPort.STORAGE),
            "kms_port": int(ContainerPort.KMS),
            "executor_port": int(ContainerPort.EXECUTOR),
            "block_delay_number": block_delay_number,
        }
    )


def render_genesis(timestamp_ms: int) -> bytes:
    """genesis.toml."""
    return render_toml({"timestamp": timestamp_ms, "prevhash": PREVHASH})


def render_init_sys_config(chain_name: str, admin: str, validators: Sequence[str], block_interval: int) -> bytes:
    """init_sys_config.toml: validators in node order (node0 is the first raft leader)."""
    return render_toml(
        {
            "version": SYSTEM_CONFIG_VERSION,
            "chain_id": chain_id(chain_name),
            "admin": admin,
            "block_interval": block_interval,
            "validators": list(validators),
        }
    )


@functools.cache
def render_log4rs(service: str) -> bytes:
    """<service>-log4rs.yaml from the shipped template."""
    return Template(LOG4RS_TEMPLATE.read_text(encoding="utf-8")).substitute(service=service).encode("utf-8")


def plan_node(
    chain_name: str,
    index: int,
    shared: ChainFiles,
    peers: Sequence[Peer],
    keys: NodeKeys,
    *,
    config_xml: bytes,
    network_config: bytes | None = None,
) -> PlanItems:
    """Every file and directory of node `index`, as {relative path: entry} pairs.

    `network_config`, when given, is the node's network-config.toml already rendered (and `peers` unused).
    `config_xml` is the node's own syncthing config: it holds the node's API key, so it is mode 0600.
    """
    root = names.node_dir(chain_name, index)
    yield root, Dir()
    if network_config is None:
        network_config = render_network_config(shared.enable_tls, peers)
    yield f"{root}/network-config.toml", File(network_config)
    yield f"{root}/consensus-config.toml", File(render_consensus_config(index))
    yield f"{root}/controller-config.toml", File(shared.controller_config)
    yield f"{root}/genesis.toml", File(shared.genesis)
    yield f"{root}/init_sys_config.toml", File(shared.init_sys_config)
    for service in SERVICE_NAMES:
        yield f"{root}/{service}-log4rs.yaml", File(render_log4rs(service))
    for directory in EMPTY_DIRS:
        yield f"{root}/{directory}", Dir()
    yield f"{root}/{CONFIG_DIR}", Dir()
    yield f"{root}/{CONFIG_DIR}/{CONFIG_XML}", secret_file(config_xml)
    if keys.key_id is not None:
        yield f"{root}/{KEY_ID}", File(keys.key_id)
    if keys.node_address is not None:
        yield f"{root}/{NODE_ADDRESS}", File(keys.node_address)
    if keys.kms_db is not None:
        yield f"{root}/{KMS_DB}", secret_file(keys.kms_db)
    if keys.cert_pem is not None:
        yield f"{root}/{CONFIG_DIR}/{CERT_PEM}", File(keys.cert_pem)
    if keys.key_pem is not None:
        yield f"{root}/{CONFIG_DIR}/{KEY_PEM}", secret_file(keys.key_pem)
