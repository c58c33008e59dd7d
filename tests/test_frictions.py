"""Issue 22: what a new user tripped over, each with the command that showed it and what it does now.

Numbers follow the issue's list of frictions.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import create_k8s_config
import manage_chain
from runner_k8s.runtime import Runtime
from tests.chains import PASSWORD, make_local_chain
from tests.conftest import REPO, fixed_runtime, output_of, run_script, tree_snapshot
from tests.fakechain import Chain, Tweak, running

CHAIN = "test-chain"


def in_terminal(argv: list[str], cwd: Path, keys: bytes, wait_for: bytes = b"password") -> tuple[int, str]:
    """Run argv on a pseudo-terminal, type `keys` once it asks, and return (exit code, what the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the script, with the terminal as its stdin, stdout and stderr
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, *argv])  # noqa: S606 - the script itself, as a user runs it
    shown = b""
    deadline = time.monotonic() + 60
    typed = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        if not typed and wait_for in shown:
            os.write(fd, keys)
            typed = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace").replace("\r\n", "\n")


# 1. Ctrl-D at a password prompt: one line, no EOFError traceback.


def test_ctrl_d_at_the_kms_password_prompt(tmp_path: Path):
    code, shown = in_terminal(
        [str(REPO / "create_k8s_config.py"), "local_cluster", "--pvc_name", "local-pvc"], tmp_path, b"\x04"
    )
    assert code == 2
    assert shown == (
        "kms password: \ncreate_k8s_config.py: error: no password was typed for --kms_password (end of input, "
        "Ctrl-D); run again and type it, or give --kms_password_file FILE\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_ctrl_d_at_the_admin_password_prompt(tmp_path: Path):
    argv = [str(REPO / "manage_chain.py"), "emergency_brake", "on", "--rpc", "127.0.0.1:9", "--admin_dir", "admin"]
    code, shown = in_terminal(argv, tmp_path, b"\x04")
    assert code == 2
    assert "Traceback" not in shown and "EOFError" not in shown
    assert shown.splitlines()[-1] == (
        "manage_chain.py: error: no password was typed for --admin_password (end of input, Ctrl-D); run again and "
        "type it, or give --admin_password_file FILE"
    )


# 2. The README's walk and the worked example of docs/adding-and-removing-nodes.md run in one folder.

NEEDS_A_CLUSTER = ("kubectl", "minikube", "scp", "manage_chain.py", "bash ", "pip ", "python3 -m")


def documented_commands(page: str, start: str, end: str) -> list[str]:
    """The command lines of the ```sh blocks between two headings of a page."""
    text = (REPO / page).read_text()
    part = text[text.index(start) : text.index(end, text.index(start))]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", part, re.DOTALL):
        lines += [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    return lines


def test_the_readme_walk_and_the_worked_example_run_in_one_folder(tmp_path: Path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("create_k8s_config.py", "create_pvc.py", "create_account.py", "create_syncthing_config.py",
                 "manage_chain.py", "service-config.toml"):  # fmt: skip
        shutil.copy2(REPO / name, checkout / name)
    os.symlink(REPO / "runner_k8s", checkout / "runner_k8s")
    quick = documented_commands("README.md", "## Quick start", "## Contents")[0]
    walk = documented_commands("README.md", "## A chain on minikube", "## Command reference")
    example = documented_commands("docs/adding-and-removing-nodes.md", "## Worked example", "## Limits")
    ran = []
    for line in [quick.split(" && ")[-1], *walk, *example]:
        command = line.split("  #", 1)[0].strip()
        if not any(tool in command.split("||")[-1] for tool in NEEDS_A_CLUSTER) or command.startswith("test -f"):
            if "remove_node" in command:  # it asks a running chain; a dry run goes without
                command += " --dry_run"
            done = subprocess.run(
                ["bash", "-c", command], cwd=checkout, capture_output=True, text=True, timeout=300, check=False
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
            ran.append(command.split()[0] if not command.startswith("test") else "create_pvc")
    assert len(ran) >= 7  # the control: the quick start, the walk's chains and pvc, add_node, the example's
    assert (checkout / "test-chain-plan.sh").is_file() and (checkout / "grow-plan.sh").is_file()
    assert (checkout / "quick-start" / "test-chain.yaml").is_file()


# 3. remove_node --rpc takes a list (the first node that answers), as manage_chain.py's --rpc does.


@pytest.fixture
def chain3(tmp_path: Path) -> Path:
    make_local_chain(tmp_path, "--peers_count", "3")
    return tmp_path


def day2(work: Path, *argv: str) -> tuple[int, str, str]:
    runtime = fixed_runtime("day2")
    stderr = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(stderr):
        code = create_k8s_config.main([*argv, "--work_dir", str(work)], runtime)
    return code, output_of(runtime), stderr.getvalue()


def test_remove_node_asks_the_first_node_that_answers(chain3: Path):
    node1 = (chain3 / "cita-cloud" / CHAIN / "node1" / "node_address").read_text()
    chain = Chain("sm", b"\x00" * 32, b"\x01" * 20, [bytes.fromhex(node1[2:])])
    with running(chain, [Tweak()]) as (address,):
        code, _, err = day2(chain3, "remove_node", "--node_index", "1", "--rpc", f"127.0.0.1:9,{address}")
    assert code == 1
    assert f"node1 ({node1}) is still a validator of the running chain" in err


# 4. --node: the new cluster's host in add_node (as multi_cluster's --nodes); remove_node's index is --node_index.


def test_remove_node_takes_the_index_as_node_index_and_still_reads_the_old_spelling(chain3: Path, monkeypatch):
    from runner_k8s.scripts import membership_flags

    monkeypatch.setattr(membership_flags, "validators_at", lambda addresses: [])
    code, out, err = day2(chain3, "remove_node", "--node", "2", "--rpc", "127.0.0.1:9", "--dry_run")
    assert code == 0, err
    assert out.startswith(f"Chain {CHAIN}: node2 (")
    code, _, err = day2(chain3, "remove_node", "--node", "10.0.0.1", "--rpc", "127.0.0.1:9")
    assert (code, err) == (
        2,
        "create_k8s_config.py: error: --node '10.0.0.1': remove_node takes the node's index, --node_index N (--node "
        "is add_node's LoadBalancer host)\n",
    )


# 5. A pre-made account whose password is not the chain's: the message says what local nodes share.


def test_a_premade_account_with_another_password_on_a_local_chain(chain3: Path):
    from tests.test_membership import premade

    address, device = premade(chain3, "not-the-chain-password")
    before = tree_snapshot(chain3)
    code, _, err = day2(chain3, "add_node", "--authority", address, "--sync_device_id", device,
                        "--accounts_dir", str(chain3), "--syncthing_dir", str(chain3))  # fmt: skip
    assert code == 1
    assert err == (
        f"create_k8s_config.py: error: node3: {chain3}/{address}/kms.db with the chain's kms password: the password "
        f"does not open this kms.db; every node of a local_cluster chain uses the chain's password (its Secret "
        f"{CHAIN}-kms-secret): make the account with create_account.py and that password\n"
    )
    assert "--kms_passwords" not in err
    assert tree_snapshot(chain3) == before


# 6. add_node --node_port_range that the new node's NodePorts do not fit: a flag add_node has.


@pytest.mark.parametrize(
    ("span", "message"),
    [
        (
            "30000-30010",
            "chain 'test-chain' already uses NodePort 30014 (call of node1), outside --node_port_range 30000-30010; "
            "give the cluster's NodePort range (kube-apiserver --service-node-port-range)",
        ),
        (
            "30000-30023",
            "node3 needs NodePort 30024 (call of node3), outside --node_port_range 30000-30023: the chain's NodePorts "
            "follow from the --node_port 30004 it was made with, so node3 needs a range that reaches 30024",
        ),
    ],
)
def test_a_node_port_range_add_node_cannot_fit(chain3: Path, span: str, message: str):
    code, _, err = day2(chain3, "add_node", "--node_port_range", span)
    assert (code, err) == (2, f"create_k8s_config.py: error: {message}\n")
    assert "--node_port between" not in err


def test_the_last_node_port_range_that_fits(chain3: Path):
    assert day2(chain3, "add_node", "--node_port_range", "30000-30024", "--dry_run")[0] == 0


# 7. add_node --dry_run shows no throwaway address or device ID (local_cluster's dry run shows null).


def test_a_dry_run_of_add_node_shows_no_throwaway_keys(chain3: Path):
    code, out, _ = day2(chain3, "add_node", "--dry_run")
    assert code == 0
    assert f"Chain {CHAIN}: node3 added (its address and syncthing identity are made by the real run)" in out
    assert not re.search(r"0x[0-9a-f]{40}", out.split("The plan would be")[1].replace("0x" + "0" * 40, ""))
    code, out, _ = day2(chain3, "add_node", "--dry_run", "--json")
    data = json.loads(out)
    assert data["node"] == {"index": 3, "address": None, "device_id": None}
    assert not any(re.search(r"[A-Z2-7]{7}(-[A-Z2-7]{7}){7}", step["command"]) and "NODE3" not in step["command"]
                   for step in data["next"] if "add-json" in step["command"])  # fmt: skip


# 8. A mistyped --authority that names no folder fails, and writes nothing.


def test_an_authority_that_names_no_folder(chain3: Path):
    from tests.test_membership import premade

    _, device = premade(chain3, PASSWORD)
    before = tree_snapshot(chain3)
    missing = "0x" + "ab" * 20
    code, _, err = day2(chain3, "add_node", "--authority", missing, "--sync_device_id", device,
                        "--accounts_dir", str(chain3), "--syncthing_dir", str(chain3))  # fmt: skip
    assert (code, err) == (
        1,
        f"create_k8s_config.py: error: --authority: there is no folder {chain3}/{missing} (made by "
        "create_account.py); check the value, or give --accounts_dir where it is\n",
    )
    assert tree_snapshot(chain3) == before


# 9. One rule for addresses: 0x and 40 hex digits, in manage_chain.py's ADDRESS as in --authority.


def test_manage_chain_wants_the_0x_as_add_node_does(tmp_path: Path):
    bare = "ab" * 20
    done = run_script(
        "manage_chain.py", "remove_validator", bare, "--rpc", "127.0.0.1:9", "--admin_dir", "x", cwd=tmp_path
    )
    assert (done.returncode, done.stderr) == (
        2,
        f"manage_chain.py: error: argument ADDRESS: '{bare}' is not an address: give 0x and 40 hex digits, as in "
        "node_address (see manage_chain.py remove_validator --help)\n",
    )


# 10. status --help: no default from a flag status lacks; --interval also paces --wait_synced.


def test_status_help_speaks_of_its_own_flags():
    import argparse

    commands = next(
        action for action in manage_chain.build_parser()._actions if isinstance(action, argparse._SubParsersAction)
    )
    status = commands.choices["status"]
    helps = {action.option_strings[0]: action.help or "" for action in status._actions if action.option_strings}
    assert "--admin_dir" not in helps["--chain_name"]
    assert "--wait_synced" in helps["--interval"]


# 11. The quick start works where the system Python refuses `pip install` (Debian 12): a venv first.


def test_the_quick_start_makes_a_venv_before_pip():
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0].strip()
    steps = quick.split(" && ")
    pip = next(number for number, step in enumerate(steps) if step.startswith("pip "))
    assert steps[:pip] == ["python3 -m venv .venv", ". .venv/bin/activate"]


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path: Path):
    """The first quick start command, as written, in a copy of the checkout (it installs from the package index)."""
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0].strip()
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "mutants"))
    done = subprocess.run(
        ["bash", "-c", quick], cwd=checkout, capture_output=True, text=True, timeout=1200, check=False
    )
    if (
        done.returncode != 0
        and "pip" in done.stderr
        and ("Network" in done.stderr or "connection" in done.stderr.lower())
    ):
        pytest.skip(f"the package index cannot be reached from here: {done.stderr.splitlines()[-1]}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (checkout / "quick-start" / "test-chain.yaml").is_file()


# 12. remove_node --dry_run without a running chain: allowed, saying what it could not check.


def test_a_dry_run_of_remove_node_without_a_chain(chain3: Path):
    before = tree_snapshot(chain3)
    code, out, err = day2(chain3, "remove_node", "--node_index", "1", "--dry_run", "--rpc", "127.0.0.1:9")
    assert code == 0, err
    assert (
        "Not checked: whether node1 is still a validator (cannot ask whether the node is still a validator: node "
        "127.0.0.1:9: unreachable" in out
    )
    code, out, err = day2(chain3, "remove_node", "--node_index", "1", "--dry_run")
    assert code == 0, err
    assert "Not checked: whether node1 is still a validator (no --rpc was given); the real run asks --rpc" in out
    assert tree_snapshot(chain3) == before
    code, _, err = day2(chain3, "remove_node", "--node_index", "1")
    assert code == 2 and "--rpc is required" in err


# 13. The smaller ones.


def test_a_new_yaml_of_multi_add_node_is_written_not_rewritten(tmp_path: Path):
    from tests.test_golden import multi_seed_example
    from tests.test_membership import NEW_CLUSTER, premade

    assert create_k8s_config.main(multi_seed_example(tmp_path), Runtime(stdout=io.StringIO())) == 0
    address, device = premade(tmp_path, "password3")
    argv = ["add_node", *NEW_CLUSTER, "--authority", address, "--sync_device_id", device, "--kms_password", "password3"]
    code, out, err = day2(tmp_path, *argv, "--accounts_dir", str(tmp_path), "--syncthing_dir", str(tmp_path))
    assert code == 0, err
    assert f"; 6 files of the other nodes rewritten, {CHAIN}-3.yaml written" in out.splitlines()[0]


def test_a_script_without_passwords_repeats_a_stray_argument(tmp_path: Path):
    done = run_script("create_syncthing_config.py", "extra", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        2,
        "create_syncthing_config.py: error: unrecognized arguments: extra (see create_syncthing_config.py --help)\n",
    )


def test_a_broken_service_config_entry_names_its_line(tmp_path: Path):
    (tmp_path / "svc.toml").write_text('title = "x"\n\n[[services]]\nname = "network"\ndocker_image = "a"\n')
    done = run_script("create_k8s_config.py", "local_cluster", "--kms_password", "x", "--pvc_name", "p",
                      "--service_config", "svc.toml", cwd=tmp_path)  # fmt: skip
    assert done.stderr == (
        "create_k8s_config.py: error: svc.toml: services entry 0 (at line 3) needs a non-empty string 'cmd'\n"
    )


def test_a_flag_of_the_other_subcommand_is_named_as_its(tmp_path: Path):
    done = run_script(
        "create_pvc.py", "nfs_pvc", "--node_list", "a", "--nfs_server", "s", "--nfs_path", "/p", cwd=tmp_path
    )
    assert done.stderr == (
        "create_pvc.py: error: --node_list is a flag of local_pvc, not of nfs_pvc (see create_pvc.py nfs_pvc --help)\n"
    )


def test_the_readme_names_every_script_with_a_dry_run():
    text = (REPO / "docs" / "reference.md").read_text()
    line = next(line for line in text.splitlines() if line.startswith("- `--dry_run`"))
    for script in ("create_k8s_config.py", "create_pvc.py", "manage_chain.py"):
        assert script in line


def test_the_nodes_page_links_its_chinese_twin():
    assert "(adding-and-removing-nodes.zh-CN.md)" in (REPO / "docs" / "adding-and-removing-nodes.md").read_text()
    assert "(adding-and-removing-nodes.md)" in (REPO / "docs" / "adding-and-removing-nodes.zh-CN.md").read_text()


# 14. README.md: at most about 400 lines, the quick start on the first screen; the rest in docs/.


@pytest.mark.parametrize("readme", ["README.md", "README.zh-CN.md"])
def test_the_readme_is_short_and_starts_with_the_quick_start(readme: str):
    lines = (REPO / readme).read_text().splitlines()
    assert len(lines) <= 400
    first_screen = lines[:24]
    assert any("./create_k8s_config.py local_cluster" in line for line in first_screen)
    assert any("docs/reference" in line for line in lines)
