"""What a new user hit (issue 15, part 3): each case with the command that showed it, and the whole line now."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import create_pvc
from runner_k8s import __version__
from tests.conftest import REPO, fixed_runtime, run_script, tree_snapshot

SCRIPTS = ["create_k8s_config.py", "create_pvc.py", "create_account.py", "create_syncthing_config.py"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_says_its_version(tmp_path: Path, name: str):
    result = run_script(name, "--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == f"{name} (runner_k8s) {__version__}\n"
    assert list(tmp_path.iterdir()) == []


def test_the_version_is_the_package_version():
    import tomllib

    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"] == __version__


def test_a_subcommand_flag_without_the_subcommand_names_the_subcommand(tmp_path: Path):
    result = run_script("create_k8s_config.py", "--kms_password", "secret-pw", "--pvc_name", "p", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "create_k8s_config.py: error: --kms_password needs a subcommand before it: create_k8s_config.py "
        "{local_cluster,add_node} --kms_password ... (see create_k8s_config.py --help)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_flag_of_both_subcommands_names_both(tmp_path: Path):
    result = run_script("create_k8s_config.py", "--chain-name", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "create_k8s_config.py: error: --chain-name needs a subcommand before it: create_k8s_config.py "
        "{local_cluster,multi_cluster,add_node,remove_node,show_plan} --chain-name ... (see create_k8s_config.py "
        "--help)\n"
    )


def test_a_flag_no_subcommand_has_is_still_unknown(tmp_path: Path):
    result = run_script("create_pvc.py", "--zzzzzz", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "create_pvc.py: error: unknown flag --zzzzzz (see create_pvc.py --help)\n"


def test_empty_standard_input_is_named_as_such(tmp_path: Path):
    argv = ["local_cluster", "--kms_password_file", "-", "--pvc_name", "p"]
    result = run_script("create_k8s_config.py", *argv, cwd=tmp_path, stdin="")
    assert result.returncode == 1
    assert result.stderr == (
        "create_k8s_config.py: error: --kms_password_file -: standard input is empty; pipe the password into it\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_empty_password_file_is_named_as_such(tmp_path: Path):
    (tmp_path / "pw").write_text("\n")
    argv = ["local_cluster", "--kms_password_file", "pw", "--pvc_name", "p"]
    result = run_script("create_k8s_config.py", *argv, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "create_k8s_config.py: error: --kms_password_file pw is empty; write the password into it\n"
    assert [path.name for path in tmp_path.iterdir()] == ["pw"]


def test_a_local_claim_is_bound_to_its_own_volume(tmp_path: Path):
    """Two local claims of the same class: each names its own PV, so neither can take the other's."""
    for claim, data_dir in (("local-pvc", "/home/docker/cita-cloud-datadir"), ("other-pvc", "/srv/other")):
        argv = ["local_pvc", "--pvc_name", claim, "--data_dir", data_dir, "--work_dir", str(tmp_path)]
        assert create_pvc.main(argv, fixed_runtime()) == 0
    for claim, volume, path in (
        ("local-pvc", "local-pv", "/home/docker/cita-cloud-datadir"),
        ("other-pvc", "other-pv", "/srv/other"),
    ):
        documents = list(yaml.safe_load_all((tmp_path / f"{claim}.yaml").read_text()))
        pv = next(doc for doc in documents if doc["kind"] == "PersistentVolume")
        pvc = next(doc for doc in documents if doc["kind"] == "PersistentVolumeClaim")
        assert pv["metadata"]["name"] == volume and pv["spec"]["local"]["path"] == path
        assert pvc["spec"]["volumeName"] == volume


