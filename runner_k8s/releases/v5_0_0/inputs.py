"""The inputs of a v5.0.0 chain, as create/spec.py hands them on once every rule has passed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner_k8s.ports import LOCAL_LAYOUT, Slot, slots_in_use
from runner_k8s.releases.v5_0_0.serviceconfig import ServiceConfig


@dataclass(frozen=True)
class LocalClusterSpec:
    """Everything local_cluster needs, checked."""

    chain_name: str
    block_delay_number: int
    block_interval: int
    peers_count: int
    kms_password: str
    state_db_user: str
    state_db_password: str
    services: ServiceConfig
    node_port: int
    need_monitor: bool
    need_debug: bool
    pvc_name: str
    enable_tls: bool
    namespace: str | None = None

    def __repr__(self) -> str:
        return f"LocalClusterSpec(chain_name={self.chain_name!r}, peers_count={self.peers_count})"

    @property
    def used_slots(self) -> tuple[Slot, ...]:
        """The NodePorts this chain actually exposes (the others stay reserved)."""
        return tuple(
            slots_in_use(
                LOCAL_LAYOUT,
                monitor=self.need_monitor,
                chaincode=self.services.executor_kind.is_chaincode,
                debug=self.need_debug,
            )
        )


@dataclass(frozen=True)
class MultiNode:
    """One node of a multi-cluster chain: who it is, where it runs, how it is reached."""

    index: int
    authority: str
    host: str
    lb_token: str
    device_id: str
    kms_password: str
    base_port: int
    pvc_name: str

    def __repr__(self) -> str:
        return f"MultiNode(index={self.index}, authority={self.authority}, host={self.host})"


@dataclass(frozen=True)
class MultiClusterSpec:
    """Everything multi_cluster needs, checked."""

    chain_name: str
    block_delay_number: int
    block_interval: int
    services: ServiceConfig
    need_monitor: bool
    need_debug: bool
    timestamp_ms: int | None
    super_admin: str
    nodes: tuple[MultiNode, ...]
    state_db_user: str
    state_db_password: str
    enable_tls: bool
    accounts_dir: Path
    syncthing_dir: Path
    namespace: str | None = None

    def __repr__(self) -> str:
        return f"MultiClusterSpec(chain_name={self.chain_name!r}, nodes={len(self.nodes)})"
