"""The speed work changes no output: fast SM2, parallel keys and cached TOML checked against independent answers."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

import create_k8s_config
from runner_k8s.keys import keygen
from runner_k8s.keys.accounts import (
    SM2_N,
    KmsFlavour,
    new_account,
    new_network_key,
    prepare_sm2_table,
    sm2_multiply,
    sm2_multiply_generator,
)
from runner_k8s.keys.parallel import PARALLEL_MIN_NODES
from runner_k8s.keys.syncthing import new_identity
from runner_k8s.releases.v5_0_0.nodefiles import NetworkConfigs, Peer, render_network_config
from tests.chains import load_documents
from tests.conftest import FIXED_NOW, DeterministicRandom, fixed_runtime, output_of
from tests.independent import check_kms_db
from tests.test_crypto_primitives import SM2_D, SM2_X, SM2_Y, gmssl_sm2_public

# Scalars at the edges of the 4-bit windows and of the range, where table and carry bugs hide.
EDGE_SCALARS = [1, 2, 3, 15, 16, 17, 255, 256, 2**252, 2**252 - 1, 2**255 + 7, 2**256 - 1 - 2**224, SM2_N - 2]


def public_bytes(point: tuple[int, int] | None) -> bytes:
    assert point is not None
    return point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def test_both_sm2_paths_give_the_standards_known_answer():
    prepare_sm2_table()
    for multiply in (sm2_multiply, sm2_multiply_generator):
        point = multiply(SM2_D)
        assert point is not None
        assert (f"{point[0]:064X}", f"{point[1]:064X}") == (SM2_X, SM2_Y)


@pytest.mark.parametrize("scalar", EDGE_SCALARS)
def test_sm2_edge_scalars_match_gmssl(scalar: int):
    prepare_sm2_table()
    expected = gmssl_sm2_public(scalar)
    assert public_bytes(sm2_multiply(scalar)) == expected
    assert public_bytes(sm2_multiply_generator(scalar)) == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=SM2_N - 2))
def test_sm2_fixed_base_table_matches_gmssl(scalar: int):
    prepare_sm2_table()
    expected = gmssl_sm2_public(scalar)
    assert public_bytes(sm2_multiply_generator(scalar)) == expected
    assert public_bytes(sm2_multiply(scalar)) == expected


def test_scalar_n_gives_the_point_at_infinity():
    prepare_sm2_table()
    assert sm2_multiply(SM2_N) is None
    assert sm2_multiply_generator(SM2_N) is None


def reference_network_config(enable_tls: bool, peers: list[Peer]) -> bytes:
    """The rendering before the speed work: one tomli_w call per peer (an IPv6 address in brackets, as
    network_p2p parses `ip:port` as a socket address).
    """
    head: dict[str, object] = {"enable_tls": enable_tls, "port": 40000}
    if not peers:
        head["peers"] = []
    hosts = [f"[{p.host}]" if ":" in p.host else p.host for p in peers]
    tables = "".join(
        "\n[[peers]]\n" + tomli_w.dumps({"ip": host, "port": p.port}) for host, p in zip(hosts, peers, strict=True)
    )
    return tomli_w.dumps(head).encode() + tables.encode()


@pytest.mark.parametrize("count", [1, 2, 5])
@pytest.mark.parametrize("enable_tls", [True, False])
def test_network_configs_are_the_bytes_of_one_toml_call_per_peer(count: int, enable_tls: bool):
    nodes = [Peer(host, 30000 + 9 * i) for i, host in enumerate(["c-0", "10.0.0.1", "2001:db8::1", "a.b", "z"][:count])]
    configs = NetworkConfigs(enable_tls, nodes)
    for index in range(count):
        others = [peer for other, peer in enumerate(nodes) if other != index]
        expected = reference_network_config(enable_tls, others)
        assert configs.for_node(index) == expected
        assert render_network_config(enable_tls, others) == expected


def test_parallel_key_work_equals_the_serial_work(monkeypatch: pytest.MonkeyPatch):
    now = dt.datetime.fromtimestamp(FIXED_NOW, tz=dt.UTC)
    count = PARALLEL_MIN_NODES + 3
    secrets = keygen.draw_node_secrets(KmsFlavour.SM, DeterministicRandom("parallel"), count)
    monkeypatch.setattr(keygen, "worker_count", lambda: 2)
    parallel = keygen.make_node_keys(KmsFlavour.SM, "pw", now, secrets)
    monkeypatch.setattr(keygen, "worker_count", lambda: 1)
    serial = keygen.make_node_keys(KmsFlavour.SM, "pw", now, secrets)
    assert [(m.account, m.kms_db, m.identity) for m in parallel] == [(m.account, m.kms_db, m.identity) for m in serial]


@pytest.mark.slow
@pytest.mark.parametrize("kms", ["sm", "eth"])
def test_keys_take_the_same_random_bytes_as_one_key_at_a_time(tmp_path: Path, kms: str):
    """Replay the random source through the one-key-at-a-time functions, in the order the chain always drew."""
    count = PARALLEL_MIN_NODES + 2  # enough nodes for the table and the worker processes
    config = (Path(create_k8s_config.__file__).parent / "service-config.toml").read_text()
    service_config = tmp_path / "service-config.toml"
    service_config.write_text(config.replace("citacloud/kms_sm:v5.0.0", f"citacloud/kms_{kms}:v5.0.0"))
    runtime = fixed_runtime("replay")
    argv = ["local_cluster", "--kms_password", "pw", "--pvc_name", "p", "--peers_count", str(count), "--json"]
    argv += ["--node_port_range", "30000-32767", "--service_config", str(service_config)]
    assert create_k8s_config.main([*argv, "--work_dir", str(tmp_path / "out")], runtime) == 0
    summary = json.loads(output_of(runtime))

    flavour = KmsFlavour(kms)
    replay = DeterministicRandom("replay")
    now = dt.datetime.fromtimestamp(FIXED_NOW, tz=dt.UTC)
    admin = new_account(flavour, replay)
    accounts = [new_account(flavour, replay) for _ in range(count)]
    identities = [new_identity(replay, now) for _ in range(count)]
    network_keys = [new_network_key(replay) for _ in range(count)]

    assert summary["super_admin"] == admin.address
    assert [node["address"] for node in summary["nodes"]] == [account.address for account in accounts]
    assert [node["device_id"] for node in summary["nodes"]] == [identity.device_id for identity in identities]
    for index in (0, count - 1):
        folder = tmp_path / "out" / "cita-cloud" / "test-chain" / f"node{index}"
        assert (folder / "config" / "cert.pem").read_bytes() == identities[index].cert_pem
        assert (folder / "config" / "key.pem").read_bytes() == identities[index].key_pem
        secret = check_kms_db(folder / "kms.db", "pw", accounts[index].address)  # gmssl / coincurve, not our code
        assert secret == accounts[index].secret
    documents = load_documents(tmp_path / "out" / "test-chain.yaml")
    written_keys = [
        base64.b64decode(doc["data"]["network-key"]).decode()
        for doc in documents
        if "network-key" in doc.get("data", {})
    ]
    assert written_keys == network_keys
