"""Every manifest we emit passes `kubernetes-validate --strict` on the oldest and newest Kubernetes it ships."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from kubernetes_validate.utils import all_versions

from tests.chains import load_documents
from tests.manifest_variants import write_variants

VERSIONS = sorted(set(all_versions()), key=lambda v: tuple(int(part) for part in v.split(".")))
OLDEST_AND_NEWEST = [VERSIONS[0], VERSIONS[-1]]


def validator() -> str:
    path = shutil.which("kubernetes-validate")
    assert path, "kubernetes-validate is installed by requirements-dev.txt"
    return path


def validate(files: list[Path], version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [validator(), "--strict", "--kubernetes-version", version, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every variant: local_cluster with each feature and executor, multi_cluster, both PVC files."""
    variants = write_variants(tmp_path_factory.mktemp("manifests"))
    return [path for files in variants.values() for path in files]


@pytest.mark.parametrize("version", OLDEST_AND_NEWEST)
def test_every_manifest_passes_strict_validation(manifests: list[Path], version: str):
    result = validate(manifests, version)
    assert result.returncode == 0, result.stdout + result.stderr
    documents = sum(len(load_documents(path)) for path in manifests)
    assert result.stdout.count(" passed ") + result.stderr.count(" passed ") == documents


def test_validator_rejects_an_unknown_field(tmp_path: Path):
    """The check above can fail: a misspelt field is refused in strict mode."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  prots: []\n")
    assert validate([bad], OLDEST_AND_NEWEST[-1]).returncode != 0
