"""local_cluster's outputs, read back with independent tools, and its safety rules."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

import create_k8s_config
import runner_k8s.keystore
from runner_k8s.accounts import SECP256K1_ORDER
from tests.chains import PASSWORD, load_documents, make_local_chain, read_toml, secret_value
from tests.conftest import fixed_runtime, run_script, tree_snapshot
from tests.independent import check_kms_db

CHAIN = "test-chain"


@pytest.fixture(scope="module")
def chain3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("chain3")
    summary = make_local_chain(work, "--peers_count", "3", "--need_monitor", "--block_delay_number", "2")
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
    for name in ("genesis.toml", "init_sys_config.toml", "controller-config.toml", "config/config.xml"):
        contents = {(node(work, index) / name).read_bytes() for index in range(3)}
        assert len(contents) == 1, name
    init = read_toml(node(work, 0) / "init_sys_config.toml")
    assert init["chain_id"] == "0x26b0b83e7281be3b117658b6f2636d0368cad3d74f22243428f5401a4b70897e"
    assert (init["version"], init["block_interval"]) == (0, 6)
    genesis = read_toml(node(work, 0) / "genesis.toml")
    assert genesis["prevhash"] == "0x" + "0" * 64
    assert read_toml(node(work, 0) / "controller-config.toml")["block_delay_number"] == 2


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
    assert not (work / "cita-cloud" / CHAIN / "kms.db").exists()
    assert not list((work / "cita-cloud").rglob("*admin*")), "the admin account stays outside cita-cloud/"


def test_yaml_documents_in_contract_order(chain3):
    work, _ = chain3
    kinds = [(doc["kind"], doc["metadata"]["name"]) for doc in load_documents(work / f"{CHAIN}.yaml")]
    expected = [("Secret", f"kms-secret-{CHAIN}"), ("Service", f"{CHAIN}-node-port")]
    for i in range(3):
        expected += [
            ("Secret", f"{CHAIN}-{i}-network-secret"),
            ("Service", f"{CHAIN}-{i}"),
            ("Deployment", f"{CHAIN}-{i}"),
            ("Service", f"monitor-{CHAIN}-{i}"),
            ("Service", f"executor-{CHAIN}-{i}"),
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


def test_deployment_shape(chain3):
    work, _ = chain3
    deployment = next(doc for doc in load_documents(work / f"{CHAIN}.yaml") if doc["kind"] == "Deployment")
    spec = deployment["spec"]
    assert spec["strategy"] == {"type": "Recreate"} and spec["replicas"] == 1
    pod = spec["template"]["spec"]
    assert pod["shareProcessNamespace"] is True
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
        assert data_mounts and data_mounts[0]["subPath"] == f"cita-cloud/{CHAIN}/node0"
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
    assert (f"monitor-{CHAIN}-0" in kinds) is expected


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
    real = runner_k8s.keystore.render_kms_db

    def interrupt_on_first(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    # The admin's kms.db is rendered while the plan is being written, after every node folder.
    monkeypatch.setattr("runner_k8s.identities.render_kms_db", interrupt_on_first)
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

    monkeypatch.setattr("runner_k8s.identities.render_kms_db", interrupt)
    code = create_k8s_config.main(
        ["local_cluster", "--kms_password", "x", "--pvc_name", "p", "--force", "--work_dir", str(tmp_path)],
        fixed_runtime(),
    )
    assert code == 130
    assert tree_snapshot(tmp_path) == before


def test_state_db_credentials_are_shell_quoted(tmp_path: Path):
    config = tmp_path / "ext.toml"
    config.write_text(
        (Path(create_k8s_config.__file__).parent / "service-config.toml")
        .read_text()
        .replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode_ext")
    )
    make_local_chain(
        tmp_path, "--peers_count", "1", "--service_config", str(config), "--state_db_password", "a b;rm -rf /"
    )
    deployment = next(d for d in load_documents(tmp_path / f"{CHAIN}.yaml") if d["kind"] == "Deployment")
    executor = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "executor")
    import shlex

    words = shlex.split(executor["command"][2])
    assert words[-2:] == ["--couchdb-password", "a b;rm -rf /"]


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
