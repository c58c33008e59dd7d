"""What a running chain's nodes report, side by side: heights, hashes, system config, and where they disagree."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from runner_k8s.govern.rpc import Block, Controller, NodeError, NodeStatus, Unimplemented
from runner_k8s.govern.transactions import V5, V6, Lock, SystemConfig, hex0x
from runner_k8s.keys.accounts import sm3

MAX_PARALLEL_READS = 16  # nodes read at once: a node that does not answer costs one timeout, not one each


@dataclass(frozen=True)
class NodeView:
    """One node as its controller reports it; `error` says why it could not be read (the rest is then empty)."""

    address: str
    height: int = -1
    latest: Block | None = None
    peer_count: int = -1
    software_version: str = ""
    config: SystemConfig | None = None
    error: str = ""
    status: NodeStatus | None = None  # v6.7.4: GetNodeStatus

    @property
    def release(self) -> str:
        """v5.0.0 or v6.7.4, as the node's answers tell ("" when it did not answer)."""
        return self.config.release if self.config is not None else ""

    @property
    def answered(self) -> bool:
        """Whether every call this view needs was answered."""
        return not self.error and self.config is not None


@dataclass(frozen=True)
class Survey:
    """Every node's view, and what they have in common or not."""

    nodes: tuple[NodeView, ...]
    common_height: int = -1  # the lowest height every answering node has
    hashes_at_common: dict[str, bytes] = field(default_factory=dict)
    chain_name: str | None = None

    @property
    def answering(self) -> list[NodeView]:
        """The nodes that answered every call."""
        return [node for node in self.nodes if node.answered]

    @property
    def unreachable(self) -> list[NodeView]:
        """The nodes that did not."""
        return [node for node in self.nodes if not node.answered]

    @property
    def release(self) -> str:
        """The release every answering node runs ("" when none answered or they differ)."""
        found = {node.release for node in self.answering}
        return found.pop() if len(found) == 1 else ""

    def release_problem(self) -> str:
        """Which nodes run which release, when they differ; else ""."""
        seen: dict[str, list[str]] = {}
        for node in self.answering:
            seen.setdefault(node.release, []).append(node.address)
        if len(seen) < 2:
            return ""
        return "the nodes run different releases: " + "; ".join(
            f"{release} on {', '.join(addresses)}" for release, addresses in sorted(seen.items())
        )

    @property
    def top_height(self) -> int:
        """The highest height a node reports."""
        return max((node.height for node in self.answering), default=-1)

    def lag(self, node: NodeView) -> int:
        """How many blocks `node` is behind the highest node."""
        return self.top_height - node.height

    def config_differences(self) -> list[str]:
        """One line per system-config value the answering nodes do not agree on, naming who reports what."""
        differences = []
        for label, value_of in CONFIG_FIELDS.items():
            seen: dict[str, list[str]] = {}
            for node in self.answering:
                assert node.config is not None
                seen.setdefault(value_of(node.config), []).append(node.address)
            if len(seen) > 1:
                parts = "; ".join(f"{value} on {', '.join(addresses)}" for value, addresses in seen.items())
                differences.append(f"{label} differs: {parts}")
        return differences

    def hash_disagreement(self) -> str:
        """Which nodes have which block at the common height, or "" when they agree."""
        seen: dict[bytes, list[str]] = {}
        for address, block_hash in self.hashes_at_common.items():
            seen.setdefault(block_hash, []).append(address)
        if len(seen) < 2:
            return ""
        parts = "; ".join(f"{hex0x(block_hash)} on {', '.join(addresses)}" for block_hash, addresses in seen.items())
        return f"different blocks at height {self.common_height}: {parts}"

    def chain_id_problem(self) -> str:
        """Why the chain is not `chain_name`'s, or ""."""
        if self.chain_name is None:
            return ""
        release = self.release or V5
        expected = chain_id_of(self.chain_name, release)
        wrong = [node.address for node in self.answering if node.config and node.config.chain_id != expected]
        if not wrong:
            return ""
        return (
            f"chain id of {', '.join(wrong)} is not {CHAIN_ID_HASH[release]}({self.chain_name!r}) = "
            f"{hex0x(expected)}: these nodes do not run the chain {self.chain_name}"
        )

    def problems(self) -> list[str]:
        """Everything that makes the nodes unfit to take a change: unreachable, disagreeing, another chain."""
        found = [f"node {node.address}: {node.error}" for node in self.unreachable]
        found += [problem for problem in (self.release_problem(),) if problem]
        found += self.config_differences()
        found += [problem for problem in (self.hash_disagreement(), self.chain_id_problem()) if problem]
        return found

    def agreed_config(self) -> SystemConfig | None:
        """The system config when every node answered and they all report the same one."""
        configs = [node.config for node in self.nodes]
        if not configs or any(config is None for config in configs) or self.config_differences():
            return None
        return configs[0]


