"""Invariants for any chain size, base port and flag set (hypothesis)."""

from __future__ import annotations

import tomllib

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runner_k8s import names
from runner_k8s.k8s import render_yaml
from runner_k8s.manifests import NodePod, local_manifests, multi_node_manifests
from runner_k8s.nodefiles import ChainFiles, NodeKeys, Peer, plan_node
from runner_k8s.ports import LOCAL_LAYOUT, MULTI_LAYOUT, Slot, external_port, highest_port
from runner_k8s.spec import check_chain_name, load_service_config
from tests.conftest import REPO

SERVICES = load_service_config(REPO / "service-config.toml")
CHAINCODE = load_service_config(REPO / "tests" / "data" / "chaincode-service-config.toml")
chain_names = st.from_regex(r"\A[a-z]([a-z0-9-]{0,20}[a-z0-9])?\Z")


def pods(chain: str, count: int, monitor: bool, debug: bool, chaincode: bool) -> list[NodePod]:
    services = CHAINCODE if chaincode else SERVICES
    return [NodePod(chain, i, services, "pvc", names.kms_secret(chain), monitor, debug, "u") for i in range(count)]


@settings(max_examples=60, deadline=None)
@given(
    chain=chain_names,
    count=st.integers(1, 20),
    base=st.integers(30000, 31000),
    monitor=st.booleans(),
    debug=st.booleans(),
    chaincode=st.booleans(),
)
def test_local_node_ports_distinct_in_range_and_names_valid(chain, count, base, monitor, debug, chaincode):
    check_chain_name(chain, count)
    documents = list(
        local_manifests(
            pods(chain, count, monitor, debug, chaincode),
            kms_password="pw",
            state_db_password="db",
            node_port=base,
            network_keys=["0x" + "11" * 32] * count,
        )
    )
    node_ports = [
        p["nodePort"] for d in documents if d["kind"] == "Service" for p in d["spec"]["ports"] if "nodePort" in p
    ]
    assert len(node_ports) == len(set(node_ports))
    assert all(base <= port <= highest_port(LOCAL_LAYOUT, base, count) for port in node_ports)
    for document in documents:
        assert names.is_dns_label(document["metadata"]["name"]), document["metadata"]["name"]
    assert list(yaml.safe_load_all(render_yaml(documents))) == documents


@settings(max_examples=60, deadline=None)
@given(base=st.integers(1, 65535 - 8), count=st.integers(1, 30))
def test_layout_slots_never_collide(base, count):
    local = [
        external_port(LOCAL_LAYOUT, base, slot, i)
        for i in range(count)
        for slot in LOCAL_LAYOUT.offsets
        if slot not in LOCAL_LAYOUT.chain_wide or i == 0
    ]
    assert len(local) == len(set(local))
    multi = [external_port(MULTI_LAYOUT, base, slot) for slot in MULTI_LAYOUT.offsets]
    assert multi == list(range(base, base + 9))


def test_reserved_slots_do_not_shift_when_features_are_off():
    assert external_port(LOCAL_LAYOUT, 30004, Slot.CALL, 0) == 30009
    assert external_port(MULTI_LAYOUT, 30000, Slot.DEBUG) == 30008
    assert external_port(LOCAL_LAYOUT, 30004, Slot.RPC, 7) == 30004


@settings(max_examples=30, deadline=None)
@given(count=st.integers(1, 12), index_seed=st.integers(0, 1000), tls=st.booleans())
def test_no_node_is_its_own_peer(count, index_seed, tls):
    index = index_seed % count
    hosts = [f"c-{i}" for i in range(count)]
    shared = ChainFiles(b"", b"", b"", tls)
    peers = [Peer(h, 40000) for i, h in enumerate(hosts) if i != index]
    files = dict(plan_node("c", index, shared, peers, NodeKeys(None, None, None, None, None), config_xml=b""))
    network = tomllib.loads(files[f"cita-cloud/c/node{index}/network-config.toml"].data.decode())  # type: ignore[union-attr]
    assert network["enable_tls"] is tls
    assert hosts[index] not in [peer["ip"] for peer in network["peers"]]
    assert len(network["peers"]) == count - 1


@settings(max_examples=30, deadline=None)
@given(base=st.integers(1, 65527), monitor=st.booleans(), debug=st.booleans(), chaincode=st.booleans())
def test_multi_lb_ports_in_their_slots(base, monitor, debug, chaincode):
    pod = pods("m", 1, monitor, debug, chaincode)[0]
    documents = multi_node_manifests(
        pod, kms_password="pw", state_db_password="db", network_key="0x" + "22" * 32, base=base, lb_token="lb"
    )
    ports = documents[-1]["spec"]["ports"]
    assert all(base <= p["port"] <= base + 8 for p in ports)
    assert len({p["port"] for p in ports}) == len(ports)
    assert (base + 8 in [p["port"] for p in ports]) is debug
    assert (base + 4 in [p["port"] for p in ports]) is monitor
    assert list(yaml.safe_load_all(render_yaml(documents))) == documents


def test_slots_in_use_follow_their_feature():
    from runner_k8s.ports import slots_in_use

    assert slots_in_use(LOCAL_LAYOUT, monitor=False, chaincode=False, debug=True) == [Slot.RPC, Slot.CALL]
    assert slots_in_use(LOCAL_LAYOUT, monitor=True, chaincode=True, debug=False) == list(LOCAL_LAYOUT.offsets)
    assert slots_in_use(MULTI_LAYOUT, monitor=False, chaincode=False, debug=True) == [
        Slot.NETWORK,
        Slot.SYNC,
        Slot.RPC,
        Slot.CALL,
        Slot.DEBUG,
    ]
