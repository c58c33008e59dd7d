"""local_cluster's outputs, read back with independent tools, and its safety rules."""

from __future__ import annotations

import base64
import shlex
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import create_k8s_config
import runner_k8s.keys.keystore
from runner_k8s.keys.accounts import SECP256K1_ORDER
from tests.chains import PASSWORD, load_documents, make_local_chain, read_toml, secret_value
from tests.conftest import fixed_runtime, run_script, tree_snapshot
from tests.independent import check_kms_db

CHAIN = "test-chain"


@pytest.fixture(scope="module")
def chain3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("chain3")
    summary = make_local_chain(work, "--peers_count", "3", "--need_monitor", "--block_delay_number", "0")
    return work, summary


def node(work: Path, index: int) -> Path:
    return work / "cita-cloud" / CHAIN / f"node{index}"


def test_every_kms_db_opens_with_independent_crypto(chain3):
    work, _ = chain3
    validators = read_toml(node(work, 0) / "init_sys_config.toml")["validators"]
    for index in range(3):
        address = (node(work, index) / "node_address").read_text()
        assert (node(work, index) / "key_id").read_bytes() == b"1"
        assert address == validators[index], "validators list the node addresses in node order"
        check_kms_db(node(work, index) / "kms.db", PASSWORD, address)
    admin = work / f"{CHAIN}-admin"
    check_kms_db(admin / "kms.db", PASSWORD, (admin / "node_address").read_text())
    assert read_toml(node(work, 0) / "init_sys_config.toml")["admin"] == (admin / "node_address").read_text()
    assert len(set(validators)) == 3


def test_shared_files_are_identical_across_nodes(chain3):
    work, _ = chain3
    for name in ("genesis.toml", "init_sys_config.toml", "controller-config.toml"):
        contents = {(node(work, index) / name).read_bytes() for index in range(3)}
        assert len(contents) == 1, name
    configs = [ET.parse(node(work, index) / "config" / "config.xml").getroot() for index in range(3)]
    keys = [config.findtext("gui/apikey") for config in configs]
    assert len(set(keys)) == 3 and CHAIN not in keys, "every node has its own random API key"
    for config in configs:
        config.find("gui/apikey").text = ""  # type: ignore[union-attr]
    assert len({ET.tostring(config) for config in configs}) == 1, "config.xml differs only by its API key"
    init = read_toml(node(work, 0) / "init_sys_config.toml")
    assert init["chain_id"] == "0x26b0b83e7281be3b117658b6f2636d0368cad3d74f22243428f5401a4b70897e"
    assert (init["version"], init["block_interval"]) == (0, 6)
    genesis = read_toml(node(work, 0) / "genesis.toml")
    assert genesis["prevhash"] == "0x" + "0" * 64
    assert read_toml(node(work, 0) / "controller-config.toml")["block_delay_number"] == 0


def test_node_folders_have_every_file_the_services_read(chain3):
    work, _ = chain3
    for index in range(3):
        folder = node(work, index)
        for service in ("network", "consensus", "executor", "storage", "controller", "kms"):
            assert (folder / f"{service}-log4rs.yaml").is_file()
        for directory in ("tx_infos", "txs", "proposals", "blocks"):
            assert (folder / directory).is_dir() and not any((folder / directory).iterdir())
        assert read_toml(folder / "consensus-config.toml") == {
            "network_port": 50000,
            "controller_port": 50004,
            "node_id": index,
        }
        network = read_toml(folder / "network-config.toml")
        assert network["enable_tls"] is True and network["port"] == 40000
        assert [peer["ip"] for peer in network["peers"]] == [f"{CHAIN}-{j}" for j in range(3) if j != index]
        assert all(peer["port"] == 40000 for peer in network["peers"])
        assert not (node(work, index) / "key_id").read_bytes().endswith(b"\n")


