"""add_node and remove_node (issue 17): what they write, what they leave alone, and what they refuse.

Expectations come from contracts.md (the node folder, the peers, the devices), from the chain as the
create verb wrote it (objects that must stay byte for byte the same), and from independent readers
(sqlite3 and the crypto libraries of tests/independent.py, syncthing's own binary elsewhere).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import create_k8s_config
from runner_k8s.runtime import Runtime
from runner_k8s.scripts import membership_flags
from tests.chains import PASSWORD, load_documents, make_local_chain, read_toml
from tests.conftest import FIXED_NOW, DeterministicRandom, output_of, tree_snapshot
from tests.independent import check_kms_db

CHAIN = "test-chain"


def chain_dir(work: Path) -> Path:
    return work / "cita-cloud" / CHAIN


def run(work: Path, *argv: str, seed: str = "day2") -> tuple[int, str, str]:
    """create_k8s_config.py in-process: (exit code, stdout, stderr)."""
    stderr = io.StringIO()
    runtime = Runtime(clock=lambda: FIXED_NOW, randbytes=DeterministicRandom(seed), stdout=io.StringIO())
    with contextlib.redirect_stderr(stderr):
        code = create_k8s_config.main([*argv, "--work_dir", str(work)], runtime)
    return code, output_of(runtime), stderr.getvalue()


@pytest.fixture
def validators(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What remove_node's --rpc node reports as the chain's validators (the test fills it in)."""
    reported: list[str] = []
    monkeypatch.setattr(membership_flags, "validators_at", lambda addresses: list(reported))
    return reported


def objects(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in load_documents(path)}


def peers(node: Path) -> list[tuple[str, int]]:
    return [(peer["ip"], peer["port"]) for peer in read_toml(node / "network-config.toml").get("peers", [])]


def devices(node: Path) -> list[str]:
    import xml.etree.ElementTree as ET

    root = ET.parse(node / "config" / "config.xml").getroot()
    return [device.get("id", "") for device in root.findall("device")]


@pytest.fixture
def chain3(tmp_path: Path) -> Path:
    make_local_chain(tmp_path, "--peers_count", "3")
    return tmp_path


def test_add_node_writes_a_fourth_node_that_shares_the_chain(chain3: Path):
    before_yaml = objects(chain3 / f"{CHAIN}.yaml")
    before = tree_snapshot(chain3)
    code, out, err = run(chain3, "add_node")
    assert code == 0, err
    node3 = chain_dir(chain3) / "node3"
    node0 = chain_dir(chain3) / "node0"
    # contracts.md §2: the chain's genesis, system config and controller config are the same in every node.
    for name in ("genesis.toml", "init_sys_config.toml", "controller-config.toml"):
        assert (node3 / name).read_bytes() == (node0 / name).read_bytes()
    assert read_toml(node3 / "consensus-config.toml")["node_id"] == 3
    address = (node3 / "node_address").read_text()
    assert (node3 / "key_id").read_text() == "1"
    check_kms_db(node3 / "kms.db", PASSWORD, address)  # the chain's kms password opens the new account
    assert address not in read_toml(node0 / "init_sys_config.toml")["validators"]  # a validator only once voted in
    # Every node now names every other node as a peer, and syncthing knows all four devices.
    for index in range(4):
        node = chain_dir(chain3) / f"node{index}"
        assert peers(node) == [(f"{CHAIN}-{other}", 40000) for other in range(4) if other != index]
        assert len(devices(node)) == 4
        assert devices(node) == devices(node0)
    # The objects that were there are byte for byte the same: kubectl apply leaves their pods alone.
    after_yaml = objects(chain3 / f"{CHAIN}.yaml")
    assert {key: after_yaml[key] for key in before_yaml} == before_yaml
    new = sorted(set(after_yaml) - set(before_yaml))
    assert new == [
        ("Secret", f"{CHAIN}-3-network-secret"),
        ("Service", f"{CHAIN}-3"),
        ("Service", f"{CHAIN}-3-executor"),
        ("StatefulSet", f"{CHAIN}-3"),
    ]
    executor = after_yaml[("Service", f"{CHAIN}-3-executor")]
    assert executor["spec"]["ports"][0]["nodePort"] == 30004 + 5 + 5 * 3  # README: call = base + 5 + 5i
    # Nothing else changed: the other nodes' keys, logs configs, the admin.
    after = tree_snapshot(chain3)
    changed = {path for path in before if before[path] != after.get(path)}
    assert changed == {
        f"cita-cloud/{CHAIN}/node{i}/{name}" for i in range(3) for name in ("network-config.toml", "config/config.xml")
    } | {f"{CHAIN}.yaml"}
    assert PASSWORD not in out


