"""A v6.7.4 node's config.toml: one section per service, as each reads it (read from the v6.7.4 sources).

Every service reads only its own section (`read_toml(path, section)`), and every section must be
there. The network section holds the node's TLS key inline, so the whole file is a secret: it lives
only in the node's Secret. Values that the release's defaults already give are still written where a
later reader (day 2, an operator) needs to see them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import tomli_w

from runner_k8s.keys.accounts import sm3
from runner_k8s.ports import ContainerPort
from runner_k8s.releases.v6_7_4.accounts import Consensus

CONFIG_MOUNT = "/etc/cita-cloud/config"  # the config Secret: config.toml, node_address, validator_address
ACCOUNT_MOUNT = "/etc/cita-cloud/account"  # the account Secret: private_key (controller, overlord)
CONFIG_FILE = "config.toml"
NODE_ADDRESS_FILE = "node_address"
VALIDATOR_ADDRESS_FILE = "validator_address"
PRIVATE_KEY_FILE = "private_key"
CONFIG_PATH = f"{CONFIG_MOUNT}/{CONFIG_FILE}"
PRIVATE_KEY_PATH = f"{ACCOUNT_MOUNT}/{PRIVATE_KEY_FILE}"
PREVHASH = "0x" + "0" * 64
SYSTEM_CONFIG_VERSION = 0
BLOCK_LIMIT = 100  # the window (in blocks) a transaction's valid_until_block may reach ahead
QUOTA_LIMIT = 1 << 30  # a block's quota; the controller hands it on as u32
PROTOCOL = "quic"  # zenoh over QUIC (UDP); a run-time peer update always uses quic
HOT_UPDATE_SECONDS = 15  # how often network_zenoh looks for a changed config.toml (peers added or removed)
LOG_LEVEL = "info"  # valid for both the tracing services and consensus_raft's slog
WAL_DIR = "overlord_wal"
RAFT_DIR = "raft-data-dir"
EXECUTOR_DB = "data"
STORAGE_ROOT = "chain_data"


def chain_id_of(chain_name: str) -> str:
    """The chain id: SM3 of the chain name, 64 hex digits without 0x (network_zenoh reads it without)."""
    return sm3(chain_name.encode("utf-8")).hex()


@dataclass(frozen=True)
class ZenohPeer:
    """How a node dials another: the peer's TLS name (which must resolve to it) and its port."""

    domain: str
    port: int


@dataclass(frozen=True)
class ChainConfig:
    """What every node's config.toml holds identically: genesis, system config, consensus, the chain CA."""

    chain_id: str
    timestamp_ms: int
    admin: str
    validators: tuple[str, ...]
    block_interval: int
    consensus: Consensus
    ca_cert_pem: str

    def __repr__(self) -> str:
        return f"ChainConfig(chain_id={self.chain_id}, validators={len(self.validators)})"


@dataclass(frozen=True)
class NodeTls:
    """A node's zenoh TLS certificate and key (PEM text); the key makes the config a secret."""

    cert_pem: str
    key_pem: str

    def __repr__(self) -> str:
        return "NodeTls(...)"


def _log(service: str) -> dict[str, object]:
    return {"max_level": LOG_LEVEL, "filter": LOG_LEVEL, "service_name": service}


def network_section(chain: ChainConfig, domain: str, tls: NodeTls) -> dict[str, object]:
    """[network_zenoh] but its peers and modules: its own TLS identity and the chain's."""
    return {
        "grpc_port": int(ContainerPort.NETWORK),
        "protocol": PROTOCOL,
        "port": int(ContainerPort.P2P),
        "domain": domain,
        "ca_cert": chain.ca_cert_pem,
        "cert": tls.cert_pem,
        "priv_key": tls.key_pem,
        "node_address": f"{CONFIG_MOUNT}/{NODE_ADDRESS_FILE}",
        "validator_address": f"{CONFIG_MOUNT}/{VALIDATOR_ADDRESS_FILE}",
        "chain_id": chain.chain_id,
        "hot_update_interval": HOT_UPDATE_SECONDS,
        "enable_metrics": False,
        "log_config": _log("network"),
    }


# Where network_zenoh finds the services it talks to, in its own pod.
MODULES = [
    {"module_name": "consensus", "hostname": "localhost", "port": int(ContainerPort.CONSENSUS)},
    {"module_name": "controller", "hostname": "localhost", "port": int(ContainerPort.CONTROLLER)},
]


def consensus_section(chain: ChainConfig, domain: str) -> tuple[str, dict[str, object]]:
    """[consensus_overlord] or [consensus_raft], by the chain's engine."""
    if chain.consensus is Consensus.RAFT:
        return "consensus_raft", {
            "node_addr": f"{CONFIG_MOUNT}/{NODE_ADDRESS_FILE}",
            "grpc_listen_port": int(ContainerPort.CONSENSUS),
            "network_port": int(ContainerPort.NETWORK),
            "controller_port": int(ContainerPort.CONTROLLER),
            "raft_data_path": RAFT_DIR,
            "log_level": LOG_LEVEL,
            "log_to_stdout": True,
            "enable_metrics": False,
        }
    return "consensus_overlord", {
        "domain": domain,
        "consensus_port": int(ContainerPort.CONSENSUS),
        "network_port": int(ContainerPort.NETWORK),
        "controller_port": int(ContainerPort.CONTROLLER),
        "wal_path": WAL_DIR,
        "enable_metrics": False,
        "log_config": _log("consensus"),
    }


