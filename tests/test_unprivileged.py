"""The scripts run as an ordinary user (nobody) under umask 077 and 000: modes and permissions root never sees.

As root every permission check passes and tests cannot tell a 0644 key file from a 0600 one being
honoured; here the scripts run through `setpriv` (or `runuser`) from a copy of the tree that user can read.
Skipped when the tests do not run as root or no such tool works on this machine.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # each case starts the interpreter as another user
NOBODY = 65534
SHIPPED = (
    "create_k8s_config.py",
    "create_pvc.py",
    "create_account.py",
    "create_syncthing_config.py",
    "service-config.toml",
)


# The runtime dependencies (requirements.txt), copied where nobody can read them: the interpreter's own
# site-packages may sit in a folder only root can enter (a pyenv under /root).
RUNTIME_MODULES = (
    "yaml",
    "_yaml",
    "cryptography",
    "Crypto",
    "tomli_w",
    "cffi",
    "_cffi_backend",
    "py_arkworks_bls12381",
)
PROBE = "import runner_k8s.create.chain, runner_k8s.create.identities, create_k8s_config, create_account"
# Set the umask, then run the script as `python script args` would (no shell: a shell may not be allowed
# to exec an interpreter that lives under a folder nobody cannot enter).
LAUNCH = (
    "import os, runpy, sys; os.umask(int(sys.argv[1], 8)); sys.argv = sys.argv[2:]; "
    "sys.path.insert(0, os.path.dirname(sys.argv[0])); runpy.run_path(sys.argv[0], run_name='__main__')"
)


@dataclass
class Unprivileged:
    tree: Path  # a readable copy of the scripts
    prefix: list[str]  # runs the rest of the command as nobody
    python: str = sys.executable

    def env(self, home: Path) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(self.tree.parent / "deps"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def run(self, umask: int, cwd: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*self.prefix, self.python, "-c", LAUNCH, f"{umask:03o}"]
        return subprocess.run(
            [*command, str(self.tree / script), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=self.env(cwd),
        )

    def workdir(self, name: str) -> Path:
        path = self.tree.parent / name
        path.mkdir()
        os.chown(path, NOBODY, NOBODY)
        return path


def _switcher() -> list[str] | None:
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


@pytest.fixture(scope="module")
def nobody() -> Iterator[Unprivileged]:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    prefix = _switcher()
    if prefix is None:
        pytest.skip("neither setpriv nor runuser is installed")
    top = Path(tempfile.mkdtemp(prefix="runner_k8s-nobody-"))
    try:
        top.chmod(0o755)
        tree = top / "tree"
        tree.mkdir()
        tree.chmod(0o755)
        for name in SHIPPED:
            shutil.copy(REPO / name, tree / name)
        for folder in ("runner_k8s", "templates"):  # templates/ moved into the package at some point
            if (REPO / folder).is_dir():
                shutil.copytree(REPO / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
        _copy_modules(top / "deps")
        for path in [top, *top.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        failures = []
        same_version = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
        for python in dict.fromkeys([same_version, sys.executable]):
            unprivileged = Unprivileged(tree, prefix, python)
            probe = subprocess.run(
                [*prefix, python, "-c", PROBE],
                cwd=tree,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env=unprivileged.env(top),
            )
            if probe.returncode == 0:
                yield unprivileged
                return
            failures.append(f"{python}: {probe.stderr.strip()[-200:]}")
        pytest.skip(f"python cannot run as nobody here: {'; '.join(failures)}")
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _copy_modules(deps: Path) -> None:
    deps.mkdir()
    for name in RUNTIME_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        if spec.submodule_search_locations:
            source = Path(next(iter(spec.submodule_search_locations)))
            shutil.copytree(source, deps / source.name, ignore=shutil.ignore_patterns("__pycache__", "tests"))
        else:
            shutil.copy(spec.origin, deps / Path(spec.origin).name)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


UMASKS = [0o077, 0o000]


@pytest.mark.parametrize("umask", UMASKS, ids=["umask077", "umask000"])
def test_account_files_are_private_whatever_the_umask(nobody: Unprivileged, umask: int):
    work = nobody.workdir(f"account-{umask:03o}")
    (work / "key_file").write_text("password\n")
    os.chown(work / "key_file", NOBODY, NOBODY)
    result = nobody.run(umask, work, "create_account.py")
    assert result.returncode == 0, result.stderr
    address = result.stdout.rsplit(":", 1)[1].strip()
    folder = work / address
    assert folder.stat().st_uid == NOBODY
    assert mode(folder) == 0o700
    assert mode(folder / "kms.db") == 0o600
    assert mode(folder / "key_file") == 0o600


@pytest.mark.parametrize("umask", UMASKS, ids=["umask077", "umask000"])
def test_syncthing_key_is_private_whatever_the_umask(nobody: Unprivileged, umask: int):
    work = nobody.workdir(f"identity-{umask:03o}")
    result = nobody.run(umask, work, "create_syncthing_config.py")
    assert result.returncode == 0, result.stderr
    folder = work / result.stdout.removeprefix("device_id: ").strip()
    assert mode(folder) == 0o700
    assert mode(folder / "key.pem") == 0o600


@pytest.mark.parametrize("umask", UMASKS, ids=["umask077", "umask000"])
def test_chain_secrets_are_private_whatever_the_umask(nobody: Unprivileged, umask: int):
    work = nobody.workdir(f"chain-{umask:03o}")
    args = ["local_cluster", "--kms_password", "pw-nobody", "--pvc_name", "local-pvc", "--peers_count", "2"]
    result = nobody.run(umask, work, "create_k8s_config.py", *args)
    assert result.returncode == 0, result.stderr
    assert mode(work / "test-chain.yaml") == 0o600
    assert mode(work / "test-chain-admin") == 0o700
    assert mode(work / "test-chain-admin" / "kms.db") == 0o600
    for index in range(2):
        node = work / "cita-cloud" / "test-chain" / f"node{index}"
        assert mode(node / "kms.db") == 0o600
        assert mode(node / "config" / "key.pem") == 0o600
    owners = {path.lstat().st_uid for path in work.rglob("*")}
    assert owners == {NOBODY}
    assert not list(work.glob(".runner_k8s-staging-*"))


@pytest.mark.parametrize("umask", [0o077, 0o000], ids=["umask077", "umask000"])
def test_nothing_written_is_writable_by_others(nobody: Unprivileged, umask: int):
    """Node folders are copied onto shared storage: even under umask 000 no output may be world-writable."""
    work = nobody.workdir(f"writable-{umask:03o}")
    args = ["local_cluster", "--kms_password", "pw-nobody", "--pvc_name", "local-pvc", "--peers_count", "1"]
    result = nobody.run(umask, work, "create_k8s_config.py", *args)
    assert result.returncode == 0, result.stderr
    writable = [str(p.relative_to(work)) for p in work.rglob("*") if mode(p) & (stat.S_IWGRP | stat.S_IWOTH)]
    assert writable == []


def test_a_directory_the_user_cannot_write_is_one_clear_line(nobody: Unprivileged):
    """Permission denied can only happen to a user who is not root."""
    work = nobody.workdir("readonly")
    target = nobody.tree.parent / "owned-by-root"
    target.mkdir(mode=0o755)
    args = ["local_cluster", "--kms_password", "pw", "--pvc_name", "p", "--work_dir", str(target)]
    result = nobody.run(0o022, work, "create_k8s_config.py", *args)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"cannot write {target}" in result.stderr and "Permission denied" in result.stderr
    assert list(target.iterdir()) == []


def test_an_unreadable_key_file_is_one_clear_line(nobody: Unprivileged):
    work = nobody.workdir("unreadable")
    (work / "key_file").write_text("password\n")
    (work / "key_file").chmod(0o600)  # owned by root: nobody cannot read it
    result = nobody.run(0o022, work, "create_account.py")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "key_file" in result.stderr and "Permission denied" in result.stderr
    assert sorted(p.name for p in work.iterdir()) == ["key_file"]


DRY_RUNS = {
    "local_cluster": ("create_k8s_config.py", ["local_cluster", "--kms_password", "pw", "--pvc_name", "p"]),
    "create_pvc": ("create_pvc.py", ["local_pvc"]),
}


@pytest.mark.parametrize("case", sorted(DRY_RUNS))
def test_a_dry_run_fails_where_the_real_run_would(nobody: Unprivileged, case: str):
    """A folder the user cannot write: the dry run and the real run end in the same one line."""
    script, args = DRY_RUNS[case]
    work = nobody.workdir(f"dry-{case}")
    target = nobody.tree.parent / f"root-owned-{case}"
    target.mkdir(mode=0o755)
    real = nobody.run(0o022, work, script, *args, "--work_dir", str(target))
    dry = nobody.run(0o022, work, script, *args, "--work_dir", str(target), "--dry_run")
    expected = (
        f"{script}: error: cannot write {target}: Permission denied; nothing was written, choose a writable "
        "--work_dir\n"
    )
    assert (real.returncode, real.stderr) == (1, expected)
    assert (dry.returncode, dry.stderr, dry.stdout) == (1, expected, "")
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("script", ["create_account.py", "create_syncthing_config.py"])
def test_the_small_scripts_name_their_own_folder_flag(nobody: Unprivileged, script: str):
    work = nobody.workdir(f"flag-{script}")
    (work / "key_file").write_text("password\n")
    os.chown(work / "key_file", NOBODY, NOBODY)
    target = nobody.tree.parent / f"root-owned-{script}"
    target.mkdir(mode=0o755)
    result = nobody.run(0o022, work, script, "--output_dir", str(target))
    assert result.returncode == 1
    assert result.stderr == (
        f"{script}: error: cannot write {target}: Permission denied; nothing was written, choose a writable "
        "--output_dir\n"
    )
