"""Issue 26, the mutation run: what the day-2 plans and verbs do at edges the other tests left open.

Each test here was written for a mutant an independent generator (mutmut 3.8.1) made and the suite let
live (docs/mutation-survivors.md lists them). Each expectation comes from outside the code under test:
the super admin's folder as create_account.py makes it, the genesis config, syncthing's address syntax,
bash's redirections, kubectl's flags (tests/planparse.py), the files on disk and the YAML as PyYAML reads
them, the JSON report's `node` as docs/reference.md defines it, and the four plans in tests/golden/plans/
as reviewed line by line.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

import create_k8s_config
import create_pvc
from runner_k8s.runtime import Runtime
from tests.chains import PASSWORD, make_local_chain
from tests.conftest import fixed_runtime, output_of
from tests.planparse import check_plan, facts

CHAIN = "test-chain"
CONTEXTS = "red,green,blue,black"


@pytest.fixture(scope="module")
def multi_made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A multi_cluster chain of three made from the seed example, the new cluster's claim and its pre-made keys."""
    from tests.test_golden import multi_seed_example
    from tests.test_membership import premade

    work = tmp_path_factory.mktemp("multi") / "work"
    work.mkdir()
    assert create_k8s_config.main(multi_seed_example(work), Runtime(stdout=io.StringIO())) == 0
    claim = ["local_pvc", "--pvc_name", "cluster3-pvc", "--data_dir", "/srv/cluster3", "--work_dir", str(work)]
    assert create_pvc.main(claim, fixed_runtime()) == 0
    address, device = premade(work, "password3")
    return work, address, device