@pytest.mark.parametrize("value", ["1", "2", "3", "4294967295"])
def test_a_block_delay_above_zero_is_refused_with_the_reason(tmp_path: Path, value: str):
    """The v5.0.0 controller computes the first proposal's parent as 1 - delay - 1 (chain.rs:223): no block 1."""
    argv = ["local_cluster", "--kms_password", "secret-pw", "--pvc_name", "p", "--block_delay_number", value]
    result = run_script("create_k8s_config.py", *argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"create_k8s_config.py: error: argument --block_delay_number: {value} gives a chain that never makes "
        f"block 1 on CITA-Cloud v5.0.0 (its controller looks up the state of block 1 - {value} - 1, which does "
        "not exist); use 0 (see create_k8s_config.py local_cluster --help)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_block_delay_of_zero_is_accepted(tmp_path: Path):
    argv = ["local_cluster", "--kms_password", "secret-pw", "--pvc_name", "p", "--block_delay_number", "0"]
    result = run_script("create_k8s_config.py", *argv, "--dry_run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tree_snapshot(tmp_path) == {}


def test_a_missing_accounts_dir_is_an_error_not_an_empty_folder(tmp_path: Path):
    from tests.inputs import MultiArgs

    argv = MultiArgs(tmp_path / "work", 2, {"--accounts_dir": str(tmp_path / "acounts")}).argv()
    result = run_script("create_k8s_config.py", *argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"create_k8s_config.py: error: --accounts_dir {tmp_path / 'acounts'} does not exist; give the folder "
        "where create_account.py left the account folders (0x...)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_syncthing_dir_that_is_a_file_is_an_error(tmp_path: Path):
    from tests.inputs import MultiArgs

    (tmp_path / "ids").write_text("not a folder")
    argv = MultiArgs(tmp_path / "work", 2, {"--syncthing_dir": str(tmp_path / "ids")}).argv()
    result = run_script("create_k8s_config.py", *argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"create_k8s_config.py: error: --syncthing_dir {tmp_path / 'ids'} is not a folder; give the folder "
        "where create_syncthing_config.py left the device folders\n"
    )


def test_an_output_dir_that_did_not_exist_is_named_with_every_folder_made(tmp_path: Path):
    """A mistyped path is not silently a new tree: every folder the run made is named on stderr."""
    target = tmp_path / "typo" / "x"
    result = run_script("create_syncthing_config.py", "--output_dir", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"create_syncthing_config.py: note: made the folders {tmp_path / 'typo'}, {target}\n"
    assert result.stdout.startswith("device_id: ")


def test_an_existing_output_dir_gets_no_note(tmp_path: Path):
    result = run_script("create_syncthing_config.py", "--output_dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.parametrize("claim", ["my-pvc.yaml", "my-pvc.yml"])
def test_a_pvc_name_that_is_a_file_name_is_refused(tmp_path: Path, claim: str):
    result = run_script("create_pvc.py", "local_pvc", "--pvc_name", claim, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"create_pvc.py: error: --pvc_name {claim!r} names a file; give the claim's own name, 'my-pvc' "
        "(its file is my-pvc.yaml)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_pvc_name_with_a_dot_elsewhere_is_still_a_name(tmp_path: Path):
    assert (
        create_pvc.main(["local_pvc", "--pvc_name", "data.yaml-pvc", "--work_dir", str(tmp_path)], fixed_runtime()) == 0
    )
    assert (tmp_path / "data.yaml-pvc.yaml").is_file()


@pytest.mark.parametrize(("value", "problem"), [
    ("0", "0 makes consensus_raft v5.0.0 propose in a busy loop; use 1 to 60 seconds"),
    ("61", "61 is longer than the 60 seconds this tool has booted a chain with; use 1 to 60"),
])  # fmt: skip
def test_a_block_interval_outside_1_to_60_is_refused(tmp_path: Path, value: str, problem: str):
    argv = ["local_cluster", "--kms_password", "secret-pw", "--pvc_name", "p", "--block_interval", value]
    result = run_script("create_k8s_config.py", *argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"create_k8s_config.py: error: argument --block_interval: {problem} (see create_k8s_config.py local_cluster "
        "--help)\n"
    )


@pytest.mark.parametrize("value", ["1", "60"])
def test_a_block_interval_at_the_edges_is_written(tmp_path: Path, value: str):
    import tomllib

    import create_k8s_config

    argv = ["local_cluster", "--kms_password", "secret-pw", "--pvc_name", "p", "--block_interval", value]
    assert create_k8s_config.main([*argv, "--work_dir", str(tmp_path)], fixed_runtime()) == 0
    for node in (0, 1):
        config = tomllib.loads((tmp_path / f"cita-cloud/test-chain/node{node}/init_sys_config.toml").read_text())
        assert config["block_interval"] == int(value)


# --- start-up of the small scripts (issue 15, part 4: measured by bench/run.py, kept here by what loads) ---

LOADED = """
import runpy, sys
import runner_k8s.launch  # loaded by every script anyway
runner_k8s.launch.finish = sys.exit  # the ordinary exit (SystemExit), so that the run's modules can be listed after it
sys.argv = [{script!r}, *{args!r}]
try:
    runpy.run_path({script!r}, run_name="__main__")
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)))
"""


def modules_loaded(tmp_path: Path, script: str, *args: str) -> set[str]:
    import os
    import subprocess
    import sys

    code = LOADED.format(script=str(REPO / script), args=list(args))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_create_syncthing_config_loads_no_kms_code(tmp_path: Path):
    loaded = modules_loaded(tmp_path, "create_syncthing_config.py")
    assert "cryptography.x509" in loaded  # the control: it did make an identity
    assert not loaded & {
        "sqlite3",
        "runner_k8s.keys.keystore",
        "runner_k8s.keys.accounts",
        "Crypto",
        "yaml",
        "getpass",
        "secrets",
    }


def test_create_account_loads_no_x509_and_no_yaml(tmp_path: Path):
    (tmp_path / "key_file").write_text("a password\n")
    loaded = modules_loaded(tmp_path, "create_account.py", "--kms_type", "sm")
    assert "sqlite3" in loaded  # the control: it did write a kms.db
    assert not loaded & {"cryptography.x509", "runner_k8s.keys.syncthing", "yaml", "xml.etree.ElementTree", "getpass"}
