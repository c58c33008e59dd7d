"""Live: the real network_zenoh service connects over our TLS material, and refuses a peer whose certificate
names another domain or comes from another CA (tests/live/zenohpeers.py runs the three services).

Needs network_zenoh built from source in a folder named by CITA_CLOUD_BIN_V6 (file `network`), root (a
private network and mount namespace: the nodes' domains resolve through a private /etc/hosts), iproute2
and util-linux's unshare. Without them it is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.live, pytest.mark.slow]

HOSTS = "127.0.0.1 localhost\n127.0.0.1 test-chain-0 test-chain-1 test-chain-2 test-chain-9\n"


def network_bin() -> Path:
    folder = os.environ.get("CITA_CLOUD_BIN_V6")
    if not folder:
        pytest.skip("v6 live tests need CITA_CLOUD_BIN_V6: a folder with the v6.7.x services built from source")
    if not (Path(folder) / "network").is_file():
        pytest.skip(f"{folder} has no network (network_zenoh) program")
    if os.geteuid() != 0:
        pytest.skip("live tests need root for network and mount namespaces")
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"live tests need {tool}")
    return Path(folder)


@pytest.mark.parametrize("scenario", ["ok", "wrongname", "wrongca"])
def test_network_zenoh_peers_over_our_certificates(tmp_path: Path, scenario: str):
    bin_dir = network_bin()
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
