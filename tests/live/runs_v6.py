"""Running a generated CITA-Cloud v6.7.4 chain in the fake kubelet, as a user runs it.

local_cluster: our script writes the chain, then the next steps it prints are run as printed, by
bash, with the stand-ins of tests/live/fakecli.py for kubectl, minikube and scp: the claim's YAML,
the node folders copied onto the cluster node's storage and given to the images' user (the printed
chown), the chain's YAML applied (which starts its pods). multi_cluster: each node in a cluster of
its own (its own objects and names), the clusters on one network and reaching each other only
through their LoadBalancers' addresses, one of them given by a host name (an ExternalName Service).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runner_k8s.releases.v6_7_4.accounts import Consensus, account_files, new_v6_account
from tests.chains import load_documents
from tests.conftest import run_script
from tests.live.fakecli import PlanServer, stand_ins
from tests.live.kubelet import Cluster
from tests.live.rpc import Controller

RPC_PORT = 50004
CLAIM = "local-pvc"
DATA_DIR = "/home/docker/cita-cloud-datadir"  # create_pvc.py local_pvc's default: the printed steps copy there
PLAN_TIMEOUT = 600  # seconds
V6_PROGRAMS = ("network", "consensus_overlord", "consensus_raft", "executor", "storage", "controller")
EXTERNAL_HOST = "node{index}.clusters.example"  # how a multi_cluster test names a LoadBalancer by host name


def v6_bin_dir(*needed: str) -> Path:
    """The folder of built v6.7.4 services (CITA_CLOUD_BIN_V6), or skip saying why."""
    folder = os.environ.get("CITA_CLOUD_BIN_V6")
    if not folder:
        pytest.skip("v6 live tests need CITA_CLOUD_BIN_V6: a folder with the v6.7.4 services built from source")
    if os.geteuid() != 0:
        pytest.skip("v6 live tests need root for network and mount namespaces")
    for tool in ("ip", "unshare", "nsenter", "setpriv", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"v6 live tests need {tool}")
    missing = [name for name in needed if not (Path(folder) / name).is_file()]
    if missing:
        pytest.fail(f"CITA_CLOUD_BIN_V6={folder} lacks {', '.join(missing)} (files {', '.join(V6_PROGRAMS)})")
    return Path(folder)


def versions(bin_v6: Path) -> dict[str, str]:
    """What each built program says with --version."""
    found = {}
    for name in V6_PROGRAMS:
        path = bin_v6 / name
        if path.is_file():
            done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=False)
            found[name] = (done.stdout or done.stderr).strip()
    return found


@dataclass
class V6Chain:
    """A running v6.7.4 chain: its clusters, the work dir, each node's controller client, what was printed."""

    clusters: list[Cluster]
    work: Path
    chain: str
    consensus: str
    controllers: dict[str, Controller]
    documents: list[dict[str, Any]]
    printed: str

    @property
    def cluster(self) -> Cluster:
        """The (first) cluster."""
        return self.clusters[0]

    def where(self, node: str) -> Cluster:
        """The cluster that runs a node's pod."""
        return next(cluster for cluster in self.clusters if node in cluster.pods)


def next_steps(printed: str, heading: str = "Next:") -> list[str]:
    """The commands printed under `heading` (indented lines), in order."""
    lines = printed.splitlines()
    start = lines.index(heading) + 1
    steps = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        steps.append(line.strip())
    return steps


