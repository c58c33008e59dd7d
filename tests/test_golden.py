"""Golden trees: the real entry points, a fixed clock and random source, byte-for-byte outputs.

Regenerate after an intended change with `python3 -m pytest tests/test_golden.py --update-golden`
and review the diff of tests/golden/ like any other change.
"""

from __future__ import annotations

import difflib
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

import create_account
import create_k8s_config
import create_pvc
import create_syncthing_config
from tests.conftest import REPO, fixed_runtime, output_of

GOLDEN = REPO / "tests" / "golden"
SUMMARY = "summary.txt"
TREE = "tree.txt"  # every path with its type and mode: git keeps neither empty directories nor modes
CHAINCODE_CONFIG = (
    (REPO / "service-config.toml")
    .read_text()
    .replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode")
    .replace("citacloud/kms_sm:v5.0.0", "citacloud/kms_eth:v5.0.0")
)


def chaincode_config(work: Path) -> list[str]:
    path = work.parent / "chaincode-service-config.toml"
    path.write_text(CHAINCODE_CONFIG)
    return ["--service_config", str(path)]


def multi_seed_example(work: Path) -> list[str]:
    """The seed README's multi_cluster example with real values: keys made by our own scripts."""
    addresses = []
    for number, password in enumerate(["password", "password0", "password1", "password2"]):
        (work / "key_file").write_text(password + "\n")
        runtime = fixed_runtime(seed=f"account {number}")
        assert create_account.main(["--output_dir", str(work), "--key_file", str(work / "key_file")], runtime) == 0
        addresses.append(output_of(runtime).strip().rsplit(":", 1)[1])
    device_ids = []
    for number in range(3):
        runtime = fixed_runtime(seed=f"identity {number}")
        assert create_syncthing_config.main(["--output_dir", str(work)], runtime) == 0
        device_ids.append(output_of(runtime).strip().removeprefix("device_id: "))
    return [
        "multi_cluster",
        "--work_dir",
        str(work),
        "--accounts_dir",
        str(work),
        "--syncthing_dir",
        str(work),
        "--super_admin",
        addresses[0],
        "--authorities",
        ",".join(addresses[1:]),
        "--nodes",
        "192.0.2.10,192.0.2.11,192.0.2.12",
        "--lbs_tokens",
        "lb-hddhfjg1234,lb-hddhfjg2234,lb-hddhfjg3234",
        "--sync_device_ids",
        ",".join(device_ids),
        "--kms_passwords",
        "password0,password1,password2",
        "--node_ports",
        "30000,30000,30000",
        "--pvc_names",
        "cluster0-pvc,cluster1-pvc,cluster2-pvc",
    ]


CASES: dict[str, tuple[Callable[..., int], Callable[[Path], list[str]]]] = {
    "local-default": (
        create_k8s_config.main,
        lambda work: ["local_cluster", "--kms_password", "123456", "--pvc_name", "local-pvc", "--work_dir", str(work)],
    ),
    "local-monitor-debug-chaincode-eth": (
        create_k8s_config.main,
        lambda work: [
            "local_cluster",
            "--kms_password",
            "123456",
            "--pvc_name",
            "nfs-pvc",
            "--work_dir",
            str(work),
            "--peers_count",
            "3",
            "--chain_name",
            "cc-chain",
            "--need_monitor",
            "--need_debug",
            "yes",
            *chaincode_config(work),
        ],
    ),
    "multi-seed-example": (create_k8s_config.main, multi_seed_example),
    "v6-local-default": (
        create_k8s_config.main,
        lambda work: ["local_cluster", "--release", "v6.7.4", "--pvc_name", "local-pvc", "--work_dir", str(work)],
    ),
    "v6-local-raft": (
        create_k8s_config.main,
        lambda work: [
            "local_cluster",
            "--release",
            "v6.7.4",
            "--consensus",
            "raft",
            "--peers_count",
            "3",
            "--chain_name",
            "raft-chain",
            "--pvc_name",
            "nfs-pvc",
            "--work_dir",
            str(work),
        ],
    ),
    "pvc-local": (create_pvc.main, lambda work: ["local_pvc", "--work_dir", str(work)]),
    "pvc-nfs": (
        create_pvc.main,
        lambda work: ["nfs_pvc", "--nfs_server", "10.0.0.5", "--nfs_path", "/data/nfs", "--work_dir", str(work)],
    ),
}


def files_under(root: Path) -> dict[str, bytes | None]:
    """Regular files with their bytes, plus the tree listing (directories appear only there)."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def tree_listing(root: Path) -> str:
    lines = []
    for path in sorted(root.rglob("*")):
        kind = "d" if path.is_dir() else "f"
        lines.append(f"{kind} {stat.S_IMODE(path.stat().st_mode):04o} {path.relative_to(root)}")
    return "\n".join(lines) + "\n"


def describe_difference(name: str, expected: bytes | None, actual: bytes | None) -> str:
    assert expected is not None and actual is not None
    try:
        diff = difflib.unified_diff(
            expected.decode().splitlines(),
            actual.decode().splitlines(),
            f"golden/{name}",
            f"output/{name}",
            lineterm="",
        )
        return "\n".join(diff)
    except UnicodeDecodeError:
        return f"{name}: binary content differs ({len(expected)} bytes expected, {len(actual)} written)"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, tmp_path: Path, update_golden: bool):
    entry, argv = CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    runtime = fixed_runtime()
    old_umask = os.umask(0o022)  # directories we do not chmod follow the umask
    try:
        assert entry(argv(work), runtime) == 0
    finally:
        os.umask(old_umask)
    listing = tree_listing(work)
    (work / SUMMARY).write_text(output_of(runtime).replace(str(work), "<work_dir>"))
    (work / TREE).write_text(listing)
    expected_dir = GOLDEN / case
    if update_golden:
        shutil.rmtree(expected_dir, ignore_errors=True)
        shutil.copytree(work, expected_dir)
        pytest.skip(f"rewrote {expected_dir}")
    assert expected_dir.is_dir(), f"no golden tree for {case}: run with --update-golden"
    expected, actual = files_under(expected_dir), files_under(work)
    problems = [f"missing: {name}" for name in sorted(expected.keys() - actual.keys())]
    problems += [f"unexpected: {name}" for name in sorted(actual.keys() - expected.keys())]
    problems += [
        describe_difference(name, expected[name], actual[name])
        for name in sorted(expected.keys() & actual.keys())
        if expected[name] != actual[name]
    ]
    assert not problems, "\n".join(problems)
