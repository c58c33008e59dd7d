"""The one module that talks to the network: a v5.0.0 or v6.7.4 controller's RPCService over gRPC (grpcio).

The calls go through grpcio's generic unary-unary channel with the messages of our own
governance.proto; no generated gRPC stubs. grpc and protobuf are imported here, lazily, so the
other scripts never load them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from runner_k8s.errors import RunnerError
from runner_k8s.govern.transactions import V5, V6, Lock, SystemConfig

if TYPE_CHECKING:
    import grpc
    from google.protobuf.message import Message

RPC_PORT = 50004  # the controller's RPCService (controller-config.toml, `controller run -p 50004`)
RPC_SERVICE = "/controller.RPCService/"
DEFAULT_TIMEOUT = 5.0
MAX_PORT = 65535
HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>[0-9]{1,5}))?")
PRE_HASH_FIELDS = {
    Lock.VERSION: "version_pre_hash",
    Lock.CHAIN_ID: "chain_id_pre_hash",
    Lock.ADMIN: "admin_pre_hash",
    Lock.BLOCK_INTERVAL: "block_interval_pre_hash",
    Lock.VALIDATORS: "validators_pre_hash",
    Lock.EMERGENCY_BRAKE: "emergency_brake_pre_hash",
}
Reply = TypeVar("Reply", bound="Message")


class NodeError(RunnerError):
    """A node did not answer, or answered a call with an error."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"node {address}: {reason}")
        self.address = address
        self.reason = reason


class Unimplemented(NodeError):
    """The node does not serve this method: GetVersion on v6.7.4, GetNodeStatus on v5.0.0."""


class Rejected(RunnerError):
    """The controller refused a transaction (v5.0.0: INTERNAL with its reason; v6.7.4: INVALID_ARGUMENT, a name)."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"node {address} refused the transaction: {reason}")
        self.address = address
        self.reason = reason


def parse_rpc_address(text: str) -> str:
    """`host:port` (or `host`, port 50004); an IPv6 address in brackets. Raises ValueError saying why."""
    match = HOST_PORT.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not host:port (an IPv6 address goes in brackets: [::1]:{RPC_PORT})")
    port = int(match["port"] or RPC_PORT)
    if not 1 <= port <= MAX_PORT:
        raise ValueError(f"{text!r}: the port must be 1-{MAX_PORT}")
    return f"{match['host']}:{port}"


@dataclass(frozen=True)
class Peer:
    """A peer as a v6.7.4 node last heard of it: its node address and height."""

    address: bytes
    height: int
    multi_address: str


@dataclass(frozen=True)
class NodeStatus:
    """GetNodeStatus (v6.7.4): what GetVersion and GetPeerCount told on v5.0.0, and more."""

    version: str
    address: bytes  # this node's node_address
    height: int
    is_sync: bool
    peers_count: int
    peers: tuple[Peer, ...]
    is_danger: bool
    init_block_number: int
    waiting_block: int


@dataclass(frozen=True)
class Block:
    """The header fields status shows of one block."""

    height: int
    hash: bytes
    proposer: bytes
    timestamp_ms: int
    transactions: int


def _reason(method: str, error: grpc.RpcError, timeout: float) -> str:
    """A gRPC failure in a few words: the cause gRPC names last, or the call and the node's own message."""
    import grpc  # noqa: PLC0415 - see the module docstring

    code = error.code() if isinstance(error, grpc.Call) else None
    details = " ".join(str((error.details() if isinstance(error, grpc.Call) else None) or "").split())
    if code is grpc.StatusCode.UNAVAILABLE:
        cause = details.rsplit(": ", 1)[-1].strip(" []") or "no connection"
        return f"unreachable ({cause}): check the address and that the node is running"
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"did not answer {method} within {timeout:g}s"
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return f"does not serve controller.RPCService ({method}); give the controller's RPC port (50004 in the pod)"
    name = code.name if code is not None else "error"
    return f"{method} failed: {name}: {details}" if details else f"{method} failed: {name}"