PEERS_SLOT = "runner-k8s peers"


def peer_table(peer: ZenohPeer) -> dict[str, object]:
    """One entry of `[network_zenoh].peers`, as network_zenoh reads it (protocol, port, domain)."""
    return {"protocol": PROTOCOL, "port": peer.port, "domain": peer.domain}


@functools.cache
def _peer_line(domain: str, port: int) -> str:
    """tomli_w's own line for one entry of an array of inline tables (`    { ... },` and a newline)."""
    return tomli_w.dumps({"peers": [peer_table(ZenohPeer(domain, port))]}).splitlines(keepends=True)[1]


def peers_text(peers: Sequence[ZenohPeer]) -> str:
    """`peers = [...]` exactly as tomli_w renders the list, from lines rendered once per peer."""
    if not peers:
        return "peers = []"
    return "peers = [\n" + "".join(_peer_line(peer.domain, peer.port) for peer in peers) + "]"


def node_document(chain: ChainConfig, domain: str, tls: NodeTls, peers: object) -> dict[str, object]:
    """The node's config.toml as a document, sections in the order the release's own generator writes them."""
    consensus_name, consensus = consensus_section(chain, domain)
    return {
        "network_zenoh": {**network_section(chain, domain, tls), "peers": peers, "modules": MODULES},
        consensus_name: consensus,
        "executor_evm": {
            "domain": domain,
            "executor_port": int(ContainerPort.EXECUTOR),
            "db_path": EXECUTOR_DB,
            "enable_metrics": False,
            "log_config": _log("executor"),
        },
        "storage_opendal": {
            "domain": domain,
            "storage_port": int(ContainerPort.STORAGE),
            "data_root": STORAGE_ROOT,
            "enable_metrics": False,
            "log_config": _log("storage"),
        },
        "genesis_block": {"timestamp": chain.timestamp_ms, "prevhash": PREVHASH},
        "system_config": {
            "version": SYSTEM_CONFIG_VERSION,
            "chain_id": chain.chain_id,
            "admin": chain.admin,
            "block_interval": chain.block_interval,
            "validators": list(chain.validators),
            "block_limit": BLOCK_LIMIT,
            "quota_limit": QUOTA_LIMIT,
        },
        "controller": {
            "domain": domain,
            "network_port": int(ContainerPort.NETWORK),
            "consensus_port": int(ContainerPort.CONSENSUS),
            "executor_port": int(ContainerPort.EXECUTOR),
            "storage_port": int(ContainerPort.STORAGE),
            "controller_port": int(ContainerPort.CONTROLLER),
            "node_address": f"{CONFIG_MOUNT}/{NODE_ADDRESS_FILE}",
            "validator_address": f"{CONFIG_MOUNT}/{VALIDATOR_ADDRESS_FILE}",
            "enable_metrics": False,
            "log_config": _log("controller"),
        },
    }


# What differs between two nodes' files: stand-ins rendered once per chain, then each node's own values.
DOMAIN_SLOT, CERT_SLOT, KEY_SLOT = "runner-k8s domain", "runner-k8s cert", "runner-k8s key"


# A string with none of the characters tomli_w escapes (a quote, a backslash, a control character but
# tab and newline) it writes as it is, between """ and a newline when it has a newline, else between ".
_AS_IT_IS = re.compile(r'[^"\\\x00-\x08\x0b-\x1f\x7f]*')


def _value_text(value: str) -> str:
    """How tomli_w writes a string value of a table, as render_node_config calls it (PEM text in one regex)."""
    if _AS_IT_IS.fullmatch(value):
        return f'"""\n{value}"""' if "\n" in value else f'"{value}"'
    return tomli_w.dumps({"v": value}, multiline_strings=True)[len("v = ") : -1]


@functools.cache
def _slot_texts() -> tuple[str, str, str, str]:
    """The stand-ins as they appear in the rendered file: domain, cert, key, and the peers line."""
    domain, cert, key, peers = (_value_text(slot) for slot in (DOMAIN_SLOT, CERT_SLOT, KEY_SLOT, PEERS_SLOT))
    return domain, cert, key, f"peers = {peers}"


@functools.lru_cache(maxsize=4)
def _template(chain: ChainConfig) -> tuple[str, ...]:
    """The chain's file cut at the stand-ins: text, stand-in, text, ..., text (tomli_w run once per chain)."""
    document = node_document(chain, DOMAIN_SLOT, NodeTls(CERT_SLOT, KEY_SLOT), PEERS_SLOT)
    pattern = "|".join(re.escape(slot) for slot in _slot_texts())
    return tuple(re.split(f"({pattern})", tomli_w.dumps(document, multiline_strings=True)))


def render_node_config(chain: ChainConfig, domain: str, tls: NodeTls, peers: Sequence[ZenohPeer]) -> bytes:
    """The node's config.toml: the bytes of tomli_w.dumps(node_document(...), multiline_strings=True).

    tomli_w renders the chain's part once (_template); each node's own values are rendered alone and
    put in its place, in one pass (a value is never searched for a stand-in).
    """
    domain_slot, cert_slot, key_slot, peers_slot = _slot_texts()
    own = {
        domain_slot: _value_text(domain),
        cert_slot: _value_text(tls.cert_pem),
        key_slot: _value_text(tls.key_pem),
        peers_slot: peers_text(peers),
    }
    parts = _template(chain)
    return "".join(own[part] if index % 2 else part for index, part in enumerate(parts)).encode("utf-8")
