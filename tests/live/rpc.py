"""A client for the controller's RPCService (CITA-Cloud v5.0.0 and v6.7.4), with the few protobuf messages it needs.

The messages are written here by hand from the interface's field numbers (controller.proto,
blockchain.proto and common.proto of cita_cloud_proto v5.0.0): a field is a (number, value) pair,
encoded as proto3 does it (fields in number order, default values left out). grpcio carries the bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc

Field = tuple[int, "int | bytes | str"]

VARINT = 0
LENGTH_DELIMITED = 2
RPC_SERVICE = "/controller.RPCService/"


def encode_varint(value: int) -> bytes:
    """An unsigned LEB128 varint."""
    if value < 0:
        raise ValueError("negative varint")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def encode_message(fields: Iterable[Field]) -> bytes:
    """Fields in the order given; ints as varints, bytes and str length-delimited; proto3 defaults omitted."""
    out = bytearray()
    for number, value in fields:
        if isinstance(value, int):
            if value == 0:
                continue
            out += encode_varint(number << 3 | VARINT) + encode_varint(value)
        else:
            data = value.encode("utf-8") if isinstance(value, str) else value
            if not data:
                continue
            out += encode_varint(number << 3 | LENGTH_DELIMITED) + encode_varint(len(data)) + data
    return bytes(out)


def decode_message(data: bytes) -> dict[int, list[int | bytes]]:
    """Every field of a message: number → values (varints as int, length-delimited as bytes)."""
    fields: dict[int, list[int | bytes]] = {}
    position = 0

    def varint() -> int:
        nonlocal position
        result = shift = 0
        while True:
            byte = data[position]
            position += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while position < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == VARINT:
            value = varint()
        elif wire == LENGTH_DELIMITED:
            size = varint()
            value = data[position : position + size]
            position += size
        else:
            raise ValueError(f"unexpected wire type {wire} in field {number}")
        fields.setdefault(number, []).append(value)
    return fields


def first_int(fields: dict[int, list[int | bytes]], number: int) -> int:
    """A scalar varint field (0 when absent, as proto3 says)."""
    value = fields.get(number, [0])[0]
    assert isinstance(value, int)
    return value


def first_bytes(fields: dict[int, list[int | bytes]], number: int) -> bytes:
    """A bytes field (empty when absent)."""
    value = fields.get(number, [b""])[0]
    assert isinstance(value, bytes)
    return value


@dataclass(frozen=True)
class Transaction:
    """blockchain.Transaction."""

    to: bytes
    nonce: str
    quota: int
    valid_until_block: int
    data: bytes
    value: bytes
    chain_id: bytes
    version: int = 0

    def encode(self) -> bytes:
        """The bytes the controller hashes and checks (prost's encoding of the message)."""
        return encode_message(
            [
                (1, self.version),
                (2, self.to),
                (3, self.nonce),
                (4, self.quota),
                (5, self.valid_until_block),
                (6, self.data),
                (7, self.value),
                (8, self.chain_id),
            ]
        )


def raw_transaction(transaction: Transaction, tx_hash: bytes, signature: bytes, sender: bytes) -> bytes:
    """controller.RawTransaction{normal_tx: UnverifiedTransaction{transaction, transaction_hash, witness}}."""
    witness = encode_message([(1, signature), (2, sender)])
    unverified = encode_message([(1, transaction.encode()), (2, tx_hash), (3, witness)])
    return encode_message([(1, unverified)])


@dataclass(frozen=True)
class UtxoTransaction:
    """blockchain.UtxoTransaction: a governance transaction (lock 1000-1005)."""

    version: int
    pre_tx_hash: bytes
    output: bytes
    lock_id: int

    def encode(self) -> bytes:
        """The bytes the controller hashes and checks."""
        return encode_message([(1, self.version), (2, self.pre_tx_hash), (3, self.output), (4, self.lock_id)])


def raw_utxo_transaction(transaction: UtxoTransaction, tx_hash: bytes, signature: bytes, sender: bytes) -> bytes:
    """controller.RawTransaction{utxo_tx: UnverifiedUtxoTransaction{transaction, transaction_hash, witnesses}}."""
    witness = encode_message([(1, signature), (2, sender)])
    unverified = encode_message([(1, transaction.encode()), (2, tx_hash), (3, witness)])
    return encode_message([(2, unverified)])


@dataclass(frozen=True)
class SystemConfig:
    """controller.SystemConfig: what the tests compare with init_sys_config.toml and with manage_chain.py."""

    version: int
    chain_id: bytes
    admin: bytes
    block_interval: int
    validators: list[bytes]
    emergency_brake: bool = False
    pre_hashes: tuple[bytes, ...] = ()  # locks 1000..1005, in order (fields 7..12)


@dataclass(frozen=True)
class NodeStatus:
    """common.NodeStatus (v6.7.x, which has no GetVersion or GetPeerCount): what a node says of itself."""

    is_sync: bool
    version: str
    height: int
    address: bytes
    peers_count: int
    init_block_number: int


class Controller:
    """RPCService of one node's controller, over a plain-text gRPC channel."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.channel = grpc.insecure_channel(address)
        self.timeout = timeout

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def _call(self, method: str, request: bytes) -> dict[int, list[int | bytes]]:
        stub = self.channel.unary_unary(
            RPC_SERVICE + method, request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw
        )
        response = stub(request, timeout=self.timeout)
        assert isinstance(response, bytes)
        return decode_message(response)

    def block_number(self) -> int:
        """GetBlockNumber(Flag{flag: false}): the latest height."""
        return first_int(self._call("GetBlockNumber", encode_message([(1, 0)])), 1)

    def block_hash(self, height: int) -> bytes:
        """GetBlockHash(BlockNumber)."""
        return first_bytes(self._call("GetBlockHash", encode_message([(1, height)])), 1)

    def peer_count(self) -> int:
        """GetPeerCount(Empty)."""
        return first_int(self._call("GetPeerCount", b""), 1)

    def node_status(self) -> NodeStatus:
        """GetNodeStatus(Empty) (v6.7.x): 1 is_sync, 2 version, 3 self_status{1 height, 2 address}, 4 peers_count,
        7 init_block_number."""
        fields = self._call("GetNodeStatus", b"")
        own = decode_message(first_bytes(fields, 3))
        return NodeStatus(
            is_sync=bool(first_int(fields, 1)),
            version=first_bytes(fields, 2).decode("utf-8"),
            height=first_int(own, 1),
            address=first_bytes(own, 2),
            peers_count=first_int(fields, 4),
            init_block_number=first_int(fields, 7),
        )

    def system_config(self) -> SystemConfig:
        """GetSystemConfig(Empty)."""
        fields = self._call("GetSystemConfig", b"")
        validators = [value for value in fields.get(5, []) if isinstance(value, bytes)]
        return SystemConfig(
            version=first_int(fields, 1),
            chain_id=first_bytes(fields, 2),
            admin=first_bytes(fields, 3),
            block_interval=first_int(fields, 4),
            validators=validators,
            emergency_brake=bool(first_int(fields, 6)),
            pre_hashes=tuple(first_bytes(fields, number) for number in range(7, 13)),
        )

    def send_raw_transaction(self, raw: bytes) -> bytes:
        """SendRawTransaction: returns the transaction hash the controller accepted."""
        return first_bytes(self._call("SendRawTransaction", raw), 1)

    def transaction_block_number(self, tx_hash: bytes) -> int:
        """GetTransactionBlockNumber(Hash)."""
        return first_int(self._call("GetTransactionBlockNumber", encode_message([(1, tx_hash)])), 1)

    def block_tx_hashes(self, height: int) -> list[bytes]:
        """GetBlockByNumber(BlockNumber) → CompactBlock.body.tx_hashes."""
        block = self._call("GetBlockByNumber", encode_message([(1, height)]))
        body = decode_message(first_bytes(block, 3))
        return [value for value in body.get(1, []) if isinstance(value, bytes)]

    def block_timestamp(self, height: int) -> int:
        """GetBlockByNumber(BlockNumber) → CompactBlock.header.timestamp: when its proposer made it, in ms."""
        block = self._call("GetBlockByNumber", encode_message([(1, height)]))
        return first_int(decode_message(first_bytes(block, 2)), 2)

    def block_proposer(self, height: int) -> bytes:
        """GetBlockByNumber(BlockNumber) → CompactBlock.header.proposer: who made the block."""
        block = self._call("GetBlockByNumber", encode_message([(1, height)]))
        return first_bytes(decode_message(first_bytes(block, 2)), 5)