class Controller:
    """One node's controller RPCService; a context manager that closes its channel."""

    def __init__(self, address: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        import grpc  # noqa: PLC0415 - see the module docstring

        self.address = address
        self.timeout = timeout
        self._channel = grpc.insecure_channel(address)

    def __enter__(self) -> Controller:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def _call(self, method: str, request: Message, reply: Callable[[bytes], Reply]) -> Reply:
        import grpc  # noqa: PLC0415 - see the module docstring

        stub: Any = self._channel.unary_unary(
            RPC_SERVICE + method,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=reply,
        )
        try:
            result: Reply = stub(request, timeout=self.timeout)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            rejected = code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
            if method == "SendRawTransaction" and rejected and isinstance(error, grpc.Call):
                raise Rejected(self.address, " ".join(str(error.details()).split())) from None
            if code is grpc.StatusCode.UNIMPLEMENTED:
                raise Unimplemented(self.address, _reason(method, error, self.timeout)) from None
            raise NodeError(self.address, _reason(method, error, self.timeout)) from None
        return result

    def block_number(self) -> int:
        """The latest finalized height (GetBlockNumber, flag false)."""
        from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - see the module docstring

        return self._call("GetBlockNumber", pb.Flag(flag=False), pb.BlockNumber.FromString).block_number

    def block_hash(self, height: int) -> bytes:
        """The hash of the block at `height` (GetBlockHash)."""
        from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - see the module docstring

        return self._call("GetBlockHash", pb.BlockNumber(block_number=height), pb.Hash.FromString).hash

    def block(self, height: int) -> Block:
        """The header of the block at `height` and its hash (GetBlockByNumber, GetBlockHash)."""
        from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - see the module docstring

        found = self._call("GetBlockByNumber", pb.BlockNumber(block_number=height), pb.CompactBlock.FromString)
        header = found.header
        return Block(height, self.block_hash(height), header.proposer, header.timestamp, len(found.body.tx_hashes))

    def peer_count(self) -> int:
        """The node's outbound p2p connections (GetPeerCount)."""
        from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - see the module docstring

        return self._call("GetPeerCount", pb.Empty(), pb.PeerCount.FromString).peer_count

    def software_version(self) -> str:
        """The controller's version string (GetVersion)."""
        from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - see the module docstring

        return self._call("GetVersion", pb.Empty(), pb.SoftwareVersion.FromString).version

    def node_status(self) -> NodeStatus:
        """Version, own address, height, sync state and peers (GetNodeStatus, v6.7.4 only)."""
        from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - see the module docstring

        found = self._call("GetNodeStatus", pb.Empty(), pb.NodeStatus.FromString)
        peers = tuple(Peer(peer.address, peer.height, peer.node_net_info.multi_address) for peer in found.peers_status)
        return NodeStatus(
            version=found.version,
            address=found.self_status.address,
            height=found.self_status.height,
            is_sync=found.is_sync,
            peers_count=found.peers_count,
            peers=peers,
            is_danger=found.is_danger,
            init_block_number=found.init_block_number,
            waiting_block=found.waiting_block,
        )

    def system_config(self, release: str = V5) -> SystemConfig:
        """The chain's governed values as this node applies them (GetSystemConfig)."""
        from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - see the module docstring

        found = self._call("GetSystemConfig", pb.Empty(), pb.SystemConfig.FromString)
        return SystemConfig(
            version=found.version,
            chain_id=found.chain_id,
            admin=found.admin,
            block_interval=found.block_interval,
            validators=tuple(found.validators),
            emergency_brake=found.emergency_brake,
            pre_hashes={lock: getattr(found, name) for lock, name in PRE_HASH_FIELDS.items()},
            release=release,
            quota_limit=found.quota_limit if release == V6 else 0,
            block_limit=found.block_limit if release == V6 else 0,
        )

    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Send an encoded controller.RawTransaction; the hash the node accepted it under."""
        from runner_k8s.proto import governance_pb2 as pb  # noqa: PLC0415 - see the module docstring

        return self._call("SendRawTransaction", pb.RawTransaction.FromString(raw), pb.Hash.FromString).hash