def every_node(count: int) -> str:
    """`the node`, `both nodes`, `all 3 nodes`."""
    return "the node" if count == 1 else "both nodes" if count == 2 else f"all {count} nodes"


def _validators(config: SystemConfig) -> str:
    return ", ".join(map(hex0x, config.validators)) or "(none)"


def _pre_hashes(config: SystemConfig) -> str:
    return " ".join(f"{int(lock)}:{hex0x(config.pre_hash(lock))}" for lock in Lock)


CONFIG_FIELDS = {
    "chain_id": lambda config: hex0x(config.chain_id),
    "admin": lambda config: hex0x(config.admin),
    "validators": _validators,
    "block_interval": lambda config: str(config.block_interval),
    "emergency_brake": lambda config: "on" if config.emergency_brake else "off",
    "version": lambda config: str(config.version),
    "pre_hashes": _pre_hashes,
}


CHAIN_ID_HASH = {V5: "sha256", V6: "sm3"}


def chain_id_of(chain_name: str, release: str = V5) -> bytes:
    """The chain id create_k8s_config.py gives a chain: SHA-256 (v5.0.0) or SM3 (v6.7.4) of its name."""
    if release == V6:
        return sm3(chain_name.encode("utf-8"))
    return hashlib.sha256(chain_name.encode("utf-8")).digest()


def read_node(address: str, timeout: float) -> NodeView:
    """Height, latest block, peers, version and system config of one node (its error instead if it fails).

    The release is the node's own answer: v5.0.0 serves GetVersion, v6.7.4 answers it UNIMPLEMENTED and
    serves GetNodeStatus instead.
    """
    try:
        with Controller(address, timeout) as node:
            try:
                version, status, release = node.software_version(), None, V5
            except Unimplemented:
                status = node.node_status()
                version, release = status.version, V6
            config = node.system_config(release)
            height = node.block_number()
            return NodeView(
                address,
                height=height,
                latest=node.block(height),
                peer_count=node.peer_count() if status is None else status.peers_count,
                software_version=version,
                config=config,
                status=status,
            )
    except NodeError as error:
        return NodeView(address, error=error.reason)


def _hash_at(address: str, height: int, timeout: float) -> bytes | str:
    try:
        with Controller(address, timeout) as node:
            return node.block_hash(height)
    except NodeError as error:
        return error.reason


