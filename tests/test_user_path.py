"""The path a new user walks: flag spellings, next steps that work as printed, --dry_run, --json, progress."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

import create_k8s_config
import create_pvc
from runner_k8s.runtime import PROGRESS_MIN_STEPS, Runtime
from tests.chains import PASSWORD, load_documents
from tests.conftest import FIXED_NOW, DeterministicRandom, fixed_runtime, output_of, tree_snapshot

LOCAL = ["local_cluster", "--kms_password", PASSWORD, "--pvc_name", "local-pvc", "--peers_count", "2"]


def run_local(work: Path, *extra: str, argv: list[str] | None = None) -> tuple[int, str]:
    runtime = fixed_runtime("user path")
    code = create_k8s_config.main([*(argv or LOCAL), "--work_dir", str(work), *extra], runtime)
    return code, output_of(runtime)


# --- flag spellings -------------------------------------------------------------------------------------


def test_hyphenated_flags_work_like_the_underscore_ones(tmp_path: Path):
    underscore = run_local(tmp_path / "a")
    hyphen = run_local(
        tmp_path / "b",
        argv=["local-cluster", "--kms-password", PASSWORD, "--pvc-name", "local-pvc", "--peers-count=2"],
    )
    assert underscore[0] == hyphen[0] == 0
    assert tree_snapshot(tmp_path / "a") == tree_snapshot(tmp_path / "b")
    assert underscore[1].replace(str(tmp_path / "a"), "W") == hyphen[1].replace(str(tmp_path / "b"), "W")


@pytest.mark.parametrize(
    ("flag", "suggestion"),
    [
        ("--peer_count", "--peers_count"),
        ("--peers-cuont", "--peers_count"),
        ("--kms-pasword", "--kms_password"),
        ("--chain-nmae", "--chain_name"),
    ],
)
def test_unknown_flag_gets_a_suggestion(tmp_path: Path, script, flag: str, suggestion: str):
    result = script("create_k8s_config.py", *LOCAL, flag, "3", cwd=tmp_path)
    assert result.returncode == 2
    assert f"unknown flag {flag}; did you mean {suggestion}?" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_unknown_flag_far_from_every_flag_gets_no_guess(tmp_path: Path, script):
    result = script("create_pvc.py", "local_pvc", "--zzzzzz", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown flag --zzzzzz (see create_pvc.py local_pvc --help)" in result.stderr


def test_a_value_that_looks_like_a_flag_is_left_to_argparse(tmp_path: Path):
    # `--chain_name` takes the next word as its value; the respelling must not touch it.
    code, _ = run_local(tmp_path, "--chain_name", "my-chain")
    assert code == 0
    assert (tmp_path / "cita-cloud" / "my-chain").is_dir()


def test_unknown_subcommand_gets_a_suggestion(tmp_path: Path, script):
    result = script("create_pvc.py", "nfs_pcv", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown subcommand 'nfs_pcv'; did you mean nfs_pvc?" in result.stderr


# --- create_pvc.py --pvc_name -----------------------------------------------------------------------


def test_pvc_name_names_file_claim_and_volume(tmp_path: Path):
    runtime = fixed_runtime()
    argv = ["nfs_pvc", "--pvc_name", "cluster0-pvc", "--nfs_server", "10.0.0.5", "--nfs_path", "/srv/nfs"]
    assert create_pvc.main([*argv, "--work_dir", str(tmp_path)], runtime) == 0
    pv, pvc = load_documents(tmp_path / "cluster0-pvc.yaml")
    assert (pv["kind"], pv["metadata"]["name"]) == ("PersistentVolume", "cluster0-pv")
    assert (pvc["kind"], pvc["metadata"]["name"]) == ("PersistentVolumeClaim", "cluster0-pvc")
    assert pvc["spec"]["volumeName"] == "cluster0-pv"


def test_local_pvc_name_without_pvc_suffix(tmp_path: Path):
    assert create_pvc.main(["local_pvc", "--pvc_name", "data", "--work_dir", str(tmp_path)], fixed_runtime()) == 0
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in load_documents(tmp_path / "data.yaml")]
    assert names == [
        ("StorageClass", "local-storage"),
        ("PersistentVolume", "data-pv"),
        ("PersistentVolumeClaim", "data"),
    ]


def test_nfs_path_error_speaks_of_nfs(tmp_path: Path, script):
    result = script("create_pvc.py", "nfs_pvc", "--nfs_server", "10.0.0.5", "--nfs_path", "srv/nfs", cwd=tmp_path)
    assert result.returncode == 2
    assert "--nfs_path" in result.stderr and "NFS server exports" in result.stderr
    assert "on the node" not in result.stderr and "cita-cloud-datadir" not in result.stderr


@pytest.mark.parametrize("bad", ["Cluster0", "a_b", "-x"])
def test_bad_pvc_name_is_refused(tmp_path: Path, script, bad: str):
    result = script("create_pvc.py", "local_pvc", f"--pvc_name={bad}", cwd=tmp_path)
    assert result.returncode == 2 and "--pvc_name" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- next steps ---------------------------------------------------------------------------------------


def next_lines(summary: str) -> list[str]:
    return [line.strip() for line in summary.split("Next:\n", 1)[1].splitlines()]


def test_next_steps_name_the_work_dir_and_make_the_missing_pvc(tmp_path: Path):
    work = tmp_path / "out dir"
    code, summary = run_local(work)
    assert code == 0
    steps = next_lines(summary)
    assert steps[0].startswith(f"./create_pvc.py local_pvc --pvc_name local-pvc --work_dir '{work}'")
    assert steps[1] == f"kubectl apply -f '{work}/local-pvc.yaml'"
    assert f"-r '{work}/cita-cloud/test-chain' docker@$(minikube ip):" in steps[3]
    assert steps[-1] == f"kubectl apply -f '{work}/test-chain.yaml'"


def test_next_steps_follow_an_nfs_claim_made_beforehand(tmp_path: Path):
    argv = ["nfs_pvc", "--pvc_name", "local-pvc", "--nfs_server", "10.0.0.5", "--nfs_path", "/srv/nfs"]
    assert create_pvc.main([*argv, "--work_dir", str(tmp_path)], fixed_runtime()) == 0
    code, summary = run_local(tmp_path)
    assert code == 0
    steps = next_lines(summary)
    assert not any("create_pvc.py" in step for step in steps)
    assert not any("minikube" in step for step in steps)
    assert any(step.startswith("sudo mount -t nfs 10.0.0.5:/srv/nfs /mnt") for step in steps)
    assert any(f"sudo cp -r {tmp_path}/cita-cloud/test-chain /mnt/cita-cloud/" in step for step in steps)


def test_next_steps_copy_to_every_listed_node(tmp_path: Path):
    argv = ["local_pvc", "--node_list", "worker-a,worker-b", "--data_dir", "/data/cita"]
    assert create_pvc.main([*argv, "--work_dir", str(tmp_path)], fixed_runtime()) == 0
    _, summary = run_local(tmp_path)
    steps = next_lines(summary)
    for host in ("worker-a", "worker-b"):
        copy = f"scp -r {tmp_path}/cita-cloud/test-chain {host}:/data/cita/cita-cloud/"
        assert f"ssh {host} mkdir -p /data/cita/cita-cloud && {copy}" in steps


def test_force_reminds_that_the_cluster_holds_the_old_keys(tmp_path: Path):
    assert run_local(tmp_path)[0] == 0
    assert "--force replaced" not in run_local(tmp_path, "--force", "--chain_name", "other")[1]
    code, summary = run_local(tmp_path, "--force")
    assert code == 0
    steps = next_lines(summary)
    # README "Stop and remove a chain": by the chain's label, so every object of the old chain goes.
    assert steps[0] == (
        "kubectl delete statefulset,service,networkpolicy,secret -l app.kubernetes.io/instance=test-chain "
        "--ignore-not-found  # --force replaced the outputs: stop every object of the old chain"
    )
    assert "old keys" in steps[1] and "rm -rf /home/docker/cita-cloud-datadir/cita-cloud/test-chain" in steps[1]


def test_force_that_shrinks_a_chain_stops_the_old_nodes_and_names_them(tmp_path: Path):
    """3 nodes, then --force with 2: node 2's objects are in no new file, so only the label can reach them."""
    assert run_local(tmp_path, "--peers_count", "3", "--namespace", "chains")[0] == 0
    code, summary = run_local(tmp_path, "--force", "--namespace", "chains")
    assert code == 0
    steps = next_lines(summary)
    assert steps[0].startswith(
        "kubectl delete statefulset,service,networkpolicy,secret -l app.kubernetes.io/instance=test-chain -n chains "
    )
    assert steps[1] == (
        "# gone with the old chain: Secret test-chain-2-network-secret, Service test-chain-2, "
        "StatefulSet test-chain-2, Service test-chain-2-executor"
    )


