"""Bad input run as real processes: exit code, one whole line on stderr naming the fix, nothing written.

The cases and their lines are the one table in tests/test_messages.py, which also runs them in-process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_script, tree_snapshot
from tests.test_messages import MESSAGES, fill, make_files


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_each_bad_input_as_a_real_process(tmp_path: Path, case: str):
    """The table of every error (tests/test_messages.py), run the way users run the scripts: the same
    whole line, the same exit code, no traceback, nothing on stdout, nothing written."""
    message = MESSAGES[case]
    make_files(message, tmp_path)
    before = tree_snapshot(tmp_path)
    result = run_script(message.script, *(fill(arg, tmp_path) for arg in message.argv), cwd=tmp_path)
    assert (result.returncode, result.stderr) == (message.code, fill(message.line, tmp_path) + "\n")
    assert result.stdout == ""
    assert tree_snapshot(tmp_path) == before, "nothing may be written"


@pytest.mark.parametrize("case", ["misspelt flag", "malformed image", "a work dir below a file", "relative nfs path"])
def test_a_few_bad_inputs_as_real_processes(tmp_path: Path, case: str):
    """The same in the fast tier, for one error of each script kind (the flags, a file, the writer, a rule)."""
    test_each_bad_input_as_a_real_process(tmp_path, case)


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