def test_a_second_add_node_continues_from_the_first(chain3: Path):
    assert run(chain3, "add_node")[0] == 0
    code, _, err = run(chain3, "add_node", seed="second")
    assert code == 0, err
    assert sorted(path.name for path in chain_dir(chain3).iterdir()) == [f"node{i}" for i in range(5)]
    assert peers(chain_dir(chain3) / "node4") == [(f"{CHAIN}-{other}", 40000) for other in range(4)]


def test_remove_node_refuses_a_validator_and_says_how(chain3: Path, validators: list[str]):
    node1 = (chain_dir(chain3) / "node1" / "node_address").read_text()
    validators.append(node1)
    before = tree_snapshot(chain3)
    code, _, err = run(chain3, "remove_node", "--node_index", "1", "--rpc", "127.0.0.1:1")
    assert code == 1
    assert err == (
        f"create_k8s_config.py: error: node1 ({node1}) is still a validator of the running chain: remove it first "
        f"with manage_chain.py remove_validator {node1} (then wait until every node reports the new set), and run "
        "remove_node again\n"
    )
    assert tree_snapshot(chain3) == before


def test_remove_node_takes_the_node_away_and_never_reuses_its_index(chain3: Path, validators: list[str]):
    before_yaml = objects(chain3 / f"{CHAIN}.yaml")
    code, _, err = run(chain3, "remove_node", "--node_index", "2", "--rpc", "127.0.0.1:1")
    assert code == 0, err
    assert sorted(path.name for path in chain_dir(chain3).iterdir()) == ["node0", "node1"]
    after_yaml = objects(chain3 / f"{CHAIN}.yaml")
    gone = set(before_yaml) - set(after_yaml)
    assert gone == {
        ("Secret", f"{CHAIN}-2-network-secret"),
        ("Service", f"{CHAIN}-2"),
        ("Service", f"{CHAIN}-2-executor"),
        ("StatefulSet", f"{CHAIN}-2"),
    }
    for key, document in after_yaml.items():
        if key != ("NetworkPolicy", CHAIN):
            assert document == before_yaml[key], key
    for index in (0, 1):
        node = chain_dir(chain3) / f"node{index}"
        assert peers(node) == [(f"{CHAIN}-{1 - index}", 40000)]
        assert len(devices(node)) == 2
    code, _, err = run(chain3, "add_node")
    assert code == 0, err
    assert sorted(path.name for path in chain_dir(chain3).iterdir()) == ["node0", "node1", "node3"]


def test_the_json_of_add_node_names_the_node_and_holds_no_secret(chain3: Path):
    code, out, _ = run(chain3, "add_node", "--json")
    assert code == 0
    data = json.loads(out)
    node3 = chain_dir(chain3) / "node3"
    assert data["node"] == {
        "index": 3,
        "address": (node3 / "node_address").read_text(),
        "device_id": data["node"]["device_id"],
    }
    assert data["node"]["device_id"] in (node3 / "config" / "config.xml").read_text()
    assert PASSWORD not in out
    secrets = [doc["data"] for doc in load_documents(chain3 / f"{CHAIN}.yaml") if doc["kind"] == "Secret"]
    assert not any(value in out for data_ in secrets for value in data_.values())
    assert data["next"][0] == {
        "node": None,
        "command": "set -euo pipefail  # stop at the first step that fails; every step is safe to run again from "
        "the top",
    }
    assert data["plan_file"] == f"{chain3}/{CHAIN}-plan.sh"
    saved = (chain3 / f"{CHAIN}-plan.sh").read_text().splitlines()
    assert saved[2:3] + saved[4:] == [step["command"] for step in data["next"]]  # the shebang, the title; the cd


def test_a_dry_run_of_add_node_writes_nothing(chain3: Path):
    before = tree_snapshot(chain3)
    code, out, err = run(chain3, "add_node", "--dry_run")
    assert code == 0, err
    assert tree_snapshot(chain3) == before
    assert f"The plan would be (the real run saves it as {chain3}/{CHAIN}-plan.sh):" in out


# --- what is refused --------------------------------------------------------------------------------


def test_a_work_dir_without_a_chain(tmp_path: Path):
    code, _, err = run(tmp_path, "add_node")
    assert code == 1
    assert err == (
        f"create_k8s_config.py: error: {tmp_path} holds no chain (cita-cloud/<chain>/ with its YAML); give the "
        "--work_dir where create_k8s_config.py wrote it\n"
    )


def test_a_work_dir_with_two_chains(chain3: Path):
    make_local_chain(chain3, "--chain_name", "other-chain", "--node_port", "30100")
    before = tree_snapshot(chain3)
    code, _, err = run(chain3, "add_node")
    assert code == 1
    assert err == (
        f"create_k8s_config.py: error: {chain3} holds 2 chains (other-chain, test-chain); say which with --chain_name\n"
    )
    assert tree_snapshot(chain3) == before
    code, _, err = run(chain3, "add_node", "--chain_name", "other-chain")
    assert code == 0, err
    assert (chain3 / "cita-cloud" / "other-chain" / "node2").is_dir()
    assert not (chain_dir(chain3) / "node3").exists()  # the other chain is never touched


