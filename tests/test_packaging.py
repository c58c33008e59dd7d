"""A real package: pip installs runner_k8s and the four commands; old Pythons and missing packages get one line."""

from __future__ import annotations

import ast
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tokenize
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPTS = [
    "create_k8s_config.py",
    "create_pvc.py",
    "create_account.py",
    "create_syncthing_config.py",
    "manage_chain.py",
]
# What an old Python reads before it learns it is too old.
OLD_PYTHON_FILES = [*SCRIPTS, "runner_k8s/__init__.py", "runner_k8s/launch.py"]


@pytest.mark.parametrize("name", OLD_PYTHON_FILES)
def test_files_an_old_python_reads_use_only_old_syntax(name: str):
    source = (REPO / name).read_text()
    tree = ast.parse(source, feature_version=(3, 4))
    for node in ast.walk(tree):
        assert not isinstance(node, ast.AnnAssign), f"{name}: variable annotation"
        if isinstance(node, ast.FunctionDef):
            assert node.returns is None, f"{name}: return annotation on {node.name}"
            assert all(arg.annotation is None for arg in node.args.args), f"{name}: argument annotation"
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            assert all(alias.name != "annotations" for alias in node.names), (
                f"{name}: from __future__ import annotations"
            )
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            prefix = token.string.split(token.string[-1], 1)[0].lower()
            assert "f" not in prefix, f"{name}: f-string at line {token.start[0]}"
        assert token.type != getattr(tokenize, "FSTRING_START", -1), f"{name}: f-string"


def run_as(script: str, prelude: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a repository script after `prelude` has changed the interpreter's view of itself."""
    code = "\n".join(
        [
            "import runpy, sys",
            prelude,
            f"sys.argv = [{script!r}, *{list(args)!r}]",
            f"runpy.run_path({script!r}, run_name='__main__')",
        ]
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_old_python_gets_one_line(tmp_path: Path, script: str):
    result = run_as(str(REPO / script), "sys.version_info = (3, 8, 10, 'final', 0)", tmp_path, "--help")
    assert result.returncode == 1
    assert result.stderr == (
        f"{script}: error: runner_k8s needs Python 3.11 or newer, but this is Python 3.8; run it with a newer python3\n"
    )
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("module", "package"), [("yaml", "PyYAML"), ("cryptography", "cryptography"), ("tomli_w", "tomli-w")]
)
def test_a_missing_package_gets_one_line(tmp_path: Path, module: str, package: str):
    result = run_as(str(REPO / "create_k8s_config.py"), f"sys.modules[{module!r}] = None", tmp_path, "local_cluster")
    assert result.returncode == 1
    assert result.stderr.startswith(f"create_k8s_config.py: error: missing Python package(s) {package}; install them")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("module", "package"), [("grpc", "grpcio"), ("google.protobuf", "protobuf"), ("coincurve", "coincurve")]
)
def test_manage_chain_names_its_own_missing_packages(tmp_path: Path, module: str, package: str):
    result = run_as(str(REPO / "manage_chain.py"), f"sys.modules[{module!r}] = None", tmp_path, "--help")
    assert result.returncode == 1
    assert result.stderr.startswith(f"manage_chain.py: error: missing Python package(s) {package}; install them")
    assert len(result.stderr.splitlines()) == 1


