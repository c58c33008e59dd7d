"""Issue 22: the stand-ins the plans run against are as strict as kubectl and a cluster (tests/live/fakecli.py).

Each case is what kubectl or the kubelet does, from their documentation: the messages are kubectl's.
The stand-ins answer through the same PlanServer for the live harness and for the fast cluster model;
here the model (tests/fakecluster.py) stands behind them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chains import make_local_chain
from tests.fakechain import Chain
from tests.fakecluster import FakeCluster, install_pod_tools
from tests.kubectl_cli import KubectlError, parse, targets
from tests.live.fakecli import PlanServer, stand_ins
from tests.podlife import BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET, Restarts

CHAIN = "test-chain"
STORAGE = "/home/docker/cita-cloud-datadir"


class Harness:
    def __init__(self, tmp: Path, cluster: FakeCluster, plans: PlanServer, env: dict[str, str], storage: Path):
        self.tmp, self.cluster, self.plans, self.env, self.storage = tmp, cluster, plans, env, storage

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), cwd=self.tmp / "work", env=self.env, capture_output=True, text=True, timeout=60, check=False
        )


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    work = tmp_path / "work"
    make_local_chain(work, "--peers_count", "2")
    storage = tmp_path / "storage"
    shutil.copytree(work / "cita-cloud", storage / "cita-cloud")
    admin = bytes.fromhex((work / f"{CHAIN}-admin" / "node_address").read_text()[2:])
    chain = Chain("sm", hashlib.sha256(CHAIN.encode()).digest(), admin, [])
    with FakeCluster(tmp_path / "pods", chain) as cluster:
        (tmp_path / "pods").mkdir(exist_ok=True)
        install_pod_tools(tmp_path / "pods", sys.executable)
        cluster.load([work / f"{CHAIN}.yaml"], {"local-pvc": storage})
        cluster.start()
        plans = PlanServer(cluster, {STORAGE: storage}, start_delay=1.0, poll=0.05)
        with stand_ins(plans, tmp_path / "cli") as env:
            yield Harness(tmp_path, cluster, plans, env, storage)


def test_an_unknown_flag_is_refused_as_kubectl_refuses_it(harness: Harness):
    done = harness.run("kubectl", "delete", "statefulset/test-chain-0", "--x")
    assert (done.returncode, done.stderr) == (1, "error: unknown flag: --x\nSee 'kubectl delete --help' for usage.\n")
    assert ("StatefulSet", "test-chain-0") in harness.cluster.objects


def test_delete_of_what_is_not_there_fails_unless_told_to_ignore_it(harness: Harness):
    done = harness.run("kubectl", "delete", "service/test-chain-7")
    assert (done.returncode, done.stderr) == (1, 'Error from server (NotFound): services "test-chain-7" not found\n')
    assert harness.run("kubectl", "delete", "service/test-chain-7", "--ignore-not-found").returncode == 0


def test_a_resource_type_the_api_server_lacks(harness: Harness):
    done = harness.run("kubectl", "delete", "XXnetworkpolicyXX/test-chain")
    assert done.returncode == 1
    assert done.stderr == 'error: the server doesn\'t have a resource type "XXnetworkpolicyXX"\n'


def test_apply_returns_before_the_new_pod_runs(harness: Harness):
    harness.cluster.delete("StatefulSet", "test-chain-1")
    applied = harness.run("kubectl", "apply", "-f", f"{CHAIN}.yaml")
    assert applied.returncode == 0, applied.stderr
    assert harness.cluster.pod_phase("test-chain-1") == "Pending"
    forward = harness.run("kubectl", "port-forward", "pod/test-chain-1-0", "28199:50004")
    assert (forward.returncode, forward.stderr) == (
        1,
        "error: unable to forward port because pod is not running. Current status=Pending\n",
    )
    target = harness.storage / "cita-cloud" / CHAIN / "node1" / "network-config.toml"
    before = target.read_bytes()
    (harness.tmp / "work" / "other.toml").write_text("changed")
    copied = harness.run("kubectl", "cp", "other.toml", "test-chain-1-0:/data/network-config.toml", "-c", "controller")
    assert copied.returncode == 1 and "unable to upgrade connection" in copied.stderr
    assert target.read_bytes() == before  # a failed cp changes nothing
    executed = harness.run("kubectl", "exec", "test-chain-1-0", "-c", "controller", "--", "true")
    assert executed.returncode == 1
    waited = harness.run("kubectl", "rollout", "status", "statefulset/test-chain-1", "--timeout=30s")
    assert waited.returncode == 0, waited.stderr
    assert harness.cluster.pod_phase("test-chain-1") == "Running"
    assert harness.run("kubectl", "exec", "test-chain-1-0", "-c", "controller", "--", "true").returncode == 0


def test_a_container_that_exits_is_not_reached_until_it_restarts(harness: Harness):
    # node1's peer list names a Service that does not exist: its network exits at start and waits out a back-off.
    folder = harness.storage / "cita-cloud" / CHAIN / "node1"
    (folder / "network-config.toml").write_text(
        'enable_tls = true\nport = 40000\n[[peers]]\nip = "nowhere"\nport = 40000\n'
    )
    harness.cluster.stop_pod("test-chain-1")
    harness.cluster.start_pod("test-chain-1")
    assert not harness.cluster.ready("test-chain-1")
    assert harness.cluster.exited() == ["test-chain-1/network (exit 101)"]
    done = harness.run("kubectl", "exec", "test-chain-1-0", "-c", "network", "--", "true")
    assert done.returncode == 1 and "container network not found" in done.stderr
    waited = harness.run("kubectl", "rollout", "status", "statefulset/test-chain-1", "--timeout=1s")
    assert (waited.returncode, waited.stderr) == (1, "error: timed out waiting for the condition\n")


def test_restarts_back_off_as_the_kubelet_does():
    life = Restarts()
    delays = []
    now = 0.0
    life.start("p/c", now)
    for _ in range(8):
        now += 1.0
        delays.append(life.exit("p/c", 1, now) - now)
        assert life.waiting("p/c", now) and not life.waiting("p/c", now + delays[-1])
        now += delays[-1]
        life.start("p/c", now)
    assert delays == [BACKOFF_FIRST * 2**n for n in range(5)] + [BACKOFF_MAX] * 3  # 10, 20, 40, 80, 160, 300...
    assert life.counts["p/c"] == 8
    now += BACKOFF_RESET  # ran ten minutes: the back-off starts over
    assert life.exit("p/c", 1, now) - now == BACKOFF_FIRST


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["minikube", "ssh", "--nope", "--", "true"], "Error: unknown flag: --nope"),
        (["minikube", "sshh"], 'Error: unknown command "sshh" for "minikube"'),
        (["scp", "-Z", "a", "b:/c"], "scp: unknown option -- Z"),
    ],
)
def test_minikube_and_scp_refuse_unknown_options(harness: Harness, argv: list[str], message: str):
    done = harness.run(*argv)
    assert done.returncode == 1 and done.stderr.startswith(message)


def test_scp_of_a_folder_needs_r(harness: Harness):
    done = harness.run("scp", "cita-cloud/test-chain/node0", f"docker@1.2.3.4:{STORAGE}/x/")
    assert done.returncode == 1


def test_scp_brings_a_remote_file_here_and_fails_for_a_missing_one(tmp_path: Path):
    """`scp -i KEY docker@IP:/remote local`: the remote path through the storage map, /tmp of the node included."""
    vm_tmp, storage = tmp_path / "vm-tmp", tmp_path / "storage"
    vm_tmp.mkdir()
    (storage / "x").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    plans = PlanServer(None, {STORAGE: storage, "/tmp": vm_tmp})
    packed = plans.storage_shell(f"cd {STORAGE}/x && echo data > f && tar -cf /tmp/a.tar f")
    assert packed.code == 0, packed.stderr
    with stand_ins(plans, tmp_path / "cli") as env:
        run = Harness(tmp_path, None, plans, env, storage).run  # type: ignore[arg-type]
        assert run("scp", "-i", "/dev/null", "docker@192.0.2.254:/tmp/a.tar", "here.tar").returncode == 0
        missing = run("scp", "-i", "/dev/null", "docker@192.0.2.254:/tmp/b.tar", "there.tar")
        folder = run("scp", f"docker@192.0.2.254:{STORAGE}/x", "y")
    assert (tmp_path / "work" / "here.tar").read_bytes() == (vm_tmp / "a.tar").read_bytes()
    assert (missing.returncode, missing.stderr) == (1, "scp: /tmp/b.tar: No such file or directory\n")
    assert not (tmp_path / "work" / "there.tar").exists()
    assert folder.returncode == 1 and not (tmp_path / "work" / "y").exists()


def test_a_storage_script_has_each_path_replaced_once(tmp_path: Path):
    """The test's folders lie under /tmp themselves: a replaced path is not rewritten again by the /tmp prefix."""
    storage, vm_tmp = tmp_path / "s", tmp_path / "t"
    storage.mkdir()
    vm_tmp.mkdir()
    plans = PlanServer(None, {STORAGE: storage, "/tmp": vm_tmp})
    done = plans.storage_shell(f"echo one > {STORAGE}/f; echo two > '/tmp/g'; echo /tmpx")
    assert done.code == 0, done.stderr
    assert (storage / "f").read_text() == "one\n" and (vm_tmp / "g").read_text() == "two\n"
    assert done.stdout == "/tmpx\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rollout", "statuss", "x"], 'error: unknown command "statuss" for "kubectl rollout"'),
        (["cp", "a", "b", "-c"], "error: flag needs an argument: 'c' in -c"),
        (["get", "pods", "-Z"], "error: unknown shorthand flag: 'Z' in -Z"),
        (["frobnicate"], 'error: unknown command "frobnicate" for "kubectl"'),
    ],
)
def test_the_kubectl_table_refuses_what_kubectl_refuses(argv: list[str], message: str):
    with pytest.raises(KubectlError, match=message.replace("(", r"\(")):
        parse(argv)


def test_the_kubectl_table_reads_what_the_plans_write():
    call = parse(["--context", "a", "-n", "ns", "exec", "p", "-c", "syncthing", "--", "sh", "-c", "x", "y"])
    assert (call.verb, call.options, call.args, call.command) == (
        "exec",
        {"context": "a", "namespace": "ns", "container": "syncthing"},
        ["p"],
        ["sh", "-c", "x", "y"],
    )
    assert targets(parse(["delete", "sts/x", "svc/y", "netpol/z", "--ignore-not-found"])) == [
        ("StatefulSet", "x"),
        ("Service", "y"),
        ("NetworkPolicy", "z"),
    ]
    assert parse(["rollout", "status", "statefulset/x", "--timeout=600s"]).options == {"timeout": "600s"}


def test_a_pending_pod_starts_later(harness: Harness):
    harness.cluster.schedule_start("test-chain-0", 0.3)
    assert harness.cluster.pod_phase("test-chain-0") == "Pending"
    time.sleep(0.4)
    assert harness.cluster.pod_phase("test-chain-0") == "Running"