def test_modes_of_secret_files(chain3):
    work, _ = chain3
    assert stat.S_IMODE((work / f"{CHAIN}.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((work / f"{CHAIN}-admin").stat().st_mode) == 0o700
    assert stat.S_IMODE((work / f"{CHAIN}-admin" / "kms.db").stat().st_mode) == 0o600
    for index in range(3):
        assert stat.S_IMODE((node(work, index) / "kms.db").stat().st_mode) == 0o600
        assert stat.S_IMODE((node(work, index) / "config" / "key.pem").stat().st_mode) == 0o600
        assert stat.S_IMODE((node(work, index) / "config" / "config.xml").stat().st_mode) == 0o600
    assert not (work / "cita-cloud" / CHAIN / "kms.db").exists()
    assert not list((work / "cita-cloud").rglob("*admin*")), "the admin account stays outside cita-cloud/"


def test_yaml_documents_in_contract_order(chain3):
    work, _ = chain3
    kinds = [(doc["kind"], doc["metadata"]["name"]) for doc in load_documents(work / f"{CHAIN}.yaml")]
    expected = [("Secret", f"{CHAIN}-kms-secret"), ("NetworkPolicy", CHAIN), ("Service", f"{CHAIN}-node-port")]
    for i in range(3):
        expected += [
            ("Secret", f"{CHAIN}-{i}-network-secret"),
            ("Service", f"{CHAIN}-{i}"),
            ("StatefulSet", f"{CHAIN}-{i}"),
            ("Service", f"{CHAIN}-{i}-monitor"),
            ("Service", f"{CHAIN}-{i}-executor"),
        ]
    assert kinds == expected


def test_secrets_hold_the_password_and_valid_network_keys(chain3):
    work, summary = chain3
    documents = load_documents(work / f"{CHAIN}.yaml")
    assert secret_value(documents[0], "key_file") == PASSWORD
    keys = [secret_value(doc, "network-key") for doc in documents if doc["metadata"]["name"].endswith("network-secret")]
    assert len(set(keys)) == 3
    for key in keys:
        assert key.startswith("0x") and len(key) == 66 and key == key.lower()
        assert 0 < int(key, 16) < SECP256K1_ORDER
        assert key not in summary and key[2:] not in summary
    assert PASSWORD not in summary
    assert base64.b64encode(PASSWORD.encode()).decode() not in summary


def test_statefulset_shape(chain3):
    work, _ = chain3
    workload = next(doc for doc in load_documents(work / f"{CHAIN}.yaml") if doc["kind"] == "StatefulSet")
    spec = workload["spec"]
    assert spec["replicas"] == 1 and spec["serviceName"] == f"{CHAIN}-0"
    assert "volumeClaimTemplates" not in spec
    assert spec["selector"] == {"matchLabels": {"node_name": f"{CHAIN}-0"}}
    assert spec["template"]["metadata"]["labels"]["chain_name"] == CHAIN
    pod = spec["template"]["spec"]
    assert pod["shareProcessNamespace"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    for container in pod["containers"]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert set(container["resources"]) == {"requests", "limits"}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, (container["name"], probe)
    syncthing = next(c for c in pod["containers"] if c["name"] == "syncthing")
    assert {"name": "STGUIADDRESS", "value": "127.0.0.1:8384"} in syncthing["env"]
    assert [port["containerPort"] for port in syncthing["ports"]] == [22000], "no GUI port"
    names = [container["name"] for container in pod["containers"]]
    assert names == [
        "syncthing",
        "network",
        "consensus",
        "executor",
        "storage",
        "controller",
        "kms",
        "monitor-process",
        "monitor-citacloud",
    ]
    for container in pod["containers"]:
        data_mounts = [m for m in container["volumeMounts"] if m["name"] == "datadir"]
        assert data_mounts and all(m["subPath"].startswith(f"cita-cloud/{CHAIN}/node0") for m in data_mounts)
        if container["image"].endswith(":v5.0.0"):
            assert container["imagePullPolicy"] == "IfNotPresent"
    ports = [port["containerPort"] for container in pod["containers"] for port in container["ports"]]
    assert len(ports) == len(set(ports))
    port_names = [port["name"] for container in pod["containers"] for port in container["ports"]]
    assert len(port_names) == len(set(port_names)) and all(len(name) <= 15 for name in port_names)


def test_summary_port_table_matches_the_original_layout(chain3):
    work, summary = chain3
    assert f"{CHAIN}-node-port" in summary and "50004:30004/TCP" in summary
    assert "9256:30005/TCP,9349:30006/TCP" in summary
    assert "9256:30015/TCP,9349:30016/TCP" in summary
    assert "50002:30009/TCP" in summary and "50002:30019/TCP" in summary
    assert f"kubectl apply -f {work / 'test-chain.yaml'}" in summary


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, True), ("true", True), ("YES", True), ("1", True), ("False", False), ("no", False), ("0", False)],
)
def test_boolean_flags_mean_what_they_say(tmp_path: Path, value: str | None, expected: bool):
    flag = ["--need_monitor"] if value is None else ["--need_monitor", value]
    make_local_chain(tmp_path, *flag, "--peers_count", "1")
    kinds = [doc["metadata"]["name"] for doc in load_documents(tmp_path / f"{CHAIN}.yaml")]
    assert (f"{CHAIN}-0-monitor" in kinds) is expected