def run_printed(steps: Iterable[str], env: dict[str, str], work: Path, log: Path) -> None:
    """Commands as printed, by bash -e from the work dir; whatever they leave running is stopped."""
    plan = "\n".join(steps)
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-e", "-c", plan],
            cwd=work,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = process.wait(PLAN_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    assert code == 0, f"the printed steps failed:\n{plan}\n--- their output\n{log.read_text()}"


def boot_v6_local(tmp: Path, chain: str, count: int, *extra: str) -> Generator[V6Chain, None, None]:
    """local_cluster --release v6.7.4 by our script, then its printed next steps, run as printed."""
    work = tmp / "work"
    work.mkdir()
    result = run_script(
        "create_k8s_config.py",
        "local_cluster",
        "--release",
        "v6.7.4",
        "--chain_name",
        chain,
        "--pvc_name",
        CLAIM,
        "--peers_count",
        str(count),
        *extra,
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    storage = tmp / "storage"  # the cluster node's DATA_DIR, the local PersistentVolume's path
    storage.mkdir()
    with Cluster(tmp / "pods", None) as cluster:
        cluster.storage[CLAIM] = storage
        with stand_ins(PlanServer(cluster, {DATA_DIR: storage}), tmp / "cli") as env:
            run_printed(next_steps(result.stdout), env, work, tmp / "next-steps.log")
        controllers = {name: Controller(f"{pod.address}:{RPC_PORT}") for name, pod in cluster.pods.items()}
        consensus = "raft" if "raft" in extra else "overlord"
        try:
            yield V6Chain(
                [cluster], work, chain, consensus, controllers, load_documents(work / f"{chain}.yaml"), result.stdout
            )
        finally:
            for controller in controllers.values():
                controller.close()


def make_v6_accounts(folder: Path, count: int, consensus: Consensus) -> list[str]:
    """Accounts as `create_account.py --release v6.7.4` would leave them (folders named by address).

    create_account.py has no --release v6.7.4 yet, so they are made with the release's own account
    module and written as the files it names; multi_cluster then checks each of them whole.
    """
    addresses = []
    for _ in range(count):
        account = new_v6_account(os.urandom, consensus)
        target = folder / account.account.address
        target.mkdir(mode=0o700)
        for name, entry in account_files(account).items():
            path = target / name
            path.write_bytes(entry.data)
            path.chmod(entry.mode)
        addresses.append(account.account.address)
    return addresses


def lb_port(documents: Iterable[dict[str, Any]], name: str, port_name: str) -> int:
    """The port a LoadBalancer Service publishes under a name (rpc, network...)."""
    for document in documents:
        if (document["kind"], document["metadata"]["name"]) == ("Service", name) and document["spec"].get(
            "type"
        ) == "LoadBalancer":
            return next(int(port["port"]) for port in document["spec"]["ports"] if port["name"] == port_name)
    raise AssertionError(f"no LoadBalancer Service {name} with a port {port_name}")


def boot_v6_multi(tmp: Path, chain: str, count: int, *extra: str) -> Generator[V6Chain, None, None]:
    """multi_cluster --release v6.7.4: node i alone in cluster i; the last node's LoadBalancer by host name."""
    work = tmp / "work"
    work.mkdir()
    consensus = Consensus.RAFT if "raft" in extra else Consensus.OVERLORD
    admin = make_v6_accounts(work, 1, consensus)[0]
    authorities = make_v6_accounts(work, count, consensus)
    bases = [30000 + 1000 * index for index in range(count)]
    with contextlib.ExitStack() as stack:
        clusters: list[Cluster] = []
        for index in range(count):
            shared = clusters[0] if clusters else None
            clusters.append(stack.enter_context(Cluster(tmp / f"pods{index}", None, network_of=shared)))
        ips = [cluster.address(0) for cluster in clusters]
        hosts = [*ips[:-1], EXTERNAL_HOST.format(index=count - 1)]
        for cluster in clusters:  # the DNS every cluster uses for outside names
            cluster.external_hosts[hosts[-1]] = ips[-1]
        result = run_script(
            "create_k8s_config.py",
            "multi_cluster",
            "--release",
            "v6.7.4",
            "--chain_name",
            chain,
            "--super_admin",
            admin,
            "--authorities",
            ",".join(authorities),
            "--nodes",
            ",".join(hosts),
            "--lbs_tokens",
            ",".join(f"lb-{index}" for index in range(count)),
            "--node_ports",
            ",".join(map(str, bases)),
            "--pvc_names",
            ",".join(f"cluster{index}-pvc" for index in range(count)),
            *extra,
            cwd=work,
        )
        assert result.returncode == 0, result.stderr
        documents = []
        for index, cluster in enumerate(clusters):
            steps = next_steps(result.stdout, f"Next, in node{index}'s cluster:")
            documents += load_documents(work / f"{chain}-{index}.yaml")
            remote = f"/srv/cluster{index}"
            storage = tmp / f"storage{index}"
            storage.mkdir()
            cluster.storage[f"cluster{index}-pvc"] = storage
            plan = PlanServer(cluster, {remote: storage}, addresses={f"{chain}-{index}": ips[index]})
            with stand_ins(plan, tmp / f"cli{index}") as env:
                run_printed(
                    [runnable(step, remote, index) for step in steps], env, work, tmp / f"next-steps{index}.log"
                )
        controllers = {
            f"{chain}-{index}": Controller(f"{ips[index]}:{lb_port(documents, f'{chain}-{index}', 'rpc')}")
            for index in range(count)
        }
        try:
            yield V6Chain(clusters, work, chain, consensus.value, controllers, documents, result.stdout)
        finally:
            for controller in controllers.values():
                controller.close()


def runnable(step: str, remote: str, index: int) -> str:
    """A multi_cluster next step as this test's clusters run it: an NFS export of its own for the claim,
    and the copy the comment asks for done with scp and `minikube ssh -- sudo chown`, as it says."""
    if step.startswith("#"):
        found = re.fullmatch(r"# copy (\S+) onto that storage as (\S+), owned by (\d+:\d+)", step)
        assert found is not None, step
        source, target, owner = found.groups()
        parent = f"{remote}/{Path(target).parent}"
        return (
            f"minikube ssh -- mkdir -p {parent}\n"
            f"scp -r {source} docker@$(minikube ip):{parent}/\n"
            f"minikube ssh -- sudo chown -R {owner} {remote}/{target}"
        )
    step = step.split("  #", 1)[0]
    return step.replace("--nfs_server HOST", "--nfs_server 192.0.2.1").replace(
        "--nfs_path PATH", f"--nfs_path {remote}"
    )


def wait_for(what: str, check: Any, timeout: float, clusters: Iterable[Cluster], state: Any = None) -> None:
    """Poll `check` until it holds; on time-out fail with what was seen, what ended, where the logs are."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as error:  # an RPC not answered yet
            last_error = f"{type(error).__name__}: {error}"[:300]
        time.sleep(1)
    seen = state() if state is not None else None
    ended = [item for cluster in clusters for item in cluster.exited()]
    pytest.fail(
        f"timed out after {timeout:.0f}s waiting for {what}; state {seen}; last error {last_error!r}; "
        f"ended: {ended}; container output in {[str(cluster.scratch) for cluster in clusters]}"
    )
