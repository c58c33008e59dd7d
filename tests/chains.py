"""Helpers to make a chain with the real entry point and read it back with independent tools."""

from __future__ import annotations

import base64
import tomllib
from pathlib import Path
from typing import Any

import yaml

import create_k8s_config
from tests.conftest import fixed_runtime, output_of

PASSWORD = "chain-pass-9137"


def make_local_chain(work: Path, *extra: str, seed: str = "chain", password: str = PASSWORD) -> str:
    runtime = fixed_runtime(seed)
    argv = ["local_cluster", "--kms_password", password, "--pvc_name", "local-pvc", "--work_dir", str(work), *extra]
    code = create_k8s_config.main(argv, runtime)
    assert code == 0, f"local_cluster failed with {code}"
    return output_of(runtime)


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def read_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def secret_value(document: dict[str, Any], key: str) -> str:
    return base64.b64decode(document["data"][key]).decode()