def test_a_node_index_that_does_not_exist(chain3: Path, validators: list[str]):
    code, _, err = run(chain3, "remove_node", "--node_index", "7", "--rpc", "127.0.0.1:1")
    assert code == 1
    assert err == f"create_k8s_config.py: error: chain '{CHAIN}' has no node 7; its nodes are 0, 1, 2\n"


def test_multi_cluster_flags_on_a_local_chain(chain3: Path):
    code, _, err = run(chain3, "add_node", "--node", "10.0.0.9", "--lbs_token", "lb-9")
    assert code == 2
    assert err == (
        f"create_k8s_config.py: error: chain '{CHAIN}' is a local_cluster chain: --node, --lbs_token are for a "
        "multi_cluster chain's new cluster; leave them out\n"
    )


def test_a_premade_account_that_is_already_a_node(chain3: Path):
    node1 = chain_dir(chain3) / "node1"
    address = (node1 / "node_address").read_text()
    device = devices(node1)[1]
    code, _, err = run(chain3, "add_node", "--authority", address, "--sync_device_id", device)
    assert code == 1
    assert err == (
        f"create_k8s_config.py: error: {address} is already node1 of chain '{CHAIN}'; a new node needs its own "
        "account and identity\n"
    )


def test_a_yaml_edited_by_hand_is_not_extended(chain3: Path):
    path = chain3 / f"{CHAIN}.yaml"
    path.write_text(path.read_text().replace("component: network-policy", "component: mine", 1))
    before = tree_snapshot(chain3)
    code, _, err = run(chain3, "add_node")
    assert code == 1
    assert err == (
        f"create_k8s_config.py: error: {path}: NetworkPolicy {CHAIN} is not what runner_k8s makes for chain "
        f"'{CHAIN}' (edited by hand?); a change would replace it, so nothing was done: restore the file\n"
    )
    assert tree_snapshot(chain3) == before


def test_objects_add_node_does_not_read_are_carried_over_as_they_are(chain3: Path):
    """An edit to node 2's StatefulSet stays byte for byte; the new node is made like node 0 (the first)."""
    path = chain3 / f"{CHAIN}.yaml"
    text = path.read_text()
    node2 = text.index(f"kind: StatefulSet\nmetadata:\n  name: {CHAIN}-2\n")
    edited = text[:node2] + text[node2:].replace("memory: 512Mi", "memory: 1Gi", 1)
    path.write_text(edited)
    code, _, err = run(chain3, "add_node")
    assert code == 0, err
    after = path.read_text()
    assert after.startswith(edited)  # every old object kept exactly, the new node's appended
    node3 = objects(path)[("StatefulSet", f"{CHAIN}-3")]
    assert {c["resources"]["limits"]["memory"] for c in node3["spec"]["template"]["spec"]["containers"]} == {"512Mi"}


def test_a_node_file_edited_by_hand_is_not_rewritten(chain3: Path):
    path = chain_dir(chain3) / "node1" / "network-config.toml"
    path.write_text(path.read_text() + "\n# mine\n")
    code, _, err = run(chain3, "add_node")
    assert code == 1
    assert err == (
        f"create_k8s_config.py: error: {path} is not what runner_k8s wrote for chain '{CHAIN}' (edited by hand?); "
        "a change would replace it, so nothing was done: restore the file\n"
    )


def test_the_last_node_is_never_removed(tmp_path: Path, validators: list[str]):
    make_local_chain(tmp_path, "--peers_count", "1")
    code, _, err = run(tmp_path, "remove_node", "--node_index", "0", "--rpc", "127.0.0.1:1")
    assert code == 2
    assert (
        err == f"create_k8s_config.py: error: node0 is the last node of chain '{CHAIN}'; a chain needs at least one\n"
    )


def test_an_old_folder_where_the_new_node_goes_is_not_overwritten(chain3: Path):
    stale = chain_dir(chain3) / "node3"
    shutil.copytree(chain_dir(chain3) / "node0", stale)
    code, _, err = run(chain3, "add_node")
    assert code == 1
    assert err == (
        f"create_k8s_config.py: error: {stale} already exists though the chain has no node3; move it away (an old "
        "copy?) and run again\n"
    )


# --- multi_cluster: one cluster more or less ----------------------------------------------------------


@pytest.fixture
def multi3(tmp_path: Path) -> Path:
    from tests.test_golden import multi_seed_example

    argv = multi_seed_example(tmp_path)
    assert create_k8s_config.main(argv, Runtime(stdout=io.StringIO())) == 0
    return tmp_path


