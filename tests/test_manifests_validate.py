"""Every manifest we emit passes `kubernetes-validate --strict` on the oldest and newest Kubernetes it ships."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from kubernetes_validate.utils import all_versions

import create_pvc
from tests.chains import load_documents, make_local_chain
from tests.conftest import REPO, fixed_runtime

VERSIONS = sorted(set(all_versions()), key=lambda v: tuple(int(part) for part in v.split(".")))
OLDEST_AND_NEWEST = [VERSIONS[0], VERSIONS[-1]]
CHAINCODE_EXT = (
    (REPO / "service-config.toml")
    .read_text()
    .replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode_ext")
)
CHAINCODE = (
    (REPO / "service-config.toml").read_text().replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode")
)


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
    root = tmp_path_factory.mktemp("manifests")
    files = []
    variants = {
        "plain": [],
        "monitor-debug": ["--need_monitor", "true", "--need_debug", "true", "--peers_count", "3"],
        "chaincode": ["--need_monitor", "--service_config", "CHAINCODE"],
        "chaincode-ext": ["--need_debug", "--service_config", "CHAINCODE_EXT"],
    }
    for name, flags in variants.items():
        work = root / name
        work.mkdir()
        args = list(flags)
        for marker, text in (("CHAINCODE", CHAINCODE), ("CHAINCODE_EXT", CHAINCODE_EXT)):
            if marker in args:
                config = work / f"{marker}.toml"
                config.write_text(text)
                args = [str(config) if item == marker else item for item in args]
        make_local_chain(work, *args, "--chain_name", name)
        files.append(work / f"{name}.yaml")
    pvc_dir = root / "pvc"
    assert create_pvc.main(["local_pvc", "--work_dir", str(pvc_dir)], fixed_runtime()) == 0
    assert (
        create_pvc.main(
            ["nfs_pvc", "--nfs_server", "nfs.example.org", "--nfs_path", "/x", "--work_dir", str(pvc_dir)],
            fixed_runtime(),
        )
        == 0
    )
    files += [pvc_dir / "local-pvc.yaml", pvc_dir / "nfs-pvc.yaml"]
    return files


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
