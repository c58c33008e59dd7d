"""One set of input rules: each limit at its edge, odd but plausible input, and broken output streams."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import create_account
import create_k8s_config
import create_syncthing_config
from tests.chains import read_toml
from tests.conftest import REPO, fixed_runtime, output_of, run_script, tree_snapshot
from tests.faults import Main

BASE = ["local_cluster", "--kms_password", "pw", "--pvc_name", "local-pvc", "--peers_count", "1"]


def refused(tmp_path: Path, argv: list[str], message: str, code: int = 2, main: Main = create_k8s_config.main) -> None:
    """In-process: the exit code, one line naming the problem, no summary, nothing written."""
    before = tree_snapshot(tmp_path)
    if main is create_k8s_config.main:
        argv = [*argv, "--work_dir", str(tmp_path / "out")]
    status, stdout, stderr = run_capturing(main, argv)
    assert status == code, stderr
    assert message in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert stdout == ""
    assert tree_snapshot(tmp_path) == before


def run_capturing(main: Main, argv: list[str]) -> tuple[int, str, str]:
    """main() in this process: its exit code, summary and stderr."""
    stream = io.StringIO()
    runtime = fixed_runtime()
    with contextlib.redirect_stderr(stream):
        status = main(argv, runtime)
    return status, output_of(runtime), stream.getvalue()


def accepted(tmp_path: Path, argv: list[str], work: str = "out") -> Path:
    status, _, stderr = run_capturing(create_k8s_config.main, [*argv, "--work_dir", str(tmp_path / work)])
    assert status == 0, stderr
    return tmp_path / work


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["test-chain\n", "test-chain\r\n", "\ntest-chain"])
def test_a_chain_name_with_a_line_break_is_refused(tmp_path: Path, name: str):
    refused(tmp_path, [*BASE, "--chain_name", name], "is not valid")


@pytest.mark.parametrize("name", ["local-pvc\n", "local-pvc\n\n"])
def test_a_pvc_name_with_a_line_break_is_refused(tmp_path: Path, name: str):
    refused(tmp_path, ["local_cluster", "--kms_password", "pw", "--pvc_name", name], "not a valid Kubernetes name")


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--block_delay_number", "²", "not a whole number"),
        ("--block_delay_number", "٣", "not a whole number"),
        ("--block_delay_number", "1_0", "not a whole number"),
        ("--block_delay_number", " 1", "not a whole number"),
        ("--block_delay_number", "+1", "not a whole number"),
        ("--block_delay_number", "4294967296", "the most it can be is 4294967295"),
        ("--block_delay_number", "9" * 5000, "too large"),
        ("--peers_count", "²", "not a whole number"),
        ("--node_port", "0", "must be at least 1"),
        ("--node_port", "65536", "the most it can be is 65535"),
        ("--node_port", "³0000", "not a whole number"),
        ("--node_port_range", "0-100", "MIN-MAX within 1-65535"),
        ("--node_port_range", "200-100", "MIN-MAX within 1-65535"),
        ("--node_port_range", "30000-65536", "MIN-MAX within 1-65535"),
        ("--node_port_range", "²-5", "MIN-MAX within 1-65535"),
        ("--node_port_range", "30000-32767\n", "MIN-MAX within 1-65535"),
    ],
)
def test_numbers_outside_what_their_reader_accepts(tmp_path: Path, flag: str, value: str, message: str):
    refused(tmp_path, [*BASE, flag, value], message)


def test_block_delay_number_zero_is_the_one_value_written(tmp_path: Path):
    """The controller reads a u32, but v5.0.0 makes no block with a delay above 0 (tests/test_new_user.py)."""
    work = accepted(tmp_path, [*BASE, "--block_delay_number", "0"])
    config = read_toml(work / "cita-cloud" / "test-chain" / "node0" / "controller-config.toml")
    assert config["block_delay_number"] == 0
    refused(tmp_path / "one", [*BASE, "--block_delay_number", "1"], "never makes block 1")


def test_the_widest_node_port_range_and_its_last_port(tmp_path: Path):
    # One node uses RPC (base) and CALL (base + 5); base 65530 puts CALL on 65535, the last port.
    accepted(tmp_path, [*BASE, "--node_port_range", "1-65535", "--node_port", "65530"])
    refused(tmp_path, [*BASE, "--node_port_range", "1-65535", "--node_port", "65531"], "outside 1-65535")


# --- multi_cluster: one node's materials, made by our own scripts --------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two accounts and two identities in a folder whose name needs escaping in a sqlite URI."""
    folder = tmp_path_factory.mktemp("keys") / "odd ?#% name"
    folder.mkdir()
    for number in range(2):
        (folder / "key_file").write_text(f"password{number}")
        argv = ["--key_file", str(folder / "key_file"), "--output_dir", str(folder)]
        assert create_account.main(argv, fixed_runtime(f"account {number}")) == 0
        assert create_syncthing_config.main(["--output_dir", str(folder)], fixed_runtime(f"id {number}")) == 0
    return folder