def test_enable_tls_false_reaches_network_config(tmp_path: Path):
    make_local_chain(tmp_path, "--enable_tls", "false", "--peers_count", "1")
    assert read_toml(node(tmp_path, 0) / "network-config.toml") == {"enable_tls": False, "port": 40000, "peers": []}


def test_second_run_stops_and_force_replaces_everything(tmp_path: Path):
    make_local_chain(tmp_path, seed="first")
    before = tree_snapshot(tmp_path)
    result = run_script("create_k8s_config.py", "local_cluster", "--kms_password", "x", "--pvc_name", "p", cwd=tmp_path)
    assert result.returncode == 1
    assert "already exist" in result.stderr and "--force" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert tree_snapshot(tmp_path) == before
    make_local_chain(tmp_path, "--force", seed="second")
    after = tree_snapshot(tmp_path)
    assert after.keys() == before.keys()
    assert after["test-chain.yaml"] != before["test-chain.yaml"]
    assert after["cita-cloud/test-chain/node0/kms.db"] != before["cita-cloud/test-chain/node0/kms.db"]
    assert after["test-chain-admin/node_address"] != before["test-chain-admin/node_address"]


def test_any_one_existing_output_blocks_the_run(tmp_path: Path):
    (tmp_path / "test-chain-admin").mkdir()
    before = tree_snapshot(tmp_path)
    code = create_k8s_config.main(
        ["local_cluster", "--kms_password", "x", "--pvc_name", "p", "--work_dir", str(tmp_path)], fixed_runtime()
    )
    assert code == 1
    assert tree_snapshot(tmp_path) == before


def test_other_chains_in_the_same_tree_are_left_alone(tmp_path: Path):
    make_local_chain(tmp_path, "--chain_name", "alpha")
    alpha = tree_snapshot(tmp_path / "cita-cloud" / "alpha")
    make_local_chain(tmp_path, "--chain_name", "beta")
    make_local_chain(tmp_path, "--chain_name", "beta", "--force", seed="again")
    assert tree_snapshot(tmp_path / "cita-cloud" / "alpha") == alpha


