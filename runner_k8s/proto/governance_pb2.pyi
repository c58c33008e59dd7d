from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Hash(_message.Message):
    __slots__ = ("hash",)
    HASH_FIELD_NUMBER: _ClassVar[int]
    hash: bytes
    def __init__(self, hash: _Optional[bytes] = ...) -> None: ...

class Flag(_message.Message):
    __slots__ = ("flag",)
    FLAG_FIELD_NUMBER: _ClassVar[int]
    flag: bool
    def __init__(self, flag: _Optional[bool] = ...) -> None: ...

class BlockNumber(_message.Message):
    __slots__ = ("block_number",)
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    block_number: int
    def __init__(self, block_number: _Optional[int] = ...) -> None: ...

class PeerCount(_message.Message):
    __slots__ = ("peer_count",)
    PEER_COUNT_FIELD_NUMBER: _ClassVar[int]
    peer_count: int
    def __init__(self, peer_count: _Optional[int] = ...) -> None: ...

class SoftwareVersion(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class SystemConfig(_message.Message):
    __slots__ = ("version", "chain_id", "admin", "block_interval", "validators", "emergency_brake", "version_pre_hash", "chain_id_pre_hash", "admin_pre_hash", "block_interval_pre_hash", "validators_pre_hash", "emergency_brake_pre_hash", "quota_limit", "quota_limit_pre_hash", "block_limit", "block_limit_pre_hash")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    BLOCK_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_BRAKE_FIELD_NUMBER: _ClassVar[int]
    VERSION_PRE_HASH_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_PRE_HASH_FIELD_NUMBER: _ClassVar[int]
    ADMIN_PRE_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_INTERVAL_PRE_HASH_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_PRE_HASH_FIELD_NUMBER: _ClassVar[int]
    EMERGENCY_BRAKE_PRE_HASH_FIELD_NUMBER: _ClassVar[int]
    QUOTA_LIMIT_FIELD_NUMBER: _ClassVar[int]
    QUOTA_LIMIT_PRE_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_LIMIT_PRE_HASH_FIELD_NUMBER: _ClassVar[int]
    version: int
    chain_id: bytes
    admin: bytes
    block_interval: int
    validators: _containers.RepeatedScalarFieldContainer[bytes]
    emergency_brake: bool
    version_pre_hash: bytes
    chain_id_pre_hash: bytes
    admin_pre_hash: bytes
    block_interval_pre_hash: bytes
    validators_pre_hash: bytes
    emergency_brake_pre_hash: bytes
    quota_limit: int
    quota_limit_pre_hash: bytes
    block_limit: int
    block_limit_pre_hash: bytes
    def __init__(self, version: _Optional[int] = ..., chain_id: _Optional[bytes] = ..., admin: _Optional[bytes] = ..., block_interval: _Optional[int] = ..., validators: _Optional[_Iterable[bytes]] = ..., emergency_brake: _Optional[bool] = ..., version_pre_hash: _Optional[bytes] = ..., chain_id_pre_hash: _Optional[bytes] = ..., admin_pre_hash: _Optional[bytes] = ..., block_interval_pre_hash: _Optional[bytes] = ..., validators_pre_hash: _Optional[bytes] = ..., emergency_brake_pre_hash: _Optional[bytes] = ..., quota_limit: _Optional[int] = ..., quota_limit_pre_hash: _Optional[bytes] = ..., block_limit: _Optional[int] = ..., block_limit_pre_hash: _Optional[bytes] = ...) -> None: ...

class NodeNetInfo(_message.Message):
    __slots__ = ("multi_address", "origin")
    MULTI_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    multi_address: str
    origin: int
    def __init__(self, multi_address: _Optional[str] = ..., origin: _Optional[int] = ...) -> None: ...

class PeerStatus(_message.Message):
    __slots__ = ("height", "address", "node_net_info")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NODE_NET_INFO_FIELD_NUMBER: _ClassVar[int]
    height: int
    address: bytes
    node_net_info: NodeNetInfo
    def __init__(self, height: _Optional[int] = ..., address: _Optional[bytes] = ..., node_net_info: _Optional[_Union[NodeNetInfo, _Mapping]] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("is_sync", "version", "self_status", "peers_count", "peers_status", "is_danger", "init_block_number", "waiting_block")
    IS_SYNC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SELF_STATUS_FIELD_NUMBER: _ClassVar[int]
    PEERS_COUNT_FIELD_NUMBER: _ClassVar[int]
    PEERS_STATUS_FIELD_NUMBER: _ClassVar[int]
    IS_DANGER_FIELD_NUMBER: _ClassVar[int]
    INIT_BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WAITING_BLOCK_FIELD_NUMBER: _ClassVar[int]
    is_sync: bool
    version: str
    self_status: PeerStatus
    peers_count: int
    peers_status: _containers.RepeatedCompositeFieldContainer[PeerStatus]
    is_danger: bool
    init_block_number: int
    waiting_block: int
    def __init__(self, is_sync: _Optional[bool] = ..., version: _Optional[str] = ..., self_status: _Optional[_Union[PeerStatus, _Mapping]] = ..., peers_count: _Optional[int] = ..., peers_status: _Optional[_Iterable[_Union[PeerStatus, _Mapping]]] = ..., is_danger: _Optional[bool] = ..., init_block_number: _Optional[int] = ..., waiting_block: _Optional[int] = ...) -> None: ...

class BlockHeader(_message.Message):
    __slots__ = ("prevhash", "timestamp", "height", "transactions_root", "proposer")
    PREVHASH_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_ROOT_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_FIELD_NUMBER: _ClassVar[int]
    prevhash: bytes
    timestamp: int
    height: int
    transactions_root: bytes
    proposer: bytes
    def __init__(self, prevhash: _Optional[bytes] = ..., timestamp: _Optional[int] = ..., height: _Optional[int] = ..., transactions_root: _Optional[bytes] = ..., proposer: _Optional[bytes] = ...) -> None: ...

class CompactBlockBody(_message.Message):
    __slots__ = ("tx_hashes",)
    TX_HASHES_FIELD_NUMBER: _ClassVar[int]
    tx_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, tx_hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CompactBlock(_message.Message):
    __slots__ = ("version", "header", "body")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    version: int
    header: BlockHeader
    body: CompactBlockBody
    def __init__(self, version: _Optional[int] = ..., header: _Optional[_Union[BlockHeader, _Mapping]] = ..., body: _Optional[_Union[CompactBlockBody, _Mapping]] = ...) -> None: ...

class Witness(_message.Message):
    __slots__ = ("signature", "sender")
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    signature: bytes
    sender: bytes
    def __init__(self, signature: _Optional[bytes] = ..., sender: _Optional[bytes] = ...) -> None: ...

class UtxoTransaction(_message.Message):
    __slots__ = ("version", "pre_tx_hash", "output", "lock_id")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PRE_TX_HASH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    LOCK_ID_FIELD_NUMBER: _ClassVar[int]
    version: int
    pre_tx_hash: bytes
    output: bytes
    lock_id: int
    def __init__(self, version: _Optional[int] = ..., pre_tx_hash: _Optional[bytes] = ..., output: _Optional[bytes] = ..., lock_id: _Optional[int] = ...) -> None: ...

class UnverifiedUtxoTransaction(_message.Message):
    __slots__ = ("transaction", "transaction_hash", "witnesses")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    WITNESSES_FIELD_NUMBER: _ClassVar[int]
    transaction: UtxoTransaction
    transaction_hash: bytes
    witnesses: _containers.RepeatedCompositeFieldContainer[Witness]
    def __init__(self, transaction: _Optional[_Union[UtxoTransaction, _Mapping]] = ..., transaction_hash: _Optional[bytes] = ..., witnesses: _Optional[_Iterable[_Union[Witness, _Mapping]]] = ...) -> None: ...

class RawTransaction(_message.Message):
    __slots__ = ("utxo_tx",)
    UTXO_TX_FIELD_NUMBER: _ClassVar[int]
    utxo_tx: UnverifiedUtxoTransaction
    def __init__(self, utxo_tx: _Optional[_Union[UnverifiedUtxoTransaction, _Mapping]] = ...) -> None: ...
