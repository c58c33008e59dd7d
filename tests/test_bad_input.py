"""One case per bad input: exit code, one line on stderr naming the fix, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, run_script, tree_snapshot

SHIPPED = (REPO / "service-config.toml").read_text()
BASE = ["local_cluster", "--kms_password", "pw", "--pvc_name", "local-pvc"]


def config_without(service: str) -> str:
    blocks = SHIPPED.split("[[services]]")
    return "[[services]]".join(block for block in blocks if f'name = "{service}"' not in block)


SERVICE_CONFIGS = {
    "no executor": (config_without("executor"), "missing service(s) executor"),
    "no kms": (config_without("kms"), "missing service(s) kms"),
    "two kms": (
        SHIPPED + '\n[[services]]\nname = "kms"\ndocker_image = "citacloud/kms_eth:v5.0.0"\ncmd = "kms"\n',
        "listed twice",
    ),
    "unknown service": (
        SHIPPED + '\n[[services]]\nname = "gateway"\ndocker_image = "x"\ncmd = "y"\n',
        "unknown service 'gateway'",
    ),
    "syntax error": (SHIPPED.replace('cmd = "consensus run -p 50001"', 'cmd = "consensus run'), "at line"),
    "number image": (
        SHIPPED.replace('docker_image = "citacloud/storage_sqlite:v5.0.0"', "docker_image = 5"),
        "non-empty string 'docker_image'",
    ),
    "empty cmd": (SHIPPED.replace('cmd = "storage run -p 50003"', 'cmd = "  "'), "non-empty string 'cmd'"),
    "other kms": (SHIPPED.replace("citacloud/kms_sm:v5.0.0", "someone/kms_rsa:1"), "neither kms_sm nor kms_eth"),
    "no services": ("title = 'x'\n", "no [[services]] entries"),
    "resources of no container": (SHIPPED + "\n[resources.gateway]\ncpu_limit = '1'\n", "[resources.gateway] names"),
    "unknown resource key": (SHIPPED + "\n[resources.default]\ncpu = '1'\n", "resources.default.cpu is unknown"),
    "bad cpu quantity": (SHIPPED + "\n[resources.kms]\ncpu_limit = '1 core'\n", "quantity string such as"),
    "number quantity": (SHIPPED + "\n[resources.kms]\nmemory_limit = 512\n", "quantity string such as"),
    "cpu request above limit": (
        SHIPPED + "\n[resources.kms]\ncpu_request = '1001m'\ncpu_limit = '1'\n",
        "cpu_request 1001m exceeds cpu_limit 1",
    ),
    "memory request above limit": (
        SHIPPED + "\n[resources.default]\nmemory_request = '1025Mi'\nmemory_limit = '1Gi'\n",
        "memory_request 1025Mi exceeds memory_limit 1Gi",
    ),
}

LOCAL_CASES: dict[str, tuple[list[str], int, str]] = {
    "no password": (["local_cluster", "--pvc_name", "p"], 2, "--kms_password is required"),
    "password twice": ([*BASE, "--kms_password_file", "f"], 2, "not allowed with argument --kms_password"),
    "missing password file": (["local_cluster", "--kms_password_file", "nofile", "--pvc_name", "p"], 1, "nofile"),
    "chain like a node": ([*BASE, "--chain_name", "test-chain-1"], 2, "'test-chain1'"),
    "bad namespace": ([*BASE, "--namespace", "My_NS"], 2, "--namespace 'My_NS' is not a valid namespace"),
    "no pvc": (["local_cluster", "--kms_password", "pw"], 2, "required: --pvc_name"),
    "no subcommand": ([], 2, "required"),
    "unknown subcommand": (["cluster"], 2, "unknown subcommand 'cluster'"),
    "uppercase chain": ([*BASE, "--chain_name", "Test_Chain"], 2, "'test-chain'"),
    "path in chain": ([*BASE, "--chain_name", "../evil"], 2, "is not valid"),
    "long chain": ([*BASE, "--chain_name", "a" * 60], 2, "too long"),
    "zero peers": ([*BASE, "--peers_count", "0"], 2, "must be at least 1"),
    "word peers": ([*BASE, "--peers_count", "three"], 2, "not a whole number"),
    "negative delay": ([*BASE, "--block_delay_number", "-1"], 2, "must not be negative"),
    "port out of range": ([*BASE, "--node_port", "32760"], 2, "use a --node_port between 30000 and"),
    "too many nodes": ([*BASE, "--peers_count", "600"], 2, "widen --node_port_range"),
    "bad port range": ([*BASE, "--node_port_range", "30000"], 2, "MIN-MAX"),
    "bad bool": ([*BASE, "--need_monitor", "maybe"], 2, "not a boolean"),
    "bad pvc": (["local_cluster", "--kms_password", "pw", "--pvc_name", "cluster0_pvc"], 2, "'cluster0-pvc'"),
    "empty password": (["local_cluster", "--kms_password", "", "--pvc_name", "p"], 2, "is empty"),
    "padded password": (["local_cluster", "--kms_password", "pw ", "--pvc_name", "p"], 2, "whitespace"),
    "missing config": ([*BASE, "--service_config", "nowhere.toml"], 1, "does not exist"),
    "unwritable work dir": ([*BASE, "--work_dir", "blocker/sub"], 1, "cannot write"),
}

PVC_CASES: dict[str, tuple[list[str], int, str]] = {
    "nfs flags missing": (["nfs_pvc"], 2, "required: --nfs_server, --nfs_path"),
    "nfs relative path": (["nfs_pvc", "--nfs_server", "1.2.3.4", "--nfs_path", "data"], 2, "absolute path"),
    "nfs bad server": (["nfs_pvc", "--nfs_server", "bad host!", "--nfs_path", "/d"], 2, "neither an IP"),
    "local relative dir": (["local_pvc", "--data_dir", "relative/dir"], 2, "absolute path"),
    "local empty node": (["local_pvc", "--node_list", "a,,b"], 2, "entry 1 of the list is empty"),
    "local bad node": (["local_pvc", "--node_list", "Node_1"], 2, "not a node hostname"),
}


def assert_refused(tmp_path: Path, script: str, args: list[str], code: int, message: str) -> None:
    (tmp_path / "blocker").write_text("a file where a directory is expected")
    before = tree_snapshot(tmp_path)
    result = run_script(script, *args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert tree_snapshot(tmp_path) == before, "nothing may be written"


@pytest.mark.parametrize("case", sorted(LOCAL_CASES))
def test_local_cluster_refuses(tmp_path: Path, case: str):
    args, code, message = LOCAL_CASES[case]
    assert_refused(tmp_path, "create_k8s_config.py", args, code, message)


@pytest.mark.parametrize("case", sorted(SERVICE_CONFIGS))
def test_local_cluster_refuses_service_config(tmp_path: Path, case: str):
    text, message = SERVICE_CONFIGS[case]
    (tmp_path / "service-config.toml").write_text(text)
    assert_refused(tmp_path, "create_k8s_config.py", BASE, 1, message)


@pytest.mark.parametrize("case", sorted(PVC_CASES))
def test_create_pvc_refuses(tmp_path: Path, case: str):
    args, code, message = PVC_CASES[case]
    assert_refused(tmp_path, "create_pvc.py", args, code, message)


def test_create_pvc_never_overwrites_without_force(tmp_path: Path):
    (tmp_path / "local-pvc.yaml").write_text("mine\n")
    result = run_script("create_pvc.py", "local_pvc", cwd=tmp_path)
    assert result.returncode == 1 and "--force" in result.stderr
    assert (tmp_path / "local-pvc.yaml").read_text() == "mine\n"
    result = run_script("create_pvc.py", "local_pvc", "--force", cwd=tmp_path)
    assert result.returncode == 0
    assert "kind: PersistentVolumeClaim" in (tmp_path / "local-pvc.yaml").read_text()


def test_password_never_reaches_any_stream(tmp_path: Path):
    secret = "s3cret-Never-Print-Me"
    ok = run_script("create_k8s_config.py", "local_cluster", "--kms_password", secret, "--pvc_name", "p", cwd=tmp_path)
    bad = run_script(
        "create_k8s_config.py",
        "local_cluster",
        "--kms_password",
        secret,
        "--pvc_name",
        "p",
        "--chain_name",
        "Bad!",
        cwd=tmp_path,
    )
    assert ok.returncode == 0 and bad.returncode == 2
    for stream in (ok.stdout, ok.stderr, bad.stdout, bad.stderr):
        assert secret not in stream
