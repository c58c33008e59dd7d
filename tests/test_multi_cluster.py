"""multi_cluster: the seed README's example end to end, with accounts and identities made by our scripts."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.chains import load_documents, read_toml, secret_value
from tests.conftest import run_script, tree_snapshot
from tests.independent import check_kms_db
from tests.test_manifests_validate import OLDEST_AND_NEWEST, validate

IPS = ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
LBS = ["lb-hddhfjg1234", "lb-hddhfjg2234", "lb-hddhfjg3234"]
PASSWORDS = ["password0", "password1", "password2"]


@dataclass
class Materials:
    root: Path
    admin: str
    authorities: list[str]
    device_ids: list[str]

    def argv(self, **override: str) -> list[str]:
        values = {
            "--authorities": ",".join(self.authorities),
            "--nodes": ",".join(IPS),
            "--lbs_tokens": ",".join(LBS),
            "--sync_device_ids": ",".join(self.device_ids),
            "--kms_passwords": ",".join(PASSWORDS),
            "--node_ports": "30000,30000,30000",
            "--pvc_names": "cluster0-pvc,cluster1-pvc,cluster2-pvc",
            "--super_admin": self.admin,
        }
        values.update({f"--{key}": value for key, value in override.items()})
        return ["multi_cluster", *(item for pair in values.items() for item in pair)]


def make_account(folder: Path, password: str) -> str:
    (folder / "key_file").write_text(password + "\n")
    result = run_script("create_account.py", cwd=folder)
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"kms create output: key_id:1,address:(0x[0-9a-f]{40})\n", result.stdout)
    assert match, result.stdout
    return match.group(1)


def make_identity(folder: Path) -> str:
    result = run_script("create_syncthing_config.py", cwd=folder)
    assert result.returncode == 0, result.stderr
    return result.stdout.removeprefix("device_id: ").strip()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Materials:
    root = tmp_path_factory.mktemp("prepared")
    admin = make_account(root, "password")
    authorities = [make_account(root, password) for password in PASSWORDS]
    device_ids = [make_identity(root) for _ in PASSWORDS]
    return Materials(root, admin, authorities, device_ids)


@pytest.fixture
def materials(prepared: Materials, tmp_path: Path) -> Materials:
    """A private copy, so a test may damage it."""
    root = tmp_path / "work"
    shutil.copytree(prepared.root, root)
    return Materials(root, prepared.admin, prepared.authorities, prepared.device_ids)


@pytest.fixture(scope="module")
def seed_example(prepared: Materials, tmp_path_factory: pytest.TempPathFactory) -> tuple[Materials, str]:
    root = tmp_path_factory.mktemp("seed")
    shutil.copytree(prepared.root, root, dirs_exist_ok=True)
    materials = Materials(root, prepared.admin, prepared.authorities, prepared.device_ids)
    result = run_script("create_k8s_config.py", *materials.argv(), cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return materials, result.stdout


def node_dir(materials: Materials, index: int) -> Path:
    return materials.root / "cita-cloud" / "test-chain" / f"node{index}"


@pytest.mark.parametrize("version", OLDEST_AND_NEWEST)
def test_seed_example_yaml_passes_strict_validation(seed_example, version):
    materials, _ = seed_example
    files = [materials.root / f"test-chain-{index}.yaml" for index in range(3)]
    result = validate(files, version)
    assert result.returncode == 0, result.stdout + result.stderr


def test_seed_example_copies_the_archived_files_byte_for_byte(seed_example):
    materials, summary = seed_example
    for index in range(3):
        account = materials.root / materials.authorities[index]
        identity = materials.root / materials.device_ids[index]
        for name in ("kms.db", "key_id", "node_address"):
            assert (node_dir(materials, index) / name).read_bytes() == (account / name).read_bytes(), name
        for name in ("cert.pem", "key.pem"):
            assert (node_dir(materials, index) / "config" / name).read_bytes() == (identity / name).read_bytes()
        check_kms_db(node_dir(materials, index) / "kms.db", PASSWORDS[index], materials.authorities[index])
    assert "node folders are complete" in summary
    for password in [*PASSWORDS, "password"]:
        assert password not in summary


def test_seed_example_identities_pass_the_real_syncthing(seed_example, syncthing: str):
    materials, _ = seed_example
    for index in range(3):
        result = subprocess.run(
            [syncthing, "serve", "--device-id", "--home", str(node_dir(materials, index) / "config")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == materials.device_ids[index]


def test_seed_example_addresses_other_nodes_by_ip_and_port(seed_example):
    materials, _ = seed_example
    for index in range(3):
        network = read_toml(node_dir(materials, index) / "network-config.toml")
        assert network["peers"] == [{"ip": IPS[j], "port": 30000} for j in range(3) if j != index]
        config = ET.parse(node_dir(materials, index) / "config" / "config.xml").getroot()
        devices = {d.get("id"): (d.get("name"), d.findtext("address")) for d in config.findall("device")}
        assert devices == {materials.device_ids[j]: (IPS[j], f"tcp://{IPS[j]}:30001") for j in range(3)}
        init = read_toml(node_dir(materials, index) / "init_sys_config.toml")
        assert init["admin"] == materials.admin and init["validators"] == materials.authorities
        assert read_toml(node_dir(materials, index) / "consensus-config.toml")["node_id"] == index
    genesis = {(node_dir(materials, index) / "genesis.toml").read_bytes() for index in range(3)}
    assert len(genesis) == 1


def test_seed_example_manifests(seed_example):
    materials, _ = seed_example
    for index in range(3):
        documents = load_documents(materials.root / f"test-chain-{index}.yaml")
        assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
            ("Secret", f"test-chain-{index}-kms-secret"),
            ("Secret", f"test-chain-{index}-network-secret"),
            ("NetworkPolicy", f"test-chain-{index}"),
            ("StatefulSet", f"test-chain-{index}"),
            ("Service", f"test-chain-{index}"),
        ]
        assert secret_value(documents[0], "key_file") == PASSWORDS[index]
        service = documents[4]
        assert service["spec"]["type"] == "LoadBalancer"
        annotations = service["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"] == LBS[index]
        assert annotations["service.beta.kubernetes.io/alicloud-loadbalancer-force-override-listeners"] == "true"
        assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
            (30000, 40000),
            (30001, 22000),
            (30002, 50004),
            (30003, 50002),
        ]
        volumes = documents[3]["spec"]["template"]["spec"]["volumes"]
        assert volumes[2] == {"name": "datadir", "persistentVolumeClaim": {"claimName": f"cluster{index}-pvc"}}


def test_monitor_debug_ports_keep_their_slots(materials: Materials):
    result = run_script(
        "create_k8s_config.py",
        *materials.argv(node_ports="31000,32000,33000"),
        "--need_monitor",
        "--need_debug",
        cwd=materials.root,
    )
    assert result.returncode == 0, result.stderr
    service = load_documents(materials.root / "test-chain-1.yaml")[4]
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {
        "network": (32000, 40000),
        "sync": (32001, 22000),
        "rpc": (32002, 50004),
        "call": (32003, 50002),
        "process": (32004, 9256),
        "exporter": (32005, 9349),
        "debug": (32008, 9999),
    }
    network = read_toml(node_dir(materials, 1) / "network-config.toml")
    assert network["peers"] == [{"ip": IPS[0], "port": 31000}, {"ip": IPS[2], "port": 33000}]
    for version in OLDEST_AND_NEWEST:
        files = [materials.root / f"test-chain-{index}.yaml" for index in range(3)]
        checked = validate(files, version)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_missing_folders_are_listed_for_the_user(materials: Materials, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_script(
        "create_k8s_config.py",
        *materials.argv(),
        "--accounts_dir",
        str(empty),
        "--syncthing_dir",
        str(empty),
        cwd=materials.root,
    )
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("cp ")]
    expected = []
    for index in range(3):
        account, identity = empty / materials.authorities[index], empty / materials.device_ids[index]
        expected.append(
            f"cp {account}/kms.db {account}/key_id {account}/node_address cita-cloud/test-chain/node{index}/"
        )
        expected.append(f"cp {identity}/cert.pem {identity}/key.pem cita-cloud/test-chain/node{index}/config/")
    assert lines == expected
    assert not (node_dir(materials, 0) / "kms.db").exists()
    assert (node_dir(materials, 0) / "config" / "config.xml").exists()


def test_seed_pvc_names_are_rejected_with_a_suggestion(materials: Materials):
    assert_refused(materials, materials.argv(pvc_names="cluster0_pvc,cluster1_pvc,cluster2_pvc"), "'cluster0-pvc'")


def assert_refused(materials: Materials, argv: list[str], message: str, code: int | None = None) -> None:
    before = tree_snapshot(materials.root)
    result = run_script("create_k8s_config.py", *argv, cwd=materials.root)
    assert result.returncode != 0 and (code is None or result.returncode == code), result.stderr
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert tree_snapshot(materials.root) == before, "nothing may be written"
    for password in PASSWORDS:
        assert password not in result.stderr


def test_wrong_password_names_node_and_file(materials: Materials):
    assert_refused(
        materials,
        materials.argv(kms_passwords="password0,password9,password2"),
        f"node1: {materials.authorities[1]}/kms.db with --kms_passwords entry 1: the password does not open",
        1,
    )


def test_swapped_account_folder(materials: Materials):
    first, second = (materials.root / materials.authorities[i] for i in (0, 1))
    shutil.rmtree(first)
    shutil.copytree(second, first)
    assert_refused(materials, materials.argv(), "node0:", 1)


def test_swapped_kms_db_only(materials: Materials):
    first, second = (materials.root / materials.authorities[i] for i in (0, 1))
    shutil.copy(second / "kms.db", first / "kms.db")
    assert_refused(
        materials,
        materials.argv(kms_passwords="password1,password1,password2"),
        f"holds account {materials.authorities[1]}",
        1,
    )


def test_key_not_matching_certificate(materials: Materials):
    first, second = (materials.root / materials.device_ids[i] for i in (0, 2))
    shutil.copy(second / "key.pem", first / "key.pem")
    assert_refused(materials, materials.argv(), "node0:", 1)
    assert (
        "not the private key of cert.pem"
        in run_script("create_k8s_config.py", *materials.argv(), cwd=materials.root).stderr
    )


def test_eth_account_with_sm_kms(materials: Materials):
    folder = materials.root / "eth"
    folder.mkdir()
    (folder / "key_file").write_text("password0")
    result = run_script("create_account.py", "--kms_type", "eth", cwd=folder)
    address = result.stdout.rsplit(":", 1)[1].strip()
    shutil.move(str(folder / address), str(materials.root / address))
    authorities = ",".join([address, *materials.authorities[1:]])
    assert_refused(materials, materials.argv(authorities=authorities), "is an eth account but", 1)


def test_mismatched_lists_are_named_in_one_message(materials: Materials):
    argv = materials.argv(nodes="192.0.2.10,192.0.2.11", pvc_names="a,b,c,d")
    assert_refused(materials, argv, "--nodes has 2, --pvc_names has 4 while the others have 3", 2)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"sync_device_ids": "BAD,BAD2,BAD3"}, "not a syncthing device ID"),
        ({"super_admin": "0x1234"}, "--super_admin '0x1234' is not an address"),
        ({"node_ports": "30000,65530,30000"}, "--node_ports entry 1 ('65530')"),
        ({"node_ports": "30000,x,30000"}, "--node_ports entry 1 ('x')"),
        ({"nodes": "192.0.2.10,bad host!,192.0.2.12"}, "neither an IP address nor a DNS name"),
        ({"kms_passwords": "password0,,password2"}, "entry 1 of the list is empty"),
    ],
)
def test_bad_list_values(materials: Materials, override: dict[str, str], message: str):
    assert_refused(materials, materials.argv(**override), message, 2)


def test_wrong_check_character(materials: Materials):
    broken = materials.device_ids[0][:-1] + ("A" if materials.device_ids[0][-1] != "A" else "B")
    ids = ",".join([broken, *materials.device_ids[1:]])
    assert_refused(materials, materials.argv(sync_device_ids=ids), "wrong check character", 2)


def test_duplicates(materials: Materials):
    authorities = ",".join([materials.authorities[0]] * 2 + [materials.authorities[2]])
    assert_refused(materials, materials.argv(authorities=authorities), "--authorities lists", 2)
    ids = ",".join([materials.device_ids[1]] * 2 + [materials.device_ids[2]])
    assert_refused(materials, materials.argv(sync_device_ids=ids), "--sync_device_ids lists", 2)


def test_missing_lists_in_one_message(materials: Materials):
    assert_refused(
        materials,
        ["multi_cluster", "--super_admin", materials.admin],
        "required: --authorities, --nodes, --lbs_tokens, --sync_device_ids, --node_ports, --pvc_names",
        2,
    )


def test_existing_output_needs_force(materials: Materials):
    assert run_script("create_k8s_config.py", *materials.argv(), cwd=materials.root).returncode == 0
    assert_refused(materials, materials.argv(), "--force", 1)
    result = run_script(
        "create_k8s_config.py", *materials.argv(), "--force", "--timestamp", "1700000000001", cwd=materials.root
    )
    assert result.returncode == 0, result.stderr
    assert read_toml(node_dir(materials, 2) / "genesis.toml")["timestamp"] == 1700000000001