def survey(addresses: Sequence[str], timeout: float, chain_name: str | None = None) -> Survey:
    """Read every node at once, then every answering node's block hash at the height they all have."""
    workers = max(1, min(MAX_PARALLEL_READS, len(addresses)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        nodes = tuple(pool.map(lambda address: read_node(address, timeout), addresses))
        heights = [node.height for node in nodes if node.answered]
        if not heights:
            return Survey(nodes, chain_name=chain_name)
        common = min(heights)
        answering = [node.address for node in nodes if node.answered]
        found = dict(
            zip(answering, pool.map(lambda address: _hash_at(address, common, timeout), answering), strict=True)
        )
    hashes = {address: value for address, value in found.items() if isinstance(value, bytes)}
    failed = {address: value for address, value in found.items() if isinstance(value, str)}
    nodes = tuple(
        NodeView(node.address, error=failed[node.address]) if node.address in failed else node for node in nodes
    )
    return Survey(nodes, common, hashes, chain_name)


# --- the status report ---------------------------------------------------------------------------


def _time(timestamp_ms: int) -> str:
    import datetime as dt  # noqa: PLC0415 - only the report needs it

    return dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_status(view: Survey) -> list[str]:
    """The status report: one line per node, the system config, then the verdict."""
    lines = []
    for node in view.nodes:
        if not node.answered:
            lines.append(f"node {node.address}: no answer (see below)")
            continue
        assert node.latest is not None
        behind = f" ({view.lag(node)} behind)" if view.lag(node) else ""
        lines.append(
            f"node {node.address}: height {node.height}{behind}, block {hex0x(node.latest.hash)} "
            f"by {hex0x(node.latest.proposer)} at {_time(node.latest.timestamp_ms)}, "
            f"{node.peer_count} peers, controller {node.software_version}{_v6_state(node)}"
        )
    config = view.agreed_config()
    if config is not None:
        count = len(view.nodes)
        lines.append("system config:" if count == 1 else f"system config (the same on {every_node(count)}):")
        for label, value_of in CONFIG_FIELDS.items():
            if label != "pre_hashes":
                lines.append(f"  {label:<16}{value_of(config)}{' s' if label == 'block_interval' else ''}")
        if config.release == V6:
            lines.append(f"  {'quota_limit':<16}{config.quota_limit}")
            lines.append(f"  {'block_limit':<16}{config.block_limit}")
    problems = view.problems()
    if problems:
        lines += [f"problem: {problem}" for problem in problems]
    elif view.common_height >= 0:
        common_hash = hex0x(view.hashes_at_common[view.nodes[0].address])
        lines.append(f"agreement: every node has block {common_hash} at height {view.common_height}")
    return lines


def _v6_state(node: NodeView) -> str:
    """What GetNodeStatus adds to a v6.7.4 node's line: its node address, sync state and peer heights."""
    status = node.status
    if status is None:
        return ""
    peers = ", ".join(f"{hex0x(peer.address)}@{peer.height}" for peer in status.peers)
    state = "syncing" if status.is_sync else "in consensus"
    danger = ", DANGER mode" if status.is_danger else ""
    return f", node {hex0x(status.address)}, {state}{danger}, peers at [{peers}]"


def _config_json(config: SystemConfig) -> dict[str, object]:
    extra: dict[str, object] = {"quota_limit": config.quota_limit, "block_limit": config.block_limit}
    return {
        "release": config.release,
        **(extra if config.release == V6 else {}),
        "version": config.version,
        "chain_id": hex0x(config.chain_id),
        "admin": hex0x(config.admin),
        "block_interval": config.block_interval,
        "validators": [hex0x(validator) for validator in config.validators],
        "emergency_brake": config.emergency_brake,
        "pre_hashes": {lock.label: hex0x(config.pre_hash(lock)) for lock in Lock},
    }


def status_json(view: Survey) -> dict[str, object]:
    """The status report for --json."""
    nodes: list[dict[str, object]] = []
    for node in view.nodes:
        entry: dict[str, object] = {"address": node.address, "reachable": node.answered}
        if node.answered:
            assert node.latest is not None and node.config is not None
            entry |= {
                "height": node.height,
                "behind": view.lag(node),
                "block_hash": hex0x(node.latest.hash),
                "proposer": hex0x(node.latest.proposer),
                "timestamp_ms": node.latest.timestamp_ms,
                "peer_count": node.peer_count,
                "software_version": node.software_version,
                "system_config": _config_json(node.config),
            }
            if node.status is not None:
                status = node.status
                entry["node_status"] = {
                    "node_address": hex0x(status.address),
                    "is_sync": status.is_sync,
                    "is_danger": status.is_danger,
                    "init_block_number": status.init_block_number,
                    "waiting_block": status.waiting_block,
                    "peers": [{"address": hex0x(peer.address), "height": peer.height} for peer in status.peers],
                }
        else:
            entry["error"] = node.error
        nodes.append(entry)
    config = view.agreed_config()
    return {
        "release": view.release,
        "nodes": nodes,
        "system_config": None if config is None else _config_json(config),
        "common_height": view.common_height,
        "agree": not view.problems(),
        "problems": view.problems(),
    }
