"""Every manifest variant passes the checkov IaC scanner, offline, except for the reasoned skips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.manifest_variants import write_variants

SKIPS_FILE = REPO / "tests" / "checkov_skips.toml"
TIMEOUT = 600
# No account, no platform upload, no downloads of extra checks or guidelines.
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "WARNING"}
Check = dict[str, Any]


@dataclass
class Scan:
    summary: dict[str, Any]
    passed: dict[str, list[Check]]
    failed: dict[str, list[Check]]
    documents: int


def checkov() -> str:
    found = shutil.which("checkov") or shutil.which("checkov", path=str(Path(sys.executable).parent))
    assert found, "checkov is installed by requirements-dev.txt (pip install checkov)"
    return found


def without_network() -> list[str]:
    """`unshare -rn` (a new user and network namespace: no route anywhere) when the kernel allows it."""
    if shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    return ["unshare", "-rn"] if probe.returncode == 0 else []


def scan(files: list[Path]) -> dict[str, Any]:
    """checkov's JSON report of `files`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BC_", "PRISMA_"))}
    env.update(OFFLINE_ENV)
    # Not --quiet: the passed checks are part of what the tests read.
    argv = [checkov(), "--framework", "kubernetes", "--compact", "-o", "json", "--skip-download"]
    for path in files:
        argv += ["-f", str(path)]
    result = subprocess.run(
        [*without_network(), *argv], capture_output=True, text=True, env=env, timeout=TIMEOUT, check=False
    )
    # Exit 1 means "findings"; anything else is a broken run.
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    assert [item["check_type"] for item in reports] == ["kubernetes"]
    return dict(reports[0])


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    """One checkov run over every variant (it starts slowly), its results split back by variant."""
    variants = write_variants(tmp_path_factory.mktemp("checkov"))
    report = scan([path for files in variants.values() for path in files])
    owner = {str(path): name for name, files in variants.items() for path in files}
    passed: dict[str, list[Check]] = defaultdict(list)
    failed: dict[str, list[Check]] = defaultdict(list)
    for key, into in (("passed_checks", passed), ("failed_checks", failed)):
        for check in report["results"].get(key, []):
            into[owner[check["file_abs_path"]]].append(check)
    documents = sum(
        1 for files in variants.values() for path in files for doc in yaml.safe_load_all(path.read_text()) if doc
    )
    return Scan(report["summary"], passed, failed, documents)


def skips() -> dict[str, dict[str, Any]]:
    return tomllib.loads(SKIPS_FILE.read_text())


def test_skip_list_says_why_for_every_entry():
    entries = skips()
    assert len(entries) <= 10, "a short list"
    for check_id, entry in entries.items():
        assert check_id.startswith(("CKV_K8S_", "CKV2_K8S_")), check_id
        assert len(entry["why"].split()) >= 8, f"{check_id}: say why"
        assert entry["check"], check_id


def test_checkov_read_every_object(scanned: Scan):
    assert scanned.summary["parsing_errors"] == 0
    # checkov counts every document, plus the pod of each workload.
    assert scanned.summary["resource_count"] >= scanned.documents


def test_no_finding_outside_the_skip_list(scanned: Scan):
    entries = skips()
    unexpected: list[str] = []
    raised: dict[str, set[str]] = defaultdict(set)
    for name, checks in scanned.failed.items():
        for failed in checks:
            check_id = failed["check_id"]
            entry = entries.get(check_id)
            if entry is not None and name in entry.get("variants", [name]):
                raised[check_id].add(name)
            else:
                unexpected.append(f"{name}: {check_id} {failed['check_name']} ({failed['resource']})")
    assert not unexpected, "\n".join(sorted(set(unexpected)))
    stale = [check_id for check_id in entries if check_id not in raised]
    assert not stale, f"no variant raises {stale} any more: remove them from {SKIPS_FILE.name}"
    for check_id, entry in entries.items():
        if "variants" in entry:
            assert raised[check_id] == set(entry["variants"]), f"{check_id}: raised by {sorted(raised[check_id])}"


def test_the_security_checks_that_matter_pass(scanned: Scan):
    """Closed holes stay closed: these checks ran and passed on every chain variant."""
    must_pass = {
        "CKV_K8S_8": "liveness probe",
        "CKV_K8S_9": "readiness probe",
        "CKV_K8S_10": "CPU requests",
        "CKV_K8S_11": "CPU limits",
        "CKV_K8S_12": "memory requests",
        "CKV_K8S_13": "memory limits",
        "CKV_K8S_20": "no privilege escalation",
        "CKV_K8S_28": "no NET_RAW",
        "CKV_K8S_31": "seccomp RuntimeDefault",
        "CKV_K8S_38": "no service account token",
        "CKV2_K8S_6": "a NetworkPolicy for every pod",
    }
    chains = [name for name in scanned.passed if name != "pvc"]
    assert len(chains) == 9
    for name in chains:
        passed = {check["check_id"] for check in scanned.passed[name]}
        missing = {check_id: what for check_id, what in must_pass.items() if check_id not in passed}
        assert not missing, f"{name}: {missing}"


def test_checkov_finds_the_holes_of_the_original_shape(tmp_path: Path):
    """The scan can fail: a Deployment like the original's (no probes, no limits, token mounted) is flagged."""
    original = tmp_path / "original.yaml"
    original.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x-0\nspec:\n  replicas: 1\n"
        "  selector:\n    matchLabels: {node_name: x-0}\n  template:\n    metadata:\n"
        "      labels: {node_name: x-0}\n    spec:\n      containers:\n      - name: kms\n"
        "        image: citacloud/kms_sm\n        imagePullPolicy: Always\n"
    )
    failed = {check["check_id"] for check in scan([original])["results"]["failed_checks"]}
    assert {"CKV_K8S_8", "CKV_K8S_13", "CKV_K8S_38", "CKV2_K8S_6", "CKV_K8S_14"} <= failed


def test_v6_chains_pass_the_checks_v5_images_cannot(scanned: Scan):
    """v6.7.4 images run as their own user with a read-only root and no capability at all."""
    must_pass = {
        "CKV_K8S_22": "read-only root filesystem",
        "CKV_K8S_23": "no root containers",
        "CKV_K8S_37": "no capabilities",
        "CKV_K8S_28": "no NET_RAW",
    }
    for name in ("v6-overlord", "v6-raft", "v6-multi"):
        passed = {check["check_id"] for check in scanned.passed[name]}
        missing = {check_id: what for check_id, what in must_pass.items() if check_id not in passed}
        assert not missing, f"{name}: {missing}"
