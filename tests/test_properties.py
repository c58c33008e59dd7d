"""Invariants for any chain size, base port and flag set (hypothesis), against the README's formulas."""

from __future__ import annotations

import os
import re
import tomllib
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner_k8s import names
from runner_k8s.create.rules import check_chain_name
from runner_k8s.ports import LOCAL_LAYOUT, MULTI_LAYOUT, Slot, external_port, highest_port
from runner_k8s.releases.v5_0_0.manifests import local_manifests, multi_node_manifests
from runner_k8s.releases.v5_0_0.pods import NodePod
from runner_k8s.releases.v5_0_0.serviceconfig import load_service_config
from tests.conftest import REPO
from tests.inputs import MultiArgs, device_id, local_argv, run_main

SERVICES = load_service_config(REPO / "service-config.toml")
CHAINCODE = load_service_config(REPO / "tests" / "data" / "chaincode-service-config.toml")
# Accepted chain names: a DNS label starting with a letter, not ending in '-<digits>' (that is a node's name).
chain_names = st.from_regex(r"\A[a-z]([a-z0-9-]{0,20}[a-z0-9])?\Z").filter(
    lambda name: not re.search(r"-[0-9]+\Z", name)
)


def pods(chain: str, count: int, monitor: bool, debug: bool, chaincode: bool) -> list[NodePod]:
    services = CHAINCODE if chaincode else SERVICES
    return [NodePod(chain, i, services, "pvc", names.kms_secret(chain), monitor, debug, "u") for i in range(count)]


@settings(max_examples=40, deadline=None)
@given(
    chain=chain_names,
    count=st.integers(1, 12),
    base=st.integers(30000, 31000),
    monitor=st.booleans(),
    debug=st.booleans(),
    chaincode=st.booleans(),
)
def test_local_node_ports_follow_the_readme_and_names_are_valid(chain, count, base, monitor, debug, chaincode):
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
    actual = {
        d["metadata"]["name"]: sorted(p["nodePort"] for p in d["spec"]["ports"] if "nodePort" in p)
        for d in documents
        if d["kind"] == "Service" and d["spec"]["type"] == "NodePort"
    }
    assert actual == expected_node_ports(chain, count, base, monitor=monitor, chaincode=chaincode)
    for document in documents:
        assert DNS_1035.fullmatch(document["metadata"]["name"]), document["metadata"]["name"]


# RFC 1035 label, as Kubernetes checks Service names: written here, not taken from runner_k8s.names.
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def expected_node_ports(chain: str, count: int, base: int, *, monitor: bool, chaincode: bool) -> dict[str, list[int]]:
    """README "NodePorts": rpc = base; node i: process base+1+5i, exporter +2, chaincode +3, eventhub +4, call +5."""
    expected = {f"{chain}-node-port": [base]}
    for i in range(count):
        if monitor:
            expected[f"{chain}-{i}-monitor"] = [base + 1 + 5 * i, base + 2 + 5 * i]
        executor = [base + 5 + 5 * i]
        if chaincode:
            executor += [base + 3 + 5 * i, base + 4 + 5 * i]
        expected[f"{chain}-{i}-executor"] = sorted(executor)
    return expected


@settings(max_examples=60, deadline=None)
@given(base=st.integers(1, 65535 - 8), count=st.integers(1, 30))
def test_layout_slots_follow_the_readme_formulas(base, count):
    local_formula = {
        Slot.RPC: lambda i: base,
        Slot.PROCESS: lambda i: base + 1 + 5 * i,
        Slot.EXPORTER: lambda i: base + 2 + 5 * i,
        Slot.CHAINCODE: lambda i: base + 3 + 5 * i,
        Slot.EVENTHUB: lambda i: base + 4 + 5 * i,
        Slot.CALL: lambda i: base + 5 + 5 * i,
    }
    assert set(LOCAL_LAYOUT.offsets) == set(local_formula)
    for i in range(count):
        for slot, formula in local_formula.items():
            assert external_port(LOCAL_LAYOUT, base, slot, i) == formula(i), (slot, i)
    assert highest_port(LOCAL_LAYOUT, base, count) == base + 5 * count
    multi_offsets = {
        Slot.NETWORK: 0,
        Slot.SYNC: 1,
        Slot.RPC: 2,
        Slot.CALL: 3,
        Slot.PROCESS: 4,
        Slot.EXPORTER: 5,
        Slot.CHAINCODE: 6,
        Slot.EVENTHUB: 7,
        Slot.DEBUG: 8,
    }
    for slot, offset in multi_offsets.items():
        assert external_port(MULTI_LAYOUT, base, slot) == base + offset
        assert external_port(MULTI_LAYOUT, base, slot, count) == base + offset, "one node per cluster: no stride"
    assert highest_port(MULTI_LAYOUT, base, count) == base + 8


