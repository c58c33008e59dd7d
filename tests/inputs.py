"""Valid inputs for both subcommands, built from contracts.md alone (not from the code under test)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import create_k8s_config
from tests.conftest import fixed_runtime, output_of, tree_snapshot

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

# contracts.md §6 with issue 8's names ("Safe on a shared cluster"): every object name, per subcommand.
# When a name scheme changes, change it here: the name-length limits in test_limits.py follow from it.
LOCAL_NAME_FORMATS = (
    "{chain}-kms-secret",
    "{chain}-node-port",
    "{chain}",  # NetworkPolicy
    "{chain}-{i}-network-secret",
    "{chain}-{i}",  # StatefulSet and Service
    "{chain}-{i}-0",  # its pod
    "{chain}-{i}-monitor",
    "{chain}-{i}-executor",
)
MULTI_NAME_FORMATS = (
    "{chain}-{i}-kms-secret",
    "{chain}-{i}-network-secret",
    "{chain}-{i}",  # StatefulSet, LoadBalancer Service and NetworkPolicy
    "{chain}-{i}-0",  # its pod
)
DNS_LABEL_MAX = 63  # RFC 1035 label, the Kubernetes limit for Service names
TIMESTAMP_MS = 1_600_000_000_456  # not the fixed clock's time, so a lost --timestamp shows


def longest_chain_name(formats: tuple[str, ...], node_count: int) -> int:
    """The longest chain name for which every object name of the last node fits in 63 characters."""
    overhead = max(len(fmt.format(chain="", i=node_count - 1)) for fmt in formats)
    return DNS_LABEL_MAX - overhead


def luhn32(group: str) -> str:
    """syncthing's check character (contracts.md §5), written out from the description."""
    total, factor = 0, 1
    for char in group:
        addend = factor * BASE32.index(char)
        factor = 2 if factor == 1 else 1
        total += addend // 32 + addend % 32
    return BASE32[(32 - total % 32) % 32]


def device_id(seed: str) -> str:
    """A syncthing device ID with correct check characters, from any seed."""
    return device_id_of_certificate(seed.encode())


def device_id_of_certificate(der: bytes) -> str:
    """contracts.md §5: SHA-256 of the DER, base32, a check character per 13, groups of 7."""
    digest = base64.b32encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    assert len(digest) == 52
    with_checks = "".join(digest[i : i + 13] + luhn32(digest[i : i + 13]) for i in range(0, 52, 13))
    return "-".join(with_checks[i : i + 7] for i in range(0, 56, 7))


def address(seed: str) -> str:
    return "0x" + hashlib.sha256(seed.encode()).hexdigest()[:40]


# An existing folder with no account or identity in it: multi_cluster then leaves the copies to the user.
NO_KEYS = Path(__file__).resolve().parent / "data" / "no-keys"


@dataclass
class MultiArgs:
    """multi_cluster flags for `count` nodes; every list can be overridden by name."""

    work: Path
    count: int = 2
    override: dict[str, str] = field(default_factory=dict)

    def argv(self, *extra: str) -> list[str]:
        keys = NO_KEYS
        values = {
            "--super_admin": address("admin"),
            "--authorities": ",".join(address(f"node{i}") for i in range(self.count)),
            "--nodes": ",".join(f"192.0.2.{10 + i}" for i in range(self.count)),
            "--lbs_tokens": ",".join(f"lb-{i}" for i in range(self.count)),
            "--sync_device_ids": ",".join(device_id(f"device{i}") for i in range(self.count)),
            "--kms_passwords": ",".join(f"password{i}" for i in range(self.count)),
            "--node_ports": ",".join("30000" for _ in range(self.count)),
            "--pvc_names": ",".join(f"cluster{i}-pvc" for i in range(self.count)),
            "--timestamp": str(TIMESTAMP_MS),
            "--accounts_dir": str(keys),
            "--syncthing_dir": str(keys),
            "--work_dir": str(self.work),
        }
        values.update(self.override)
        return ["multi_cluster", *(item for pair in values.items() for item in pair), *extra]


def local_argv(work: Path, *extra: str, count: int = 2) -> list[str]:
    return [
        "local_cluster",
        "--kms_password",
        "chain-pass",
        "--pvc_name",
        "local-pvc",
        "--peers_count",
        str(count),
        "--work_dir",
        str(work),
        *extra,
    ]


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    """create_k8s_config.main in-process (fast, and visible to mutation testing)."""
    capsys.readouterr()
    runtime = fixed_runtime()
    code = create_k8s_config.main(argv, runtime)
    captured = capsys.readouterr()
    return Outcome(code, output_of(runtime) + captured.out, captured.err)


def assert_refused_in_process(
    argv: list[str], capsys: pytest.CaptureFixture[str], root: Path, code: int, message: str
) -> str:
    """Exit code, exactly one stderr line holding `message`, empty stdout, nothing written under root."""
    before = tree_snapshot(root)
    outcome = run_main(argv, capsys)
    assert outcome.code == code, outcome.stderr
    assert message in outcome.stderr, outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
    assert outcome.stdout == ""
    assert tree_snapshot(root) == before, "nothing may be written"
    return outcome.stderr
