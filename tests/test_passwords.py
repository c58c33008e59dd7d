"""Passwords come from a flag, a file, standard input or a no-echo terminal prompt, and never leak."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import create_k8s_config
from tests.chains import load_documents, secret_value
from tests.conftest import REPO, fixed_runtime, run_script
from tests.independent import check_kms_db
from tests.manifest_variants import make_multi_chain, multi_argv

LOCAL = ["local_cluster", "--pvc_name", "p", "--peers_count", "1"]


def chain_password(work: Path, chain: str = "test-chain") -> str:
    return secret_value(load_documents(work / f"{chain}.yaml")[0], "key_file")


def test_password_from_a_file(tmp_path: Path):
    (tmp_path / "pw").write_text("from a file, with spaces inside\n")
    result = run_script("create_k8s_config.py", *LOCAL, "--kms_password_file", "pw", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert chain_password(tmp_path) == "from a file, with spaces inside"
    node = tmp_path / "cita-cloud/test-chain/node0"
    check_kms_db(node / "kms.db", "from a file, with spaces inside", (node / "node_address").read_text())


def test_password_from_standard_input(tmp_path: Path):
    result = run_script("create_k8s_config.py", *LOCAL, "--kms_password_file", "-", cwd=tmp_path, stdin="piped-pw\r\n")
    assert result.returncode == 0, result.stderr
    assert chain_password(tmp_path) == "piped-pw"
    assert "piped-pw" not in result.stdout + result.stderr


def test_state_db_password_from_a_file(tmp_path: Path):
    config = tmp_path / "ext.toml"
    config.write_text(
        (REPO / "service-config.toml")
        .read_text()
        .replace("citacloud/executor_evm:v5.0.0", "citacloud/executor_chaincode_ext")
    )
    (tmp_path / "db").write_text("db-secret-77\n")
    argv = [*LOCAL, "--kms_password", "k", "--service_config", str(config), "--state_db_password_file", "db"]
    assert run_script("create_k8s_config.py", *argv, cwd=tmp_path).returncode == 0
    assert secret_value(load_documents(tmp_path / "test-chain.yaml")[0], "state-db-password") == "db-secret-77"


def test_multi_passwords_from_a_file_one_per_line(tmp_path: Path):
    (tmp_path / "pws").write_text("one with spaces\ntwo\nthree\n")
    make_multi_chain(tmp_path, passwords=("--kms_passwords_file", str(tmp_path / "pws")))
    found = [secret_value(load_documents(tmp_path / f"test-chain-{i}.yaml")[0], "key_file") for i in range(3)]
    assert found == ["one with spaces", "two", "three"]


def test_multi_passwords_file_with_a_missing_line(tmp_path: Path):
    (tmp_path / "pws").write_text("one\ntwo\n")
    argv = multi_argv(tmp_path, passwords=("--kms_passwords_file", str(tmp_path / "pws")))
    stderr = _stderr_of(argv)
    assert "--kms_passwords has 2 while the others have 3" in stderr
    assert "one" not in stderr.replace("one entry", "")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pws"]


def run_on_terminal(cwd: Path, argv: list[str], answers: list[str]) -> tuple[int, str]:
    """Run the script with a pseudo-terminal as its controlling terminal; answer each prompt; return (code, screen)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the script, as a user would start it
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, str(REPO / "create_k8s_config.py"), *argv])  # noqa: S606
    screen = b""
    answered_at = 0
    pending = list(answers)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
            # Answer a prompt only once it is on the screen: getpass discards what was typed before it.
            if pending and screen[answered_at:].rstrip().endswith(b":"):
                os.write(fd, pending.pop(0).encode() + b"\n")
                answered_at = len(screen)
    finally:
        done, status = os.waitpid(pid, os.WNOHANG)
        grace = time.monotonic() + 10
        while done == 0 and time.monotonic() < grace:  # the terminal closes just before the exit
            time.sleep(0.05)
            done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:  # still running: stop it
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), screen.decode(errors="replace")


def test_asks_on_a_terminal_without_echo(tmp_path: Path):
    code, screen = run_on_terminal(tmp_path, LOCAL, ["typed-Secret-51", "typed-Secret-51"])
    assert code == 0, screen
    assert "kms password:" in screen and "again" in screen
    assert "typed-Secret-51" not in screen, "the terminal must not echo the password"
    assert chain_password(tmp_path) == "typed-Secret-51"


def test_terminal_answers_must_match(tmp_path: Path):
    code, screen = run_on_terminal(tmp_path, LOCAL, ["first-answer", "second-answer"])
    assert code == 2 and "differ" in screen
    assert "first-answer" not in screen and "second-answer" not in screen
    assert list(tmp_path.iterdir()) == []


def test_no_password_and_no_terminal_is_a_usage_error(tmp_path: Path):
    result = run_script("create_k8s_config.py", *LOCAL, cwd=tmp_path)
    assert result.returncode == 2
    assert "--kms_password is required" in result.stderr and "--kms_password_file" in result.stderr
    assert list(tmp_path.iterdir()) == []


words = st.from_regex(r"\A[A-Za-z0-9!@#%^&*+=.:]{3,12}\Z").map(lambda word: "Zq" + word)


@settings(max_examples=40, deadline=None)
@given(first=words, second=words, flag=st.sampled_from(["--kms_password", "--kms_passwords", "--state_db_password"]))
def test_parsing_errors_never_repeat_a_password(first: str, second: str, flag: str, tmp_path_factory):
    """`--kms_password my Secret` (unquoted) used to print `Secret`; no error may repeat either word."""
    subcommand = "multi_cluster" if flag == "--kms_passwords" else "local_cluster"
    work = tmp_path_factory.mktemp("scrub")
    for argv in (
        [subcommand, flag, first, second, "--pvc_name", "p"],
        [subcommand, f"{flag}={first}", second],
        [subcommand, f"{flag[:9]}={first},{second}", "--bogus"],
        [subcommand, flag, f"{first},{second}", "--peers_count", "x"],
    ):
        stderr = _stderr_of([*argv, "--work_dir", str(work)])
        assert first not in stderr and second not in stderr, (argv, stderr)


def _stderr_of(argv: list[str]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        code = create_k8s_config.main(argv, fixed_runtime())
    assert code == 2, buffer.getvalue()
    return buffer.getvalue()


def test_the_scrub_can_fail():
    """Without the scrub, argparse repeats the second word of an unquoted password."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--kms_password")
    _, extra = parser.parse_known_args(["--kms_password", "my", "Secret"])
    assert extra == ["Secret"]
