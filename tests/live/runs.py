"""Running a generated chain in the fake kubelet: boot it, wait on it, look at its Services."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.chains import load_documents
from tests.conftest import run_script
from tests.live.kubelet import Cluster
from tests.live.rpc import Controller

PASSWORD = "live-test-pass"
RPC_PORT = 50004


def wait_until(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    cluster: Cluster,
    interval: float = 1.0,
    state: Callable[[], object] | None = None,
) -> None:
    """Poll `check` until it holds; on time-out fail saying what was seen, what ended, and where the logs are."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except grpc.RpcError as error:
            last_error = f"{error.code()}: {error.details()}"
        time.sleep(interval)
    seen = state() if state is not None else None
    pytest.fail(
        f"timed out after {timeout:.0f}s waiting for {what}; state {seen}; last RPC error {last_error!r}; "
        f"ended: {cluster.exited()}; container output in {cluster.scratch}"
    )


def listening(address: str, port: int) -> bool:
    """Whether something accepts TCP connections at address:port."""
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


@dataclass
class LiveChain:
    """A running chain: the cluster, its storage, each node's controller client and the inputs used."""

    cluster: Cluster
    work: Path
    storage: Path
    chain: str
    controllers: dict[str, Controller]
    documents: list[dict[str, Any]]


def boot_local_chain(
    tmp: Path,
    bin_dir: Path,
    chain: str,
    *extra: str,
    delays: Mapping[str, Mapping[str, float]] | None = None,
    stand_ins: Iterable[str] = (),
) -> Generator[LiveChain, None, None]:
    """Generate a local_cluster chain with our script, copy cita-cloud/ to the 'storage', start its pods.

    `delays` holds back, per pod name, the named containers by that many seconds; `stand_ins` names
    images with no source here, run as programs that only sleep.
    """
    work = tmp / "work"
    work.mkdir()
    result = run_script(
        "create_k8s_config.py",
        "local_cluster",
        "--chain_name",
        chain,
        "--kms_password",
        PASSWORD,
        "--pvc_name",
        "local-pvc",
        *extra,
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    storage = tmp / "storage"
    shutil.copytree(work / "cita-cloud", storage / "cita-cloud", symlinks=True)
    yaml_path = work / f"{chain}.yaml"
    with Cluster(tmp / "pods", bin_dir, stand_ins) as cluster:
        cluster.load([yaml_path], {"local-pvc": storage})
        cluster.start(delays)
        controllers = {name: Controller(f"{pod.address}:{RPC_PORT}") for name, pod in cluster.pods.items()}
        try:
            yield LiveChain(cluster, work, storage, chain, controllers, load_documents(yaml_path))
        finally:
            for controller in controllers.values():
                controller.close()


def closed_service_ports(chain: LiveChain) -> list[str]:
    """`service: pod:targetPort` for every Service port of the YAML that nothing answers on the pod it selects."""
    closed = []
    for document in chain.documents:
        if document["kind"] != "Service":
            continue
        name = document["metadata"]["name"]
        pods = [pod for pod in chain.cluster.pods.values() if pod.selected_by(document["spec"]["selector"])]
        if not pods:
            closed.append(f"{name}: selects no pod")
        closed += [
            f"{name}: {pod.name}:{port['targetPort']}"
            for pod in pods
            for port in document["spec"]["ports"]
            if not listening(pod.address, port["targetPort"])
        ]
    return closed


def make_account(folder: Path, password: str, *extra: str) -> str:
    """An account made as a user makes one: key_file, then create_account.py; its address."""
    (folder / "key_file").write_text(password + "\n")
    result = run_script("create_account.py", *extra, cwd=folder)
    assert result.returncode == 0, result.stderr
    return result.stdout.rsplit("address:", 1)[1].strip()


def make_identity(folder: Path) -> str:
    """A syncthing identity made by create_syncthing_config.py; its device ID."""
    result = run_script("create_syncthing_config.py", cwd=folder)
    assert result.returncode == 0, result.stderr
    return result.stdout.removeprefix("device_id: ").strip()


def boot_multi_chain(
    tmp: Path, bin_dir: Path, chain: str, passwords: list[str], *extra: str, base_ports: list[int] | None = None
) -> Generator[LiveChain, None, None]:
    """multi_cluster with accounts and identities made beforehand by our scripts; one 'cluster' per node.

    Each node's LoadBalancer address is its pod's address; the LoadBalancer Service's ports are
    forwarded to the container ports inside the pod, so the peers reach each other exactly by the IPs
    and base ports the YAML and the TOML name. `storage` of the result is tmp: cluster i's claim is
    the folder tmp/storage<i>.
    """
    work = tmp / "work"
    work.mkdir()
    config = (
        [*extra[extra.index("--service_config") : extra.index("--service_config") + 2]]
        if "--service_config" in extra
        else []
    )
    admin = make_account(work, "admin-password", *config)  # the accounts follow the service config's kms
    authorities = [make_account(work, password, *config) for password in passwords]
    device_ids = [make_identity(work) for _ in passwords]
    bases = base_ports or [30000 + 1000 * index for index in range(len(passwords))]
    with Cluster(tmp / "pods", bin_dir) as cluster:
        ips = [cluster.address(index) for index in range(len(passwords))]
        result = run_script(
            "create_k8s_config.py",
            "multi_cluster",
            "--chain_name",
            chain,
            "--super_admin",
            admin,
            "--authorities",
            ",".join(authorities),
            "--nodes",
            ",".join(ips),
            "--lbs_tokens",
            ",".join(f"lb-{index}" for index in range(len(passwords))),
            "--sync_device_ids",
            ",".join(device_ids),
            "--kms_passwords",
            ",".join(passwords),
            "--node_ports",
            ",".join(str(base) for base in bases),
            "--pvc_names",
            ",".join(f"cluster{index}-pvc" for index in range(len(passwords))),
            *extra,
            cwd=work,
        )
        assert result.returncode == 0, result.stderr
        yaml_files = sorted(work.glob(f"{chain}-*.yaml"))
        assert len(yaml_files) == len(passwords), yaml_files
        storage: dict[str, Path] = {}
        for index in range(len(passwords)):
            root = tmp / f"storage{index}"
            node = Path("cita-cloud") / chain / f"node{index}"
            shutil.copytree(work / node, root / node, symlinks=True)
            storage[f"cluster{index}-pvc"] = root
        documents = [doc for path in yaml_files for doc in load_documents(path)]
        workloads = sorted(doc["metadata"]["name"] for doc in documents if doc["kind"] in ("Deployment", "StatefulSet"))
        cluster.load(yaml_files, storage, addresses=dict(zip(workloads, ips, strict=True)))
        cluster.start()
        controllers = {name: Controller(f"{pod.address}:{RPC_PORT}") for name, pod in cluster.pods.items()}
        try:
            yield LiveChain(cluster, work, tmp, chain, controllers, documents)
        finally:
            for controller in controllers.values():
                controller.close()