def test_the_other_scripts_do_not_need_the_governance_packages(tmp_path: Path):
    prelude = "sys.modules['grpc'] = None; sys.modules['google.protobuf'] = None; sys.modules['coincurve'] = None"
    result = run_as(str(REPO / "create_pvc.py"), prelude, tmp_path, "nfs_pvc", "--nfs_server", "h", "--nfs_path", "/x")
    assert result.returncode == 0, result.stderr
    args = ("local_cluster", "--kms_password", "pw", "--pvc_name", "nfs-pvc", "--peers_count", "1")
    result = run_as(str(REPO / "create_k8s_config.py"), prelude, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    (tmp_path / "key_file").write_text("pw")
    result = run_as(str(REPO / "create_account.py"), prelude, tmp_path, "--kms_type", "eth")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", [name for name in SCRIPTS if name != "manage_chain.py"])
def test_the_other_scripts_never_load_grpc_or_protobuf(tmp_path: Path, script: str):
    code = f"import runpy, sys; sys.argv = [{script!r}, '--help']\n"
    code += f"try:\n    runpy.run_path({str(REPO / script)!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
    code += "print(sorted(name for name in sys.modules if name.split('.')[0] in ('grpc', 'google', 'coincurve')))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


def test_manage_chain_help_loads_neither_grpc_nor_protobuf(tmp_path: Path):
    code = "import sys; sys.argv = ['manage_chain.py', 'set_admin', '--help']\n"
    code += "from runner_k8s.scripts import manage_chain\ntry:\n    manage_chain.main()\nexcept SystemExit:\n    pass\n"
    code += "print(sorted(name for name in sys.modules if name.split('.')[0] in ('grpc', 'google')))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


def test_pyproject_dependencies_are_requirements_txt():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    required = [
        line.split("#", 1)[0].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert sorted(declared) == sorted(required)


def test_packaged_service_config_is_the_repository_one():
    assert (REPO / "runner_k8s" / "service-config.toml").read_bytes() == (REPO / "service-config.toml").read_bytes()


def test_console_scripts_are_the_original_names():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert sorted(scripts) == sorted(SCRIPTS)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install .` of a copy of the repository into a fresh venv (no network: system packages, no isolation)."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "runner_k8s", source / "runner_k8s", ignore=ignore)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    # Run from a venv, the tests' own packages (setuptools, wheel) are in that venv, not in the base
    # interpreter that --system-site-packages shows: show the new venv those of the running interpreter too.
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    inner = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    (Path(inner) / "_tests_outer_site.pth").write_text("".join(f"{path}\n" for path in sorted(outer)))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index"]
    result = subprocess.run([*pip, str(source)], capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return venv / "bin"


def run_installed(bin_dir: Path, command: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([command, *args], cwd=cwd, capture_output=True, text=True, check=False, env=env, timeout=300)


@pytest.mark.slow
def test_pip_install_gives_the_five_commands(installed: Path, tmp_path: Path):
    for script in SCRIPTS:
        assert (installed / script).is_file(), f"pip did not install {script}"
        result = run_installed(installed, script, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "usage:" in result.stdout, result.stderr
    where = run_installed(installed, "python", "-c", "import runner_k8s; print(runner_k8s.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(installed.parent)), where.stdout  # the installed copy, not the checkout
    proto = run_installed(installed, "manage_chain.py", "status", "--rpc", "127.0.0.1:1", cwd=tmp_path)
    assert proto.returncode == 1 and "unreachable" in proto.stderr, proto.stderr  # grpc and the proto module load
    shipped = (
        "from importlib.resources import files; print(files('runner_k8s.proto').joinpath('governance.proto').is_file())"
    )
    assert run_installed(installed, "python", "-c", shipped, cwd=tmp_path).stdout.strip() == "True"


@pytest.mark.slow
def test_installed_commands_make_a_chain_with_the_shipped_files(installed: Path, tmp_path: Path):
    result = run_installed(
        installed,
        "create_k8s_config.py",
        "local_cluster",
        "--kms_password",
        "pw",
        "--pvc_name",
        "local-pvc",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    node = tmp_path / "cita-cloud" / "test-chain" / "node0"
    assert (node / "kms-log4rs.yaml").read_text().count("logs/kms-service") == 2  # the packaged log4rs template
    assert "<folder" in (node / "config" / "config.xml").read_text()  # the packaged syncthing template
    assert "citacloud/kms_sm:v5.0.0" in (tmp_path / "test-chain.yaml").read_text()  # the packaged service config
    assert (
        "  create_pvc.py local_pvc --pvc_name local-pvc" in result.stdout
    )  # the next step names the installed command
    (tmp_path / "key_file").write_text("pw\n")
    assert run_installed(installed, "create_account.py", "--kms_type", "eth", cwd=tmp_path).returncode == 0
    assert run_installed(installed, "create_syncthing_config.py", cwd=tmp_path).returncode == 0
    pvc = run_installed(
        installed, "create_pvc.py", "nfs_pvc", "--nfs_server", "10.0.0.5", "--nfs_path", "/x", cwd=tmp_path
    )
    assert pvc.returncode == 0 and (tmp_path / "nfs-pvc.yaml").is_file()


@pytest.mark.parametrize("left_by_pip", ["build/lib/runner_k8s/cli.py", "runner_k8s.egg-info/PKG-INFO"])
def test_what_pip_install_leaves_in_the_checkout_is_ignored(left_by_pip: str):
    """`pip install .` builds in the checkout; git (and ruff, which follows .gitignore) must not see it."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout")
    result = subprocess.run(["git", "check-ignore", "-q", left_by_pip], cwd=REPO, check=False, timeout=60)
    assert result.returncode == 0, f"{left_by_pip} is not ignored by .gitignore"


FINISH = """
import sys
from runner_k8s.launch import finish
sys.stdout.write('x' * 200000)
sys.stderr.write('e')
finish(3)
"""


def test_finish_flushes_the_output_then_ends_the_process_with_its_code(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-c", FINISH + "print('not reached')"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (3, "x" * 200000, "e")


def test_finish_takes_the_ordinary_exit_under_a_tracer():
    from runner_k8s.launch import finish

    previous = sys.gettrace()
    sys.settrace(lambda *args: None)
    try:
        with pytest.raises(SystemExit) as stopped:
            finish(5)
    finally:
        sys.settrace(previous)
    assert stopped.value.code == 5