# --- --dry_run and --json -----------------------------------------------------------------------------


def test_dry_run_checks_everything_and_writes_nothing(tmp_path: Path):
    code, plan = run_local(tmp_path, "--dry-run", "--need_monitor")
    assert code == 0
    assert list(tmp_path.iterdir()) == []
    assert "nothing written" in plan
    assert "0600  " + str(tmp_path / "cita-cloud/test-chain/node1/kms.db") in plan
    assert f"{tmp_path}/test-chain.yaml: StatefulSet test-chain-1" in plan
    assert "test-chain-1-monitor" in plan and "9349 -> 30011" in plan
    assert PASSWORD not in plan


def test_dry_run_still_refuses_existing_output(tmp_path: Path):
    assert run_local(tmp_path)[0] == 0
    before = tree_snapshot(tmp_path)
    code, _ = run_local(tmp_path, "--dry_run")
    assert code == 1
    assert tree_snapshot(tmp_path) == before


def test_dry_run_refuses_bad_input_like_a_real_run(tmp_path: Path):
    code, _ = run_local(tmp_path, "--dry_run", "--node_port", "32767")
    assert code == 2
    assert list(tmp_path.iterdir()) == []


def test_dry_run_json_lists_the_same_files_a_real_run_writes(tmp_path: Path):
    code, plan = run_local(tmp_path / "plan", "--dry_run", "--json")
    assert code == 0
    data = json.loads(plan)
    assert not (tmp_path / "plan").exists()
    assert run_local(tmp_path / "plan")[0] == 0
    written = {str(path) for path in (tmp_path / "plan").rglob("*")}
    planned = {item["path"] for item in data["files"]}
    roots = {str(tmp_path / "plan" / "cita-cloud"), str(tmp_path / "plan" / "cita-cloud" / "test-chain")}
    assert planned == written - roots
    kinds = {(obj["kind"], obj["name"]) for obj in data["objects"]}
    written_objects = {
        (doc["kind"], doc["metadata"]["name"]) for doc in load_documents(tmp_path / "plan/test-chain.yaml")
    }
    assert kinds == written_objects


