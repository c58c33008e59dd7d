"""runner_k8s/proto: the committed protoc output is governance.proto's, and its wire is the services'."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from runner_k8s.proto import governance_pb2 as pb
from tests.conftest import REPO
from tests.live.rpc import decode_message, encode_message

PROTO_DIR = REPO / "runner_k8s" / "proto"
VERSION_LINE = re.compile(r"# Protobuf Python Version: (\S+)")


def protoc(out: Path, *extra: str) -> None:
    from grpc_tools import protoc as grpc_protoc

    include = Path(grpc_protoc.__file__).parent / "_proto"
    code = grpc_protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{include}", *extra, "governance.proto"])
    assert code == 0


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="needs grpcio-tools (requirements-dev.txt)")
def test_committed_module_is_what_protoc_makes_of_the_proto(tmp_path: Path):
    protoc(tmp_path, f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", f"--descriptor_set_out={tmp_path / 'set'}")
    from google.protobuf import descriptor_pb2

    made = descriptor_pb2.FileDescriptorSet.FromString((tmp_path / "set").read_bytes()).file[0]
    for message in made.message_type:  # the generated module leaves out the JSON names protoc derives
        for item in message.field:
            item.ClearField("json_name")
    committed = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)
    assert committed == made, "regenerate governance_pb2.py: see the comment at the top of governance.proto"
    ours = (PROTO_DIR / "governance_pb2.py").read_text()
    theirs = (tmp_path / "governance_pb2.py").read_text()
    if VERSION_LINE.search(ours)[1] == VERSION_LINE.search(theirs)[1]:  # type: ignore[index]
        assert ours == theirs
        assert (PROTO_DIR / "governance_pb2.pyi").read_text() == (tmp_path / "governance_pb2.pyi").read_text()


def test_system_config_fields_are_numbered_as_the_controller_sends_them():
    wire = encode_message(
        [
            (1, 7),
            (2, b"c" * 32),
            (3, b"a" * 20),
            (4, 3),
            (5, b"v" * 20),
            (5, b"w" * 20),
            (6, 1),
            (7, b"\x07"),
            (8, b"\x08"),
            (9, b"\x09"),
            (10, b"\x0a"),
            (11, b"\x0b"),
            (12, b"\x0c"),
        ]
    )
    config = pb.SystemConfig.FromString(wire)
    assert (config.version, config.chain_id, config.admin, config.block_interval) == (7, b"c" * 32, b"a" * 20, 3)
    assert list(config.validators) == [b"v" * 20, b"w" * 20] and config.emergency_brake
    assert [
        config.version_pre_hash,
        config.chain_id_pre_hash,
        config.admin_pre_hash,
        config.block_interval_pre_hash,
        config.validators_pre_hash,
        config.emergency_brake_pre_hash,
    ] == [bytes([n]) for n in range(7, 13)]


def test_block_and_small_messages_decode_the_oracles_bytes():
    header = encode_message([(1, b"p" * 32), (2, 1_700_000_000_123), (3, 42), (4, b"r" * 32), (5, b"x" * 20)])
    body = encode_message([(1, b"t" * 32), (1, b"u" * 32)])
    block = pb.CompactBlock.FromString(encode_message([(1, 0), (2, header), (3, body)]))
    assert (block.header.height, block.header.proposer, block.header.timestamp) == (42, b"x" * 20, 1_700_000_000_123)
    assert list(block.body.tx_hashes) == [b"t" * 32, b"u" * 32]
    assert pb.BlockNumber.FromString(encode_message([(1, 2**40)])).block_number == 2**40
    assert pb.PeerCount.FromString(encode_message([(1, 2)])).peer_count == 2
    assert pb.Hash.FromString(encode_message([(1, b"h" * 32)])).hash == b"h" * 32
    assert pb.SoftwareVersion.FromString(encode_message([(1, "5.0.0")])).version == "5.0.0"
    assert decode_message(pb.Flag(flag=True).SerializeToString()) == {1: [1]}
    assert pb.Flag(flag=False).SerializeToString() == b""  # GetBlockNumber(latest): the empty message


def test_v6_system_config_limits_and_node_status_decode_the_oracles_bytes():
    """v6.7.4's fields (controller.proto / common.proto at cita_cloud_proto 6.7.4): SystemConfig 13-16 and
    NodeStatus{1 is_sync, 2 version, 3 self_status, 4 peers_count, 5 peers_status, 6 is_danger,
    7 init_block_number, 8 waiting_block}, PeerStatus{1 height, 2 address, 3 node_net_info{1 multi_address,
    2 origin}}."""
    config = pb.SystemConfig.FromString(
        encode_message([(4, 3), (13, 1_073_741_824), (14, b"\x0e"), (15, 100), (16, b"\x10")])
    )
    assert (config.quota_limit, config.quota_limit_pre_hash, config.block_limit, config.block_limit_pre_hash) == (
        1_073_741_824,
        b"\x0e",
        100,
        b"\x10",
    )
    net = encode_message([(1, "/dns4/localhost/tcp/40000/tls/c-1"), (2, 77)])
    peer = encode_message([(1, 41), (2, b"p" * 20), (3, net)])
    wire = encode_message(
        [
            (1, 1),
            (2, "6.7.4"),
            (3, encode_message([(1, 42), (2, b"s" * 20)])),
            (4, 3),
            (5, peer),
            (6, 1),
            (7, 9),
            (8, 2),
        ]
    )
    status = pb.NodeStatus.FromString(wire)
    assert (status.is_sync, status.version, status.self_status.height, status.self_status.address) == (
        True,
        "6.7.4",
        42,
        b"s" * 20,
    )
    assert (status.peers_count, status.is_danger, status.init_block_number, status.waiting_block) == (3, True, 9, 2)
    (only,) = status.peers_status
    assert (only.height, only.address, only.node_net_info.multi_address, only.node_net_info.origin) == (
        41,
        b"p" * 20,
        "/dns4/localhost/tcp/40000/tls/c-1",
        77,
    )
