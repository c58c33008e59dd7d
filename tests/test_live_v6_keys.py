"""Live: the real v6 services take our key material.

network_zenoh connects over our TLS material and refuses a peer whose certificate names another domain or
comes from another CA (tests/live/zenohpeers.py runs three of them). consensus_overlord loads our
private_key file and names itself by our validator_address; it refuses r and a trailing newline
(tests/live/overlordkey.py runs it between a fake network and a fake controller).

Needs the services built from source in a folder named by CITA_CLOUD_BIN_V6 (files `network`,
`consensus_overlord`), root (private network and mount namespaces: the nodes' domains resolve through a
private /etc/hosts), iproute2 and util-linux's unshare. Without them it is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner_k8s.keys import bls
from runner_k8s.releases.v6_7_4.accounts import Consensus, account_files, new_v6_account
from tests.conftest import REPO, DeterministicRandom

pytestmark = [pytest.mark.live, pytest.mark.slow]

HOSTS = "127.0.0.1 localhost\n127.0.0.1 test-chain-0 test-chain-1 test-chain-2 test-chain-9\n"


def v6_bin(program: str) -> Path:
    """The folder of the built v6 services, or skip saying why."""
    folder = os.environ.get("CITA_CLOUD_BIN_V6")
    if not folder:
        pytest.skip("v6 live tests need CITA_CLOUD_BIN_V6: a folder with the v6.7.x services built from source")
    if not (Path(folder) / program).is_file():
        pytest.skip(f"{folder} has no {program} program")
    if os.geteuid() != 0:
        pytest.skip("live tests need root for network and mount namespaces")
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"live tests need {tool}")
    return Path(folder)


@pytest.mark.parametrize("scenario", ["ok", "wrongname", "wrongca"])
def test_network_zenoh_peers_over_our_certificates(tmp_path: Path, scenario: str):
    bin_dir = v6_bin("network")
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    work = tmp_path / "nodes"
    inner = (
        f"ip link set lo up && mount --bind {hosts} /etc/hosts && "
        f"exec {sys.executable} -m tests.live.zenohpeers {bin_dir} {work} {scenario}"
    )
    result = subprocess.run(
        ["unshare", "--mount", "--net", "sh", "-c", inner],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    logs = {path.parent.name: path.read_text(errors="replace") for path in work.glob("*/network.log")}
    assert all(seen["running"]), f"a network service ended: {seen}; logs in {work}"
    assert not any("panicked" in text for text in logs.values()), f"a panic; logs in {work}"
    assert seen["counts"] == seen["expected"], f"{scenario}: {seen}; logs in {work}"


KAT_SECRET = 0x263DBD792F5B1BE47ED85F8938C0F29586AF0D3AC7B977F21C278FE1462040E3
KAT_ONE = "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"


def run_overlord(tmp_path: Path, private_key: bytes, validator: str) -> dict[str, bool]:
    bin_dir = v6_bin("consensus_overlord")
    work = tmp_path / "overlord"
    work.mkdir(parents=True)
    (work / "private_key").write_bytes(private_key)
    inner = f"ip link set lo up && exec {sys.executable} -m tests.live.overlordkey {bin_dir} {work} {validator}"
    result = subprocess.run(
        ["unshare", "--net", "sh", "-c", inner],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=90,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen: dict[str, bool] = json.loads(result.stdout.strip().splitlines()[-1])
    return seen


def test_overlord_names_itself_by_our_validator_address(tmp_path: Path):
    account = new_v6_account(DeterministicRandom("live overlord"), Consensus.OVERLORD)
    files = account_files(account)
    seen = run_overlord(tmp_path, files["private_key"].data, files["validator_address"].data.decode())
    assert seen == {"proposed": True, "configured": True, "panicked": False, "running": True}, tmp_path


def test_overlord_is_not_the_validator_of_another_key(tmp_path: Path):
    seen = run_overlord(tmp_path, f"{KAT_SECRET:064x}".encode(), KAT_ONE)
    assert seen == {"proposed": False, "configured": True, "panicked": False, "running": True}, tmp_path


def test_overlord_loads_r_minus_1_and_refuses_r(tmp_path: Path):
    last = bls.BLS_ORDER - 1
    seen = run_overlord(tmp_path / "last", f"{last:064x}".encode(), bls.validator_address(last))
    assert seen == {"proposed": True, "configured": True, "panicked": False, "running": True}
    seen = run_overlord(tmp_path / "r", f"{bls.BLS_ORDER:064x}".encode(), KAT_ONE)
    assert seen["panicked"] and not seen["configured"]  # it dies loading the key


def test_overlord_refuses_a_trailing_newline(tmp_path: Path):
    seen = run_overlord(tmp_path, f"{KAT_SECRET:064x}\n".encode(), bls.validator_address(KAT_SECRET))
    assert seen["panicked"] and not seen["configured"]