# The README's --json schema: the same keys for both subcommands, dry run or not.
JSON_KEYS = {
    "dry_run", "kind", "chain", "release", "consensus", "kms", "work_dir", "outputs", "replaces", "super_admin",
    "nodes", "files",
    "objects", "ports", "still_to_copy", "next",
}  # fmt: skip
NODE_KEYS = {"index", "name", "address", "device_id", "folder", "yaml", "pvc_name", "host", "ports", "reserved_ports"}


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """What a dry run and the real run after it must agree on: everything but the random keys and sizes."""
    nodes = [{key: node[key] for key in NODE_KEYS - {"address", "device_id"}} for node in data["nodes"]]
    files = [{key: item[key] for key in ("path", "type", "mode")} for item in data["files"]]
    return {**data, "dry_run": None, "super_admin": None, "nodes": nodes, "files": files}


@pytest.mark.parametrize("extra", [(), ("--need_monitor", "--namespace", "chains")])
def test_dry_run_json_and_real_run_json_describe_the_same_chain(tmp_path: Path, extra: tuple[str, ...]):
    code, plan = run_local(tmp_path, "--dry_run", "--json", *extra)
    assert code == 0
    code, out = run_local(tmp_path, "--json", *extra)
    assert code == 0
    planned, done = json.loads(plan), json.loads(out)
    assert set(planned) == set(done) == JSON_KEYS
    assert all(set(node) == NODE_KEYS for node in planned["nodes"] + done["nodes"])
    assert planned["dry_run"] is True and done["dry_run"] is False
    # A dry run throws its keys away: it names no address it will not keep.
    assert planned["super_admin"] is None and all(node["address"] is None for node in planned["nodes"])
    assert comparable(planned) == comparable(done)
    written = {str(path) for path in tmp_path.rglob("*")}
    assert {item["path"] for item in done["files"]} == written - {
        str(tmp_path / "cita-cloud"),
        str(tmp_path / "cita-cloud" / "test-chain"),
    }


def test_json_summary_matches_the_files_and_holds_no_secret(tmp_path: Path):
    code, out = run_local(tmp_path, "--json")
    assert code == 0
    data = json.loads(out)
    assert PASSWORD not in out
    for node in data["nodes"]:
        folder = Path(node["folder"])
        assert (folder / "node_address").read_text() == node["address"]
        assert node["device_id"] in (folder / "config" / "config.xml").read_text()
        key = (folder / "config" / "key.pem").read_bytes().decode()
        assert key.split("\n")[1] not in out
    assert data["super_admin"] == (tmp_path / "test-chain-admin" / "node_address").read_text()
    documents = load_documents(tmp_path / "test-chain.yaml")
    node_ports = sorted(
        p["nodePort"] for doc in documents if doc["kind"] == "Service" for p in doc["spec"]["ports"] if "nodePort" in p
    )
    assert sorted(item["exposed"] for item in data["ports"]) == node_ports
    # README's NodePort table: node i's call port is base + 5 + 5i, the RPC port is the base.
    assert [node["ports"] for node in data["nodes"]] == [{"call": 30009}, {"call": 30014}]
    assert data["nodes"][1]["reserved_ports"] == {
        "process": 30010,
        "exporter": 30011,
        "chaincode": 30012,
        "eventhub": 30013,
    }
    assert data["outputs"] == [
        str(tmp_path / name) for name in ("cita-cloud/test-chain", "test-chain.yaml", "test-chain-admin")
    ]
    assert data["next"][-1] == {"node": None, "command": f"kubectl apply -f {tmp_path}/test-chain.yaml"}
    network_keys = [doc["data"]["network-key"] for doc in documents if "network-key" in doc.get("data", {})]
    assert network_keys and not any(key in out for key in network_keys)