def copy_of(made: tuple[Path, str, str], tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(made[0], work)
    return work


def day2(work: Path, *argv: str) -> tuple[int, str, str]:
    runtime = fixed_runtime("edges")
    stderr = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(stderr):
        code = create_k8s_config.main([*argv, "--work_dir", str(work)], runtime)
    return code, output_of(runtime), stderr.getvalue()


def multi_add(work: Path, address: str, device: str, *extra: str, node: str = "192.0.2.13") -> tuple[int, str, str]:
    flags = ["--node", node, "--node_port", "30000", "--lbs_token", "lb-4", "--pvc_name", "cluster3-pvc"]
    keys = ["--authority", address, "--sync_device_id", device, "--kms_password", "password3"]
    folders = ["--accounts_dir", str(work), "--syncthing_dir", str(work), "--contexts", CONTEXTS]
    return day2(work, "add_node", *flags, *keys, *folders, *extra)


def super_admin(work: Path) -> str:
    """The chain's super admin, as its genesis system config names it."""
    config = tomllib.loads((work / "cita-cloud" / CHAIN / "node0" / "init_sys_config.toml").read_text())
    return str(config["admin"])


def vote_line(plan: str) -> str:
    (line,) = [line for line in plan.splitlines() if " add_validator " in line]
    return line


# --- the super admin's folder on a multi_cluster chain (newnode.multi_admin) ------------------------------


def test_the_add_plan_signs_with_the_super_admins_folder_and_its_key_file(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    admin = work.absolute() / super_admin(work)
    code, _, err = multi_add(work, *multi_made[1:])
    assert code == 0, err
    line = vote_line((work / f"{CHAIN}-plan.sh").read_text())
    assert line.endswith(f" --admin_dir {admin} --admin_password_file {admin}/key_file --if_needed")


def test_without_its_key_file_manage_chain_asks_for_the_password(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    admin = work.absolute() / super_admin(work)
    (admin / "key_file").unlink()
    code, _, err = multi_add(work, *multi_made[1:])
    assert code == 0, err
    assert vote_line((work / f"{CHAIN}-plan.sh").read_text()).endswith(f" --admin_dir {admin} --if_needed")


def test_a_folder_without_node_address_is_taken_by_its_name(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    admin = work.absolute() / super_admin(work)
    (admin / "node_address").unlink()
    code, _, err = multi_add(work, *multi_made[1:])
    assert code == 0, err
    assert f" --admin_dir {admin} " in vote_line((work / f"{CHAIN}-plan.sh").read_text())


@pytest.mark.parametrize("held", [b"0x" + b"ab" * 20, b"\xff\xfe not text"], ids=["another account", "not UTF-8"])
def test_a_folder_holding_another_account_is_refused_in_one_line(multi_made, tmp_path: Path, held: bytes):
    work = copy_of(multi_made, tmp_path)
    admin = work / super_admin(work)
    (admin / "node_address").write_bytes(held)
    code, out, err = multi_add(work, *multi_made[1:])
    shown = held.decode(errors="replace")
    assert (code, out) == (1, "")
    assert err == (
        f"create_k8s_config.py: error: {work.absolute() / admin.name} holds account {shown}, not the chain's super "
        f"admin {admin.name}\n"
    )


# --- the plan's steps and the clusters they run in ------------------------------------------------------------


def test_an_ipv6_node_is_bracketed_in_the_others_syncthing(multi_made, tmp_path: Path):
    """Syncthing reads a device address as a URL: an IPv6 host goes in brackets (tcp://[2001:db8::13]:port)."""
    work = copy_of(multi_made, tmp_path)
    before = {path.name: path for path in work.glob(f"{CHAIN}-*.yaml")}
    kept = tmp_path / "before"
    kept.mkdir()
    for name, path in before.items():
        shutil.copyfile(path, kept / name)
    code, _, err = multi_add(work, *multi_made[1:], node="2001:db8::13")
    assert code == 0, err
    contexts = dict(enumerate(CONTEXTS.split(",")))
    known = facts(work, CHAIN, {name: kept / name for name in before}, 3, True, contexts)
    assert known.nodes[3].sync_address.startswith("tcp://[2001:db8::13]:")
    played = check_plan((work / f"{CHAIN}-plan.sh").read_text(), known)
    assert all(played.learned[f"{CHAIN}-{index}-0"] == {known.nodes[3].device_id} for index in range(3))


def cluster_of_each_step(steps: list[dict[str, object]], contexts: list[str]) -> list[tuple[object, object]]:
    """(the step's node, the node whose context its kubectl names) for every step that runs kubectl."""
    found: list[tuple[object, object]] = []
    for step in steps:
        command = str(step["command"])
        named = re.search(r"kubectl --context (\S+)", command)
        if named is not None:
            found.append((step["node"], contexts.index(named.group(1))))
    return found


def check_stage_titles(steps: list[dict[str, object]]) -> int:
    """A stage whose steps all run in one cluster is headed in that cluster; a heading names no other one.

    Returns how many headings name a cluster.
    """
    stages: list[tuple[dict[str, object], list[dict[str, object]]]] = []
    for step in steps:
        if re.match(r"# \d+\. ", str(step["command"])):
            stages.append((step, []))
        elif stages:
            stages[-1][1].append(step)
    headed = 0
    for title, actions in stages:
        clusters = {action["node"] for action in actions}
        if len(clusters) == 1 and None not in clusters:
            assert title["node"] in clusters, title
        if title["node"] is not None:
            headed += 1
            assert actions[0]["node"] == title["node"], title
    return headed


def test_each_step_of_a_multi_add_runs_in_the_cluster_its_json_names(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    code, out, err = multi_add(work, *multi_made[1:], "--json")
    assert code == 0, err
    steps = json.loads(out)["next"]
    pairs = cluster_of_each_step(steps, CONTEXTS.split(","))
    assert len(pairs) > 10
    assert [node for node, _ in pairs] == [index for _, index in pairs]
    assert check_stage_titles(steps) == 3  # the copy onto its storage, its start, the replay: node3's cluster


def test_each_step_of_a_multi_remove_runs_in_the_cluster_its_json_names(
    multi_made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from runner_k8s.scripts import membership_flags

    work = copy_of(multi_made, tmp_path)
    monkeypatch.setattr(membership_flags, "validators_at", lambda addresses: [])
    argv = ["remove_node", "--node_index", "2", "--rpc", "127.0.0.1:9", "--contexts", "red,green,blue", "--json"]
    code, out, err = day2(work, *argv)
    assert code == 0, err
    report = json.loads(out)
    assert (report["kind"], report["node"]["index"]) == ("remove_node", 2)
    admin = work.absolute() / super_admin(work)
    (vote,) = [line for line in (work / f"{CHAIN}-plan.sh").read_text().splitlines() if " remove_validator " in line]
    assert vote.endswith(f" --admin_dir {admin} --admin_password_file {admin}/key_file --if_needed")
    steps = report["next"]
    pairs = cluster_of_each_step(steps, ["red", "green", "blue"])
    assert len(pairs) > 5
    assert [node for node, _ in pairs] == [index for _, index in pairs]
    stop = re.compile(r"# \d+\. stop node2 and delete its objects")
    (title,) = [step for step in steps if stop.fullmatch(str(step["command"]))]
    assert title["node"] == 2, "the stage that stops node2 is headed in node2's cluster"
    assert check_stage_titles(steps) == 2  # the stop, the wipe of its folder


# --- guards and hand steps ---------------------------------------------------------------------------------


def local_plan(tmp_path: Path, *, claim: bool) -> str:
    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "3")
    if claim:
        assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 0
    code, _, err = day2(work, "add_node")
    assert code == 0, err
    return (work / f"{CHAIN}-plan.sh").read_text()


def test_a_guard_is_a_quiet_kubectl_get(tmp_path: Path):
    """`GUARD || STEP`: the guard must run (its redirections open) and say nothing, whatever it finds."""
    lines = local_plan(tmp_path, claim=True).splitlines()
    guarded = [line for line in lines if line.startswith("kubectl get ")]
    assert len(guarded) >= 2  # the copy onto the claim's storage, one guarded command per line
    for line in guarded:
        guard = line.split(" || ", 1)[0]
        assert re.fullmatch(r"kubectl get statefulset/test-chain-3 >/dev/null 2>&1", guard), line


@pytest.mark.parametrize("exists", [True, False], ids=["node3 runs", "control: node3 not there yet"])
def test_a_guard_skips_an_nfs_copy_whole(tmp_path: Path, exists: bool):
    """On NFS a copy step is one line of several commands (mount, mkdir, cp, umount): once node3 exists, none runs.

    Each guarded line is run by bash with stand-ins that record their calls: kubectl (the guard) answers as the
    cluster would, sudo only records. `guard || a && b` (the old line) ran b after a guard that held.
    """
    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "3", "--pvc_name", "nfs-pvc")
    made = ["nfs_pvc", "--nfs_server", "192.0.2.9", "--nfs_path", "/exports/cita", "--work_dir", str(work)]
    assert create_pvc.main(made, fixed_runtime()) == 0
    code, _, err = day2(work, "add_node")
    assert code == 0, err
    lines = [line for line in (work / f"{CHAIN}-plan.sh").read_text().splitlines() if "sudo mount -t nfs" in line]
    guarded = [line for line in lines if line.startswith("kubectl get statefulset/test-chain-3 ")]
    assert guarded, lines
    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "calls"
    for tool, status in (("kubectl", 0 if exists else 1), ("sudo", 0)):
        (tools / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\nexit {status}\n')
        (tools / tool).chmod(0o755)
    for line in guarded:
        calls.write_text("")
        env = {"PATH": f"{tools}:/usr/bin:/bin"}
        done = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        ran = [call for call in calls.read_text().splitlines() if call.startswith("sudo ")]
        if exists:
            assert ran == [], f"{line}: ran {ran} though node3 exists"
        else:
            assert ran and ran[0].startswith("sudo mount -t nfs") and ran[-1] == "sudo umount /mnt", ran


def test_without_the_claims_file_the_plan_says_what_to_do_by_hand(tmp_path: Path):
    lines = local_plan(tmp_path, claim=False).splitlines()
    first = next(number for number, line in enumerate(lines) if line.startswith("# before this script"))
    assert lines[first - 2].startswith("# 1. node3's folder onto its claim's storage")
    assert lines[first : first + 2] == [
        "# before this script: make the claim local-pvc (create_pvc.py nfs_pvc --nfs_server HOST --nfs_path PATH "
        "--pvc_name local-pvc), apply it",
        "# and copy cita-cloud/test-chain/node3 onto its storage as cita-cloud/test-chain/node3",
    ]


def test_the_hand_steps_of_a_multi_add_without_the_claims_file_name_the_new_cluster(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    (work / "cluster3-pvc.yaml").unlink()
    code, out, err = multi_add(work, *multi_made[1:], "--json")
    assert code == 0, err
    steps = json.loads(out)["next"]
    by_hand = [step for step in steps if str(step["command"]).startswith(("# before this script", "# and copy"))]
    assert [step["node"] for step in by_hand] == [3, 3]


def test_an_admin_dir_elsewhere_is_the_one_the_plan_signs_with(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    elsewhere = tmp_path / "keys" / "admin"
    shutil.copytree(work / super_admin(work), elsewhere)
    code, _, err = multi_add(work, *multi_made[1:], "--admin_dir", str(elsewhere))
    assert code == 0, err
    line = vote_line((work / f"{CHAIN}-plan.sh").read_text())
    assert line.endswith(f" --admin_dir {elsewhere} --admin_password_file {elsewhere}/key_file --if_needed")


def test_an_admin_dir_without_a_kms_db_is_refused(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = multi_add(work, *multi_made[1:], "--admin_dir", str(empty))
    assert (code, out) == (1, "")
    assert err == (
        f"create_k8s_config.py: error: --admin_dir {empty} holds no kms.db; give the super admin's account folder\n"
    )


@pytest.mark.parametrize("verb", ["add_node", "remove_node"])
def test_a_loadbalancer_without_its_id_is_refused_as_edited_by_hand(
    multi_made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verb: str
):
    """Every LoadBalancer runner_k8s writes carries its cluster's LB id; one without it was edited by hand."""
    from runner_k8s.scripts import membership_flags

    work = copy_of(multi_made, tmp_path)
    yaml_file = work / f"{CHAIN}-1.yaml"
    text = yaml_file.read_text()
    line = re.search(r"\n    service\.beta\.kubernetes\.io/alibaba-cloud-loadbalancer-id: \S+", text)
    assert line is not None
    yaml_file.write_text(text.replace(line.group(0), ""))
    monkeypatch.setattr(membership_flags, "validators_at", lambda addresses: [])
    if verb == "add_node":
        code, out, err = multi_add(work, *multi_made[1:])
    else:
        code, out, err = day2(work, "remove_node", "--node_index", "2", "--rpc", "127.0.0.1:9", "--contexts", "r,g,b")
    assert (code, out) == (1, "")
    assert err == (
        f"create_k8s_config.py: error: {yaml_file}: Service {CHAIN}-1 is not what runner_k8s makes for chain "
        f"'{CHAIN}' (edited by hand?); a change would replace it, so nothing was done: restore the file\n"
    )


# --- the JSON report of add_node and remove_node (docs/reference.md) -------------------------------------------

DAY2_KEYS = {"dry_run", "kind", "chain", "chain_kind", "work_dir", "outputs", "files", "objects"} | {
    "node", "removes", "plan_file", "not_checked", "next"
}  # fmt: skip


def check_files_and_objects(report: dict[str, object], work: Path) -> None:
    """`files` as the disk holds them (mode, size), `objects` as the YAML holds them."""
    files = report["files"]
    assert isinstance(files, list) and files
    for entry in files:
        path = Path(entry["path"])
        kind = "dir" if path.is_dir() else "file"
        mode = f"{path.stat().st_mode & 0o7777:04o}"
        size = None if kind == "dir" else path.stat().st_size
        assert entry == {"path": str(path), "type": kind, "mode": mode, "size": size}
    expected = [
        {"file": str(yaml_file), "kind": doc["kind"], "name": doc["metadata"]["name"],
         "namespace": doc["metadata"].get("namespace")}
        for yaml_file in sorted(work.glob(f"{CHAIN}*.yaml"))
        for doc in yaml.safe_load_all(yaml_file.read_text()) if doc
    ]  # fmt: skip
    assert report["objects"] == expected


def test_the_json_report_of_add_node(tmp_path: Path):
    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "3")
    code, out, err = day2(work, "add_node", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == DAY2_KEYS
    node3 = work / "cita-cloud" / CHAIN / "node3"
    assert {key: report[key] for key in ("dry_run", "kind", "chain", "chain_kind", "work_dir", "removes")} == {
        "dry_run": False, "kind": "add_node", "chain": CHAIN, "chain_kind": "local_cluster", "work_dir": str(work),
        "removes": [],
    }  # fmt: skip
    assert report["node"] == {
        "index": 3,
        "address": (node3 / "node_address").read_text().strip(),
        "device_id": facts(work, CHAIN, {}, 3, True, {}).nodes[3].device_id,
    }
    others = [
        str(work / "cita-cloud" / CHAIN / f"node{index}" / name)
        for index in range(3)
        for name in ("network-config.toml", "config/config.xml")
    ]
    plan = work / f"{CHAIN}-plan.sh"
    assert report["outputs"] == [str(node3), *others, str(work / f"{CHAIN}.yaml"), str(plan)]
    assert report["plan_file"] == str(plan) and report["not_checked"] == []
    check_files_and_objects(report, work)
    script = plan.read_text().splitlines()
    assert [step["command"] for step in report["next"]] == [script[2], *script[4:]]  # not the shebang, title, cd


def test_the_json_report_of_a_dry_run_of_remove_node_without_rpc(tmp_path: Path):
    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "3")
    code, out, err = day2(work, "remove_node", "--node_index", "1", "--dry_run", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == DAY2_KEYS
    node1 = work / "cita-cloud" / CHAIN / "node1"
    assert {key: report[key] for key in ("dry_run", "kind", "chain_kind", "removes", "not_checked")} == {
        "dry_run": True, "kind": "remove_node", "chain_kind": "local_cluster", "removes": [str(node1)],
        "not_checked": ["whether node1 is still a validator (no --rpc was given); the real run asks --rpc"],
    }  # fmt: skip
    assert report["node"]["address"] == (node1 / "node_address").read_text().strip()
    assert not (work / f"{CHAIN}-plan.sh").exists(), "a dry run writes nothing"


def test_a_local_plan_reads_the_admins_password_from_the_kms_secret(tmp_path: Path):
    """local_cluster: the super admin's password is the chain's kms password, in the Secret's `key_file`."""
    plan = local_plan(tmp_path, claim=True)
    (line,) = [line for line in plan.splitlines() if " add_validator " in line]
    found = re.search(
        r" --admin_password_file <\(kubectl get secret (\S+) -o jsonpath='\{\.data\.(\w+)\}' \| base64 -d\)", line
    )
    assert found is not None, line
    secrets = {
        doc["metadata"]["name"]: doc
        for doc in yaml.safe_load_all((tmp_path / "work" / f"{CHAIN}.yaml").read_text())
        if doc and doc["kind"] == "Secret"
    }
    assert base64.b64decode(secrets[found.group(1)]["data"][found.group(2)]).decode().strip() == PASSWORD


# --- the printed plan: which cluster each command runs in ------------------------------------------------------

IN_CLUSTER = re.compile(r"  # --- in node(\d+)'s cluster ---")
FROM_HERE = "  # --- from where every node's RPC is reachable ---"


def printed_clusters(out: str) -> list[tuple[int | None, str]]:
    """(the cluster the printed plan puts it in, the command) for every command after the cd line."""
    lines = out.splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith("Next, a script"))
    cluster: int | None = None
    shown: list[tuple[int | None, str]] = []
    previous_marker = False
    for line in lines[start + 2 :]:
        marker = IN_CLUSTER.fullmatch(line)
        if marker is not None or line == FROM_HERE:
            assert not previous_marker, "two cluster lines in a row"
            said = int(marker.group(1)) if marker is not None else None
            assert said != cluster, f"{line!r} repeats the cluster the plan is already in"
            cluster, previous_marker = said, True
            continue
        previous_marker = False
        assert line.startswith("  "), line
        shown.append((cluster, line[2:]))
    return shown


def test_the_printed_multi_plan_says_where_each_command_runs(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    code, out, err = multi_add(work, *multi_made[1:])
    assert code == 0, err
    lines = out.splitlines()
    cd = lines[lines.index(next(line for line in lines if line.startswith("Next, a script"))) + 1]
    assert cd == f"  cd {work}  # the plan's paths are relative to the work dir"
    shutil.rmtree(work)  # the same add again, as JSON
    work = copy_of(multi_made, tmp_path)
    code, json_out, err = multi_add(work, *multi_made[1:], "--json")
    assert code == 0, err
    steps = [(step["node"], step["command"]) for step in json.loads(json_out)["next"]]
    assert printed_clusters(out) == steps
    assert {cluster for cluster, _ in steps} == {None, 0, 1, 2, 3}


def test_a_plan_run_from_the_work_dir_shows_no_cd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "3")
    monkeypatch.chdir(work)
    code, out, err = day2(Path("."), "add_node")
    assert code == 0, err
    lines = out.splitlines()
    after = lines[lines.index(next(line for line in lines if line.startswith("Next, a script"))) + 1]
    assert (
        after
        == "  set -euo pipefail  # stop at the first step that fails; every step is safe to run again from the top"
    )


def test_a_local_chain_takes_one_context(tmp_path: Path):
    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "3")
    code, out, err = day2(work, "add_node", "--contexts", "kind-a,kind-b")
    assert (code, out) == (2, "")
    assert err == (
        "create_k8s_config.py: error: chain 'test-chain' runs in one cluster: give --contexts one context, not 2\n"
    )
    code, _, err = day2(work, "add_node", "--contexts", "kind-a")
    assert code == 0, err
    commands = [line for line in (work / f"{CHAIN}-plan.sh").read_text().splitlines() if "kubectl " in line]
    assert commands and all("kubectl --context kind-a " in line for line in commands)


@pytest.mark.parametrize("called", ["./create_k8s_config.py", "tools/create_k8s_config.py", "create_k8s_config.py"])
def test_the_plan_finds_manage_chain_from_the_work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, called: str):
    """The plan runs in the work dir (its first step cd's there): it names manage_chain.py by its absolute path.

    (`python3 create_k8s_config.py` gives a bare argv[0]: the script is in the current folder, not on PATH.)
    """
    import sys

    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "3")
    here = tmp_path / "checkout"
    (here / "tools").mkdir(parents=True)
    monkeypatch.chdir(here)
    monkeypatch.setattr(sys, "argv", [called, "add_node"])
    code, _, err = day2(work, "add_node")
    assert code == 0, err
    words = {
        line.split()[0] for line in (work / f"{CHAIN}-plan.sh").read_text().splitlines() if "manage_chain.py " in line
    }
    beside = {
        "./create_k8s_config.py": here,
        "tools/create_k8s_config.py": here / "tools",
        "create_k8s_config.py": here,
    }
    expected = {str(beside[called] / "manage_chain.py")}
    assert words == expected


def test_a_multi_add_needs_a_context_per_node(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    address, device = multi_made[1:]
    flags = ["--node", "192.0.2.13", "--node_port", "30000", "--lbs_token", "lb-4", "--pvc_name", "cluster3-pvc"]
    keys = ["--authority", address, "--sync_device_id", device, "--kms_password", "password3"]
    folders = ["--accounts_dir", str(work), "--syncthing_dir", str(work), "--contexts", "red,green"]
    code, out, err = day2(work, "add_node", *flags, *keys, *folders)
    assert (code, out) == (2, "")
    assert err == (
        "create_k8s_config.py: error: --contexts needs one kubectl context per node (node0, node1, node2, node3), "
        "not 2\n"
    )


# --- the plans as reviewed: every line, comments and notes included ----------------------------------------------

PLANS = Path(__file__).resolve().parent / "golden" / "plans"


def plan_text(case: str, made: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from runner_k8s.scripts import membership_flags
    from tests.conftest import REPO

    monkeypatch.setattr(membership_flags, "validators_at", lambda addresses: [])
    monkeypatch.chdir(REPO)  # manage_chain.py is the checkout's, by its absolute path
    if case.startswith("local"):
        work = tmp_path / "work"
        make_local_chain(work, "--peers_count", "3")
        assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 0
        argv = ["add_node"] if case == "local-add" else ["remove_node", "--node_index", "1", "--rpc", "127.0.0.1:9"]
        code, _, err = day2(work, *argv)
    else:
        work = copy_of(made, tmp_path)
        if case == "multi-add":
            code, _, err = multi_add(work, *made[1:])
        else:
            argv = ["remove_node", "--node_index", "2", "--rpc", "127.0.0.1:9", "--contexts", "red,green,blue"]
            code, _, err = day2(work, *argv)
    assert code == 0, err
    text = (work / f"{CHAIN}-plan.sh").read_text()
    text = text.replace(str(work.absolute()), "{work}").replace(str(REPO), "{repo}")
    return text.replace(made[1], "{premade address}").replace(made[2], "{premade device}")  # drawn afresh each run


@pytest.mark.parametrize("case", ["local-add", "local-remove", "multi-add", "multi-remove"])
def test_the_plans_are_the_reviewed_ones(
    case: str, multi_made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_golden: bool
):
    """Every line of each plan, as reviewed in tests/golden/plans/ (regenerate with --update-golden, then review)."""
    text = plan_text(case, multi_made, tmp_path, monkeypatch)
    expected = PLANS / f"{case}.sh"
    if update_golden:
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(text)
        pytest.skip(f"rewrote {expected}")
    assert text == expected.read_text()


def test_port_forwards_are_quiet_background_jobs(tmp_path: Path):
    forwards = [
        line for line in local_plan(tmp_path, claim=True).splitlines() if line.startswith("kubectl port-forward")
    ]
    assert len(forwards) == 4
    for index, line in enumerate(forwards):
        assert line == f"kubectl port-forward pod/{CHAIN}-{index}-0 {28100 + index}:50004 >/dev/null &", line


def test_a_namespaced_chains_plan_runs_every_kubectl_in_its_namespace(tmp_path: Path):
    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "3", "--namespace", "cita-ns")
    assert create_pvc.main(["local_pvc", "--work_dir", str(work)], fixed_runtime()) == 0
    kept = tmp_path / "before"
    kept.mkdir()
    shutil.copyfile(work / f"{CHAIN}.yaml", kept / f"{CHAIN}.yaml")
    code, _, err = day2(work, "add_node")
    assert code == 0, err
    plan = (work / f"{CHAIN}-plan.sh").read_text()
    known = facts(work, CHAIN, {f"{CHAIN}.yaml": kept / f"{CHAIN}.yaml"}, 3, True, dict.fromkeys(range(4)))
    check_plan(plan, known)
    calls = [plan[at : at + 20] for at in (match.start() for match in re.finditer(r"\bkubectl ", plan))]
    assert len(calls) > 15
    assert all(call.startswith("kubectl -n cita-ns ") for call in calls), calls


def test_a_multi_chain_keeps_its_state_db_password_through_add_node(tmp_path: Path):
    """chaincode_ext's state db password is in every node's YAML; the new node's has it as the others do."""
    from tests.test_golden import multi_seed_example
    from tests.test_membership import premade
    from tests.test_replan import CHAINCODE_EXT

    work = tmp_path / "work"
    work.mkdir()
    (work / "svc.toml").write_text(CHAINCODE_EXT)
    argv = [*multi_seed_example(work), "--service_config", str(work / "svc.toml"), "--state_db_password", "db-4471"]
    assert create_k8s_config.main(argv, Runtime(stdout=io.StringIO())) == 0
    secret = base64.b64encode(b"db-4471").decode()

    def holding(path: Path) -> list[str]:
        return sorted(
            f"{doc['kind']}/{doc['metadata']['name'].removeprefix(path.stem)}/{key}"
            for doc in yaml.safe_load_all(path.read_text())
            if doc and doc["kind"] == "Secret"
            for key, value in (doc.get("data") or {}).items()
            if value == secret
        )

    assert holding(work / f"{CHAIN}-0.yaml"), "the made chain holds the password"
    address, device = premade(work, "password3")
    claim = ["local_pvc", "--pvc_name", "cluster3-pvc", "--data_dir", "/srv/cluster3", "--work_dir", str(work)]
    assert create_pvc.main(claim, fixed_runtime()) == 0
    code, _, err = multi_add(work, address, device)
    assert code == 0, err
    assert holding(work / f"{CHAIN}-3.yaml") == holding(work / f"{CHAIN}-0.yaml")


# --- damaged chain files: the message names the file and what differs ------------------------------------------


def test_a_multi_nodes_statefulset_without_its_claim_names_its_own_file(multi_made, tmp_path: Path):
    work = copy_of(multi_made, tmp_path)
    node1 = work / f"{CHAIN}-1.yaml"
    text = node1.read_text()
    assert text.count("persistentVolumeClaim:") == 1
    node1.write_text(text.replace("persistentVolumeClaim:", "hostPath:"))
    code, out, err = multi_add(work, *multi_made[1:])
    assert (code, out) == (1, "")
    assert err == (
        f"create_k8s_config.py: error: {node1}: StatefulSet {CHAIN}-1 mounts no claim (persistentVolumeClaim); "
        "restore the file\n"
    )


def test_nodes_that_differ_in_their_sidecars_are_refused(multi_made, tmp_path: Path):
    """multi_cluster: each node's StatefulSet is read; one whose executor names a state db user differs."""
    from runner_k8s.releases.v5_0_0.pods import STATE_DB_USER_ENV

    work = copy_of(multi_made, tmp_path)
    yaml_file = work / f"{CHAIN}-1.yaml"
    documents = [doc for doc in yaml.safe_load_all(yaml_file.read_text()) if doc]
    (node1,) = [doc for doc in documents if doc["kind"] == "StatefulSet"]
    (executor,) = [item for item in node1["spec"]["template"]["spec"]["containers"] if item["name"] == "executor"]
    executor.setdefault("env", []).append({"name": STATE_DB_USER_ENV, "value": "someone"})
    yaml_file.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    code, out, err = multi_add(work, *multi_made[1:])
    assert (code, out) == (1, "")
    assert err == (
        "create_k8s_config.py: error: the nodes of 'test-chain' differ in their sidecar containers; this tool made "
        "them alike: restore the files\n"
    )