def multi_argv(keys: Path, **override: str) -> list[str]:
    accounts = sorted(p.name for p in keys.iterdir() if p.name.startswith("0x"))
    devices = sorted(p.name for p in keys.iterdir() if not p.name.startswith("0x"))
    passwords = {(keys / address / "key_file").read_text(): address for address in accounts}
    ordered = [passwords["password0"], passwords["password1"]]
    values = {
        "super_admin": ordered[0],
        "authorities": ",".join(ordered),
        "nodes": "192.0.2.1,192.0.2.2",
        "lbs_tokens": "lb-a,lb-b",
        "sync_device_ids": ",".join(devices),
        "kms_passwords": "password0,password1",
        "node_ports": "30000,30000",
        "pvc_names": "pvc-a,pvc-b",
        "accounts_dir": str(keys),
        "syncthing_dir": str(keys),
        **override,
    }
    return ["multi_cluster", *(item for key, value in values.items() for item in (f"--{key}", value))]


def test_folders_with_uri_characters_open(tmp_path: Path, keys: Path):
    work = accepted(tmp_path, multi_argv(keys))
    assert (work / "cita-cloud" / "test-chain" / "node1" / "kms.db").is_file()


def test_ipv6_is_normalised_compared_and_bracketed(tmp_path: Path, keys: Path):
    work = accepted(tmp_path, multi_argv(keys, nodes="2001:DB8:0::1,2001:db8::2"))
    node0 = work / "cita-cloud" / "test-chain" / "node0"
    # network_p2p joins ip and port and parses a socket address: brackets, in the short form.
    assert read_toml(node0 / "network-config.toml")["peers"] == [{"ip": "[2001:db8::2]", "port": 30000}]
    devices = ET.parse(node0 / "config" / "config.xml").getroot().findall("device")
    addresses = [device.findtext("address") for device in devices]
    assert addresses == ["tcp://[2001:db8::1]:30001", "tcp://[2001:db8::2]:30001"]


def test_one_address_written_two_ways_with_overlapping_ports_is_refused(tmp_path: Path, keys: Path):
    argv = multi_argv(keys, nodes="2001:db8::1,2001:DB8:0:0::1", node_ports="30000,30008")
    refused(tmp_path, argv, "share the address 2001:db8::1 and their LoadBalancer ports 30000-30008 and 30008-30016")
    accepted(tmp_path, multi_argv(keys, nodes="2001:db8::1,2001:DB8:0:0::1", node_ports="30000,30009"))


def test_duplicate_lbs_tokens_are_refused(tmp_path: Path, keys: Path):
    refused(tmp_path, multi_argv(keys, lbs_tokens="lb-a,lb-a"), "--lbs_tokens lists lb-a twice")


@pytest.mark.parametrize("host", ["256.1.1.1", "1.2.3.04", "10.0.0", "1.2.3.4.5", "example.123"])
def test_a_dotted_quad_that_is_not_ipv4_is_not_a_host_name(tmp_path: Path, keys: Path, host: str):
    refused(tmp_path, multi_argv(keys, nodes=f"{host},192.0.2.2"), "is not an IPv4 address")


@pytest.mark.parametrize(
    ("timestamp", "ok"),
    [("99999999999", False), ("100000000000", True), (str(2**63 - 1), True), (str(2**63), False)],
)
def test_timestamp_edges(tmp_path: Path, keys: Path, timestamp: str, ok: bool):
    argv = [*multi_argv(keys), "--timestamp", timestamp]
    if ok:
        work = accepted(tmp_path, argv)
        assert read_toml(work / "cita-cloud" / "test-chain" / "node0" / "genesis.toml")["timestamp"] == int(timestamp)
    else:
        refused(tmp_path, argv, "looks like seconds" if len(timestamp) < 12 else "the most it can be is")


def test_a_key_id_beyond_sqlites_integer_range_is_a_clear_error(tmp_path: Path, keys: Path):
    copy = tmp_path / "copy"
    shutil.copytree(keys, copy)
    address = next(p for p in copy.iterdir() if p.name.startswith("0x") and (p / "key_file").read_text() == "password0")
    for value, message in [(str(2**63), "must hold the account id"), ("9" * 5000, "must hold the account id")]:
        (address / "key_id").write_text(value)
        refused(tmp_path, multi_argv(copy), message, code=1)
    (address / "key_id").write_text(str(2**63 - 1))
    refused(tmp_path, multi_argv(copy), f"has no account {2**63 - 1} (the id in key_id)", code=1)


# --- files --------------------------------------------------------------------------------------


def test_dev_zero_as_service_config(tmp_path: Path):
    refused(tmp_path, [*BASE, "--service_config", "/dev/zero"], "larger than 1048576 bytes", code=1)