def test_reserved_slots_do_not_shift_when_features_are_off():
    assert external_port(LOCAL_LAYOUT, 30004, Slot.CALL, 0) == 30009
    assert external_port(MULTI_LAYOUT, 30000, Slot.DEBUG) == 30008
    assert external_port(LOCAL_LAYOUT, 30004, Slot.RPC, 7) == 30004


@pytest.mark.parametrize(("count", "tls"), [(1, "true"), (2, "false"), (3, "true"), (7, "false")])
def test_local_peers_are_every_other_node(tmp_path, capsys, count: int, tls: str):
    assert run_main(local_argv(tmp_path, "--chain_name", "c", "--enable_tls", tls, count=count), capsys).code == 0
    for index in range(count):
        folder = tmp_path / "cita-cloud" / "c" / f"node{index}"
        network = tomllib.loads((folder / "network-config.toml").read_text())
        assert network == {
            "enable_tls": tls == "true",
            "port": 40000,
            "peers": [{"ip": f"c-{j}", "port": 40000} for j in range(count) if j != index],
        }
        config = ET.parse(folder / "config" / "config.xml").getroot()
        devices = [(d.get("name"), d.findtext("address")) for d in config.findall("device")]
        assert devices == [(f"c-{j}", f"tcp://c-{j}:22000") for j in range(count)]


@pytest.mark.parametrize("count", [1, 2, 5])
def test_multi_peers_are_every_other_node(tmp_path, capsys, count: int):
    bases = [30000 + 100 * j for j in range(count)]
    args = MultiArgs(tmp_path, count, {"--node_ports": ",".join(map(str, bases))})
    assert run_main(args.argv(), capsys).code == 0
    hosts = [f"192.0.2.{10 + j}" for j in range(count)]
    for index in range(count):
        folder = tmp_path / "cita-cloud" / "test-chain" / f"node{index}"
        network = tomllib.loads((folder / "network-config.toml").read_text())
        assert network["peers"] == [{"ip": hosts[j], "port": bases[j]} for j in range(count) if j != index]
        config = ET.parse(folder / "config" / "config.xml").getroot()
        devices = [(d.get("id"), d.get("name"), d.findtext("address")) for d in config.findall("device")]
        assert devices == [
            (device_id(f"device{j}"), hosts[j], f"tcp://{hosts[j]}:{bases[j] + 1}") for j in range(count)
        ]


@settings(max_examples=30, deadline=None)
@given(base=st.integers(1, 65527), monitor=st.booleans(), debug=st.booleans(), chaincode=st.booleans())
def test_multi_lb_ports_in_their_slots(base, monitor, debug, chaincode):
    pod = pods("m", 1, monitor, debug, chaincode)[0]
    documents = multi_node_manifests(
        pod, kms_password="pw", state_db_password="db", network_key="0x" + "22" * 32, base=base, lb_token="lb"
    )
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in documents[-1]["spec"]["ports"]}
    expected = {
        "network": (base, 40000),
        "sync": (base + 1, 22000),
        "rpc": (base + 2, 50004),
        "call": (base + 3, 50002),
    }
    if monitor:
        expected |= {"process": (base + 4, 9256), "exporter": (base + 5, 9349)}
    if chaincode:
        expected |= {"chaincode": (base + 6, 7052), "eventhub": (base + 7, 7053)}
    if debug:
        expected |= {"debug": (base + 8, 9999)}
    assert ports == expected


def test_slots_in_use_follow_their_feature():
    from runner_k8s.ports import slots_in_use

    assert slots_in_use(LOCAL_LAYOUT, monitor=False, chaincode=False, debug=True) == [Slot.RPC, Slot.CALL]
    assert slots_in_use(LOCAL_LAYOUT, monitor=True, chaincode=True, debug=False) == [
        Slot.RPC,
        Slot.PROCESS,
        Slot.EXPORTER,
        Slot.CHAINCODE,
        Slot.EVENTHUB,
        Slot.CALL,
    ]
    assert slots_in_use(MULTI_LAYOUT, monitor=False, chaincode=False, debug=True) == [
        Slot.NETWORK,
        Slot.SYNC,
        Slot.RPC,
        Slot.CALL,
        Slot.DEBUG,
    ]


def test_hypothesis_runs_derandomised_in_ci():
    """A red CI run must replay anywhere: the ci profile fixes the examples."""
    profile = settings.get_profile("ci")
    assert profile is not None and profile.derandomize is True
    if os.environ.get("CI") and not os.environ.get("HYPOTHESIS_PROFILE"):
        assert settings.default is not None and settings.default.derandomize is True