def test_create_pvc_json_and_dry_run(tmp_path: Path):
    runtime = fixed_runtime()
    assert create_pvc.main(["local_pvc", "--dry_run", "--json", "--work_dir", str(tmp_path)], runtime) == 0
    assert list(tmp_path.iterdir()) == []
    data = json.loads(output_of(runtime))
    assert data["outputs"] == [str(tmp_path / "local-pvc.yaml")]
    assert [obj["name"] for obj in data["objects"]] == ["local-storage", "local-pv", "local-pvc"]
    assert data["next"][0] == {"node": None, "command": f"kubectl apply -f {tmp_path}/local-pvc.yaml"}


# --- progress -----------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_for_large_runs_on_a_terminal():
    terminal, pipe = Terminal(), io.StringIO()
    large, small = PROGRESS_MIN_STEPS, PROGRESS_MIN_STEPS - 1
    for stream, total in ((terminal, small), (pipe, large)):
        counter = Runtime(stderr=stream).progress("keys", total)
        for done in range(1, total + 1):
            counter.advance(done)
    assert terminal.getvalue() == "" and pipe.getvalue() == ""
    counter = Runtime(stderr=terminal).progress("keys", large)
    for done in range(1, large + 1):
        counter.advance(done)
    assert terminal.getvalue().startswith("\rkeys 1/50")
    assert terminal.getvalue().endswith(f"\rkeys {large}/{large}\n")


@pytest.mark.slow
def test_a_large_chain_on_a_terminal_shows_progress_on_stderr_only(tmp_path: Path):
    terminal, stdout = Terminal(), io.StringIO()
    runtime = Runtime(
        clock=lambda: FIXED_NOW, randbytes=DeterministicRandom("progress"), stdout=stdout, stderr=terminal
    )
    argv = [*LOCAL, "--peers_count", str(PROGRESS_MIN_STEPS), "--node_port_range", "30000-32767"]
    assert create_k8s_config.main([*argv, "--work_dir", str(tmp_path)], runtime) == 0
    assert f"{PROGRESS_MIN_STEPS}/{PROGRESS_MIN_STEPS}\n" in terminal.getvalue()
    assert "\r" not in stdout.getvalue()
    assert len(load_documents(tmp_path / "test-chain.yaml")) > PROGRESS_MIN_STEPS


def test_multi_cluster_dry_run_and_json(tmp_path: Path):
    from tests.test_golden import multi_seed_example

    argv = multi_seed_example(tmp_path)
    before = tree_snapshot(tmp_path)
    runtime = fixed_runtime()
    assert create_k8s_config.main([*argv, "--dry_run", "--json"], runtime) == 0
    assert tree_snapshot(tmp_path) == before
    plan = json.loads(output_of(runtime))
    objects = {(obj["file"], obj["kind"], obj["name"]) for obj in plan["objects"]}
    assert (str(tmp_path / "test-chain-2.yaml"), "Service", "test-chain-2") in objects
    assert {port["exposed"] for port in plan["ports"]} == {30000, 30001, 30002, 30003}

    runtime = fixed_runtime()
    assert create_k8s_config.main([*argv, "--json"], runtime) == 0
    summary = json.loads(output_of(runtime))
    assert set(plan) == set(summary) == JSON_KEYS
    assert comparable(plan) == comparable(summary)
    authorities = argv[argv.index("--authorities") + 1].split(",")
    assert [node["address"] for node in summary["nodes"]] == authorities
    for node in summary["nodes"]:
        assert node["ports"] == {"network": 30000, "sync": 30001, "rpc": 30002, "call": 30003}
        assert (Path(node["folder"]) / "node_address").read_text() == node["address"]
        last = [step for step in summary["next"] if step["node"] == node["index"]][-1]
        assert last["command"] == f"kubectl apply -f {node['yaml']}"
    assert summary["still_to_copy"] == []
    out = output_of(runtime)
    assert not any(password in out for password in ("password0", "password1", "password2"))