def premade(work: Path, password: str) -> tuple[str, str]:
    """An account and a syncthing identity made by the scripts, as an operator makes them for a new cluster."""
    import create_account
    import create_syncthing_config

    (work / "key_file").write_text(password + "\n")
    runtime = Runtime(stdout=io.StringIO())
    assert create_account.main(["--output_dir", str(work), "--key_file", str(work / "key_file")], runtime) == 0
    address = output_of(runtime).strip().rsplit(":", 1)[1]
    runtime = Runtime(stdout=io.StringIO())
    assert create_syncthing_config.main(["--output_dir", str(work)], runtime) == 0
    return address, output_of(runtime).strip().removeprefix("device_id: ")


NEW_CLUSTER = ["--node", "192.0.2.13", "--node_port", "30000", "--lbs_token", "lb-4", "--pvc_name", "cluster3-pvc"]


def test_multi_add_node_writes_the_new_clusters_yaml_and_leaves_the_others(multi3: Path):
    before = {path.name: path.read_bytes() for path in multi3.glob(f"{CHAIN}-*.yaml")}
    address, device = premade(multi3, "password3")
    argv = ["add_node", *NEW_CLUSTER, "--authority", address, "--sync_device_id", device, "--kms_password", "password3"]
    code, out, err = run(multi3, *argv, "--accounts_dir", str(multi3), "--syncthing_dir", str(multi3))
    assert code == 0, err
    assert {path.name: path.read_bytes() for path in multi3.glob(f"{CHAIN}-[0-2].yaml")} == before
    new = objects(multi3 / f"{CHAIN}-3.yaml")
    balancer = new[("Service", f"{CHAIN}-3")]
    assert balancer["metadata"]["annotations"]["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"] == "lb-4"
    assert [port["port"] for port in balancer["spec"]["ports"]] == [30000, 30001, 30002, 30003]  # README: base + 0..3
    node3 = chain_dir(multi3) / "node3"
    assert (node3 / "node_address").read_text() == address
    check_kms_db(node3 / "kms.db", "password3", address)
    # contracts.md §2 (multi): peers are the other nodes' IPs at their base ports; syncthing at base + 1.
    assert peers(node3) == [(f"192.0.2.{10 + i}", 30000) for i in range(3)]
    for index in range(3):
        node = chain_dir(multi3) / f"node{index}"
        assert ("192.0.2.13", 30000) in peers(node)
        assert device in devices(node)
        assert "tcp://192.0.2.13:30001" in (node / "config" / "config.xml").read_text()
    assert "still_to_copy" not in out and PASSWORD not in out


def test_multi_add_node_needs_the_new_clusters_flags(multi3: Path):
    code, _, err = run(multi3, "add_node", "--node", "192.0.2.13")
    assert code == 2
    assert err == (
        f"create_k8s_config.py: error: chain '{CHAIN}' is a multi_cluster chain: its new node needs --node_port, "
        "--lbs_token, --kms_password, --authority, --sync_device_id, --pvc_name (its cluster's LoadBalancer, claim "
        "and its pre-made account and identity)\n"
    )


def test_multi_remove_node_takes_its_yaml_and_folder_and_marks_the_others(multi3: Path, validators: list[str]):
    code, _, err = run(multi3, "remove_node", "--node_index", "2", "--rpc", "127.0.0.1:9")
    assert code == 0, err
    assert sorted(path.name for path in multi3.glob(f"{CHAIN}-*.yaml")) == [f"{CHAIN}-0.yaml", f"{CHAIN}-1.yaml"]
    assert sorted(path.name for path in chain_dir(multi3).iterdir()) == ["node0", "node1"]
    for index in (0, 1):
        policy = objects(multi3 / f"{CHAIN}-{index}.yaml")[("NetworkPolicy", f"{CHAIN}-{index}")]
        assert policy["metadata"]["annotations"] == {"runner-k8s/retired-nodes": "2"}
        assert peers(chain_dir(multi3) / f"node{index}") == [(f"192.0.2.{11 - index}", 30000)]


def test_show_plan_prints_the_last_plan_again(chain3: Path):
    code, _, err = run(chain3, "show_plan")
    assert (code, err) == (
        1,
        f"create_k8s_config.py: error: {chain3}/{CHAIN}-plan.sh does not exist: no add_node or remove_node has saved "
        f"a plan for chain '{CHAIN}' in {chain3}\n",
    )
    assert run(chain3, "add_node")[0] == 0
    code, out, _ = run(chain3, "show_plan")
    assert code == 0
    assert out == (chain3 / f"{CHAIN}-plan.sh").read_text()
    assert out.startswith("#!/usr/bin/env bash\n# add node3 to chain test-chain (create_k8s_config.py add_node)\n")