def test_deeply_nested_toml(tmp_path: Path):
    (tmp_path / "deep.toml").write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    refused(tmp_path, [*BASE, "--service_config", str(tmp_path / "deep.toml")], "nests tables or arrays too deeply", 1)


def test_dev_zero_as_key_file(tmp_path: Path):
    refused(tmp_path, ["--key_file", "/dev/zero", "--output_dir", str(tmp_path)], "larger than", 1, create_account.main)


# --- passwords: create_account.py and multi_cluster apply one rule ------------------------------


@pytest.mark.parametrize(
    ("password", "words"),
    [
        (" leading", "starts or ends with whitespace"),
        ("with,comma", "holds a comma"),
        ("tab\tinside", "line break or another control character"),
        ("unit\x1fseparator", "line break or another control character"),
    ],
)
def test_both_scripts_refuse_a_password_with_the_same_words(tmp_path: Path, keys: Path, password: str, words: str):
    (tmp_path / "key_file").write_text(password + "\n")
    argv = ["--key_file", str(tmp_path / "key_file"), "--output_dir", str(tmp_path)]
    status, _, stderr = run_capturing(create_account.main, argv)
    assert status == 1 and words in stderr, stderr
    status, _, stderr = run_capturing(
        create_k8s_config.main,
        [*multi_argv(keys, kms_passwords=f"{password},password1"), "--work_dir", str(tmp_path / "out")],
    )
    assert status == 2, stderr
    assert (words in stderr) if "," not in password else ("has 3" in stderr), stderr


def test_a_key_file_that_cannot_be_removed_is_not_an_error(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(REPO / "create_account.py"), "--key_file", "/dev/stdin", "--output_dir", str(tmp_path)],
        input="piped password\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    match = re.fullmatch(r"kms create output: key_id:1,address:(0x[0-9a-f]{40})\n", result.stdout)
    assert match, result.stdout
    folder = tmp_path / match[1]
    assert (folder / "key_file").read_text() == "piped password\n"


# --- output streams -----------------------------------------------------------------------------


def test_a_full_stdout_is_one_line_not_a_traceback(tmp_path: Path):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, str(REPO / "create_k8s_config.py"), *BASE, "--work_dir", str(tmp_path)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "create_k8s_config.py: error: the outputs are complete, but the summary could not be printed: "
        "No space left on device"
    ]
    assert (tmp_path / "test-chain.yaml").is_file()


def test_a_closed_stdout_and_stderr_are_no_reason_to_fail(tmp_path: Path):
    result = subprocess.run(  # noqa: S602 - the shell closes the streams
        f"{sys.executable} {REPO / 'create_k8s_config.py'} {' '.join(BASE)} --work_dir {tmp_path} >&- 2>&-",
        shell=True,
        check=False,
    )
    assert result.returncode == 0
    assert (tmp_path / "cita-cloud" / "test-chain" / "node0" / "kms.db").is_file()


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path):
    result = subprocess.run(  # noqa: S602 - the shell runs the reader that goes away
        f"{sys.executable} {REPO / 'create_k8s_config.py'} {' '.join(BASE)} --work_dir {tmp_path} | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


# The journal a run killed after its commit leaves, for one new output "extra" that did not exist before.
COMMITTED_EXTRA = (
    '{"state": "committed", "roots": ["extra"], "made": [], "created": [], "existed": [false], "retire": []}'
)


def test_the_next_run_says_in_one_line_what_it_finished(tmp_path: Path):
    """A journal left by a killed run (made here by hand, as a killed run leaves it) is completed."""
    work = tmp_path / "work"
    status, _, _ = run_capturing(create_k8s_config.main, [*BASE, "--work_dir", str(work)])
    assert status == 0
    area = work / ".runner_k8s"
    (area / "new" / "0").mkdir(parents=True)
    (area / "new" / "0" / "data").write_text("new")
    (area / "journal").write_text(COMMITTED_EXTRA)
    argv = ["nfs_pvc", "--nfs_server", "x!", "--nfs_path", "/d", "--work_dir", "work"]
    result = run_script("create_pvc.py", *argv, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "create_pvc.py: note: a run stopped in work after its outputs were ready; its move was completed: extra"
    )
    assert (work / "extra" / "data").read_text() == "new"
    assert not area.exists()


def test_a_dry_run_only_says_a_repair_is_due(tmp_path: Path):
    work = tmp_path / "work"
    area = work / ".runner_k8s"
    (area / "new" / "0").mkdir(parents=True)
    (area / "journal").write_text(COMMITTED_EXTRA)
    before = tree_snapshot(tmp_path)
    result = run_script("create_pvc.py", "local_pvc", "--dry_run", "--work_dir", "work", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "create_pvc.py: note: a stopped run left work/.runner_k8s; the next real run repairs it\n"
    assert tree_snapshot(tmp_path) == before