def test_an_interrupted_run_leaves_no_half_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls = {"n": 0}
    real = runner_k8s.keys.keystore.render_kms_db

    def interrupt_on_first(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    # The admin's kms.db is rendered while the plan is being written, after every node folder.
    monkeypatch.setattr("runner_k8s.keys.keystore.render_kms_db", interrupt_on_first)
    code = create_k8s_config.main(
        ["local_cluster", "--kms_password", "x", "--pvc_name", "p", "--peers_count", "4", "--work_dir", str(tmp_path)],
        fixed_runtime(),
    )
    assert code == 130
    assert list(tmp_path.iterdir()) == [], "no output and no staging folder may remain"


def test_interrupted_force_run_keeps_the_old_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    make_local_chain(tmp_path)
    before = tree_snapshot(tmp_path)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("runner_k8s.keys.keystore.render_kms_db", interrupt)
    code = create_k8s_config.main(
        ["local_cluster", "--kms_password", "x", "--pvc_name", "p", "--force", "--work_dir", str(tmp_path)],
        fixed_runtime(),
    )
    assert code == 130
    assert tree_snapshot(tmp_path) == before


def test_state_db_password_lives_only_in_the_secret(tmp_path: Path):
    config = tmp_path / "ext.toml"
    config.write_text(
        (Path(create_k8s_config.__file__).parent / "service-config.toml")
        .read_text()
        .replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode_ext")
    )
    password, user = "a b;rm -rf / $(x) `y` 'q\"", "db user"
    make_local_chain(
        tmp_path,
        "--peers_count",
        "1",
        "--service_config",
        str(config),
        "--state_db_password",
        password,
        "--state_db_user",
        user,
    )
    documents = load_documents(tmp_path / f"{CHAIN}.yaml")
    secrets = {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == "Secret"}
    assert secret_value(secrets[f"{CHAIN}-kms-secret"], "state-db-password") == password
    workload = next(d for d in documents if d["kind"] == "StatefulSet")
    assert password not in str(workload)
    containers = {c["name"]: c for c in workload["spec"]["template"]["spec"]["containers"]}
    for name in ("executor", "couchdb"):
        env = {item["name"]: item for item in containers[name]["env"]}
        assert env["COUCHDB_PASSWORD"]["valueFrom"] == {
            "secretKeyRef": {"name": f"{CHAIN}-kms-secret", "key": "state-db-password"}
        }
        assert env["COUCHDB_USER"]["value"] == user
    # Run the executor's command in a real shell, with the environment the kubelet would give it,
    # and a stand-in `executor` that prints its arguments: the credentials arrive intact.
    command = containers["executor"]["command"]
    assert command[:2] == ["sh", "-c"]
    stand_in = "executor() { printf '%s\\n' \"$@\"; }; "
    printed = subprocess.run(
        ["sh", "-c", stand_in + command[2]],
        env={"COUCHDB_USER": user, "COUCHDB_PASSWORD": password, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert printed[-4:] == ["--couchdb-username", user, "--couchdb-password", password]
    assert shlex.split(command[2])[0] == "executor"


def test_cita_cloud_may_be_a_link_to_other_storage(tmp_path: Path):
    """cita-cloud/ may link to another folder on the same filesystem; nothing is staged inside it."""
    storage = tmp_path / "mounted-volume"
    storage.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "cita-cloud").symlink_to(storage)
    make_local_chain(work, "--peers_count", "1")
    assert (storage / CHAIN / "node0" / "kms.db").is_file()
    assert [p.name for p in storage.iterdir()] == [CHAIN], "no staging folder may remain"
    assert sorted(p.name for p in work.iterdir()) == ["cita-cloud", f"{CHAIN}-admin", f"{CHAIN}.yaml"]


def test_resources_section_reaches_every_container(tmp_path: Path):
    """[resources.default] and a per-container table; a request equal to its limit is the edge that passes."""
    config = tmp_path / "sized.toml"
    config.write_text(
        (Path(create_k8s_config.__file__).parent / "service-config.toml").read_text()
        + '\n[resources.default]\nmemory_limit = "1Gi"\nmemory_request = "1024Mi"\n'
        + '\n[resources.controller]\ncpu_request = "1000m"\ncpu_limit = "1"\n'
    )
    make_local_chain(tmp_path, "--peers_count", "1", "--service_config", str(config))
    workload = next(d for d in load_documents(tmp_path / f"{CHAIN}.yaml") if d["kind"] == "StatefulSet")
    resources = {c["name"]: c["resources"] for c in workload["spec"]["template"]["spec"]["containers"]}
    assert resources["controller"] == {
        "requests": {"cpu": "1000m", "memory": "1024Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert resources["syncthing"] == {
        "requests": {"cpu": "25m", "memory": "1024Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
