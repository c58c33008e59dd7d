"""Container ports by name, the two external port layouts as data, and the one port function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum


class ContainerPort(IntEnum):
    """Ports the containers of a node listen on (fixed by the services' own configs)."""

    P2P = 40000
    SYNC = 22000
    SYNC_GUI = 8384
    NETWORK = 50000
    CONSENSUS = 50001
    EXECUTOR = 50002
    STORAGE = 50003
    CONTROLLER = 50004
    KMS = 50005
    PROCESS = 9256
    EXPORTER = 9349
    CHAINCODE = 7052
    EVENTHUB = 7053
    DEBUG = 9999
    COUCHDB = 5984


class Slot(Enum):
    """An externally reachable port of a node, and the container port it leads to."""

    NETWORK = ContainerPort.P2P
    SYNC = ContainerPort.SYNC
    RPC = ContainerPort.CONTROLLER
    CALL = ContainerPort.EXECUTOR
    PROCESS = ContainerPort.PROCESS
    EXPORTER = ContainerPort.EXPORTER
    CHAINCODE = ContainerPort.CHAINCODE
    EVENTHUB = ContainerPort.EVENTHUB
    DEBUG = ContainerPort.DEBUG

    @property
    def target(self) -> int:
        """The container port behind this slot."""
        return int(self.value)

    @property
    def port_name(self) -> str:
        """The Service port name."""
        return self.name.lower()


@dataclass(frozen=True)
class Layout:
    """How external ports are laid out from a base: offset per slot, stride per node."""

    name: str
    offsets: Mapping[Slot, int]
    node_stride: int
    chain_wide: frozenset[Slot] = frozenset()

    @property
    def span(self) -> int:
        """How many consecutive ports one node (with stride 0) or the chain's first node reserves."""
        return max(self.offsets.values()) + 1


# Single cluster: one RPC NodePort for the chain, then five reserved NodePorts per node.
LOCAL_LAYOUT = Layout(
    name="local_cluster",
    offsets={Slot.RPC: 0, Slot.PROCESS: 1, Slot.EXPORTER: 2, Slot.CHAINCODE: 3, Slot.EVENTHUB: 4, Slot.CALL: 5},
    node_stride=5,
    chain_wide=frozenset({Slot.RPC}),
)

# One node per cluster: nine consecutive LoadBalancer ports from each node's own base.
MULTI_LAYOUT = Layout(
    name="multi_cluster",
    offsets={
        Slot.NETWORK: 0,
        Slot.SYNC: 1,
        Slot.RPC: 2,
        Slot.CALL: 3,
        Slot.PROCESS: 4,
        Slot.EXPORTER: 5,
        Slot.CHAINCODE: 6,
        Slot.EVENTHUB: 7,
        Slot.DEBUG: 8,
    },
    node_stride=0,
)


class Feature(Enum):
    """What must be switched on for a slot's port to be exposed."""

    ALWAYS = "always"
    MONITOR = "monitor"
    CHAINCODE = "chaincode"
    DEBUG = "debug"


SLOT_FEATURE = {
    Slot.NETWORK: Feature.ALWAYS,
    Slot.SYNC: Feature.ALWAYS,
    Slot.RPC: Feature.ALWAYS,
    Slot.CALL: Feature.ALWAYS,
    Slot.PROCESS: Feature.MONITOR,
    Slot.EXPORTER: Feature.MONITOR,
    Slot.CHAINCODE: Feature.CHAINCODE,
    Slot.EVENTHUB: Feature.CHAINCODE,
    Slot.DEBUG: Feature.DEBUG,
}


def slots_in_use(layout: Layout, *, monitor: bool, chaincode: bool, debug: bool) -> list[Slot]:
    """The slots of `layout` whose feature is on, in layout order; the others stay reserved."""
    on = {Feature.ALWAYS}
    on |= {
        feature
        for feature, wanted in ((Feature.MONITOR, monitor), (Feature.CHAINCODE, chaincode), (Feature.DEBUG, debug))
        if wanted
    }
    return [slot for slot in layout.offsets if SLOT_FEATURE[slot] in on]


NODE_PORT_RANGE = range(30000, 32768)
PORT_RANGE = range(1, 65536)


def external_port(layout: Layout, base: int, slot: Slot, node: int = 0) -> int:
    """THE port arithmetic: the external port of `slot` for node `node` from `base`."""
    stride = 0 if slot in layout.chain_wide else layout.node_stride
    return base + layout.offsets[slot] + stride * node


def highest_port(layout: Layout, base: int, nodes: int) -> int:
    """The highest external port a chain of `nodes` nodes reserves from `base`."""
    last = max(0, nodes - 1)
    return max(external_port(layout, base, slot, last) for slot in layout.offsets)
