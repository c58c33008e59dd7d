"""A fast model of a cluster running a chain, for the plans' fast tests: no process per container.

It answers the stand-ins of tests/live/fakecli.py as the live harness does (the same PlanServer), and
keeps what matters for a plan's order and re-runs, read from the services' own behaviour (contracts.md,
day2-facts.md) and from Kubernetes':

- a pod `kubectl apply` made is Pending, then Running (tests/podlife.py); its containers start then.
- network_p2p resolves every peer name of its network-config.toml when it starts and exits on one that
  does not resolve: a name resolves once a Service of that name exists. An exited container starts
  again after the kubelet's back-off (scaled down here), reading its files again.
- syncthing loads its devices and folder shares from config.xml when it starts; at run time
  `syncthing cli` changes them (a stand-in CLI on the pod's state, with syncthing 1.19's answers:
  adding a known device keeps one entry, deleting an unknown one exits 3).
- the controller answers RPC through a fake node of tests/fakechain.py (the real manage_chain.py talks
  to it through the stand-in port-forward), and logs the height it committed.
`kubectl exec` runs the command on this host, in the node folder (the container's /data).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import threading
import time
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml

from tests.fakechain import Chain, FakeNode, Tweak, _logged
from tests.podlife import PENDING, RUNNING, Restarts

WORKLOADS = ("Deployment", "StatefulSet")
NETWORK_EXIT = 101  # a Rust panic
SYNCTHING_HOME = "/var/syncthing/config"
DATA = "/data"


@dataclass
class FakePod:
    """One workload's pod: its containers, which of them run, and its syncthing state file."""

    name: str
    labels: dict[str, str]
    containers: list[str]
    address: str = "127.0.0.1"
    running: set[str] = field(default_factory=set)
    server: Any = None  # the controller's gRPC server while it runs
    rpc_port: int = 0


class FakeCluster:
    """The pods of a chain's YAML, modelled; `chain` is the fake RPC state every controller serves."""

    def __init__(self, scratch: Path, chain: Chain, backoff_scale: float = 0.01, block_seconds: float = 0.2) -> None:
        self.scratch = scratch
        self.block_seconds = block_seconds
        self._stopped = threading.Event()
        self._blocks = threading.Thread(target=self._make_blocks, daemon=True)
        self.chain = chain
        self.pods: dict[str, FakePod] = {}
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.storage: dict[str, Path] = {}
        self.phases: dict[str, str] = {}
        self.start_at: dict[str, float] = {}
        self.life = Restarts(scale=backoff_scale)
        self.lock = threading.RLock()
        self.starts: list[str] = []  # "pod/container" at each start, for the tests

    def __enter__(self) -> FakeCluster:
        self._blocks.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._blocks.join(10)
        for name in list(self.pods):
            self._stop(name)

    def _make_blocks(self) -> None:
        """The chain makes a block every `block_seconds` (every node has it: the fake nodes share one chain)."""
        while not self._stopped.wait(self.block_seconds):
            with self.chain.lock:
                self.chain.height += 1

    # --- objects -----------------------------------------------------------------------------------
    def load(
        self, yaml_files: Iterable[Path], storage: Mapping[str, Path], addresses: Mapping[str, str] | None = None
    ) -> list[str]:
        """`kubectl apply`: store the objects; a new workload gets a pod (not started); a changed template is named."""
        with self.lock:
            self.storage.update(storage)
            remade = []
            for path in yaml_files:
                for document in [doc for doc in yaml.safe_load_all(path.read_text()) if doc]:
                    key = (document["kind"], document["metadata"]["name"])
                    self.objects[key] = document
                    if document["kind"] not in WORKLOADS:
                        continue
                    name, template = key[1], document["spec"]["template"]
                    if name in self.pods:
                        if self.templates[name] != template:
                            remade.append(name)
                    else:
                        containers = [container["name"] for container in template["spec"]["containers"]]
                        self.pods[name] = FakePod(name, dict(template["metadata"]["labels"]), containers)
                    self.templates[name] = template
            return remade

    def delete(self, kind: str, name: str) -> bool:
        with self.lock:
            if self.objects.pop((kind, name), None) is None:
                return False
            if kind in WORKLOADS and name in self.pods:
                self._stop(name)
                del self.pods[name]
            return True

    def services(self) -> set[str]:
        return {name for kind, name in self.objects if kind == "Service"}

    # --- the kubelet ---------------------------------------------------------------------------------
    def start(self) -> None:
        for name in list(self.pods):
            self.start_pod(name)

    def start_pod(self, name: str, delays: object = None) -> None:
        with self.lock:
            self.phases[name] = RUNNING
            self.start_at.pop(name, None)
            for container in self.pods[name].containers:
                self._start_container(name, container)

    def schedule_start(self, name: str, delay: float) -> None:
        with self.lock:
            self.phases[name] = PENDING
            self.start_at[name] = time.monotonic() + delay

    def stop_pod(self, name: str, grace: float = 0.0) -> None:
        with self.lock:
            self._stop(name)

    def _stop(self, name: str) -> None:
        self.phases.pop(name, None)
        self.start_at.pop(name, None)
        self.life.forget(name)
        pod = self.pods[name]
        pod.running.clear()
        if pod.server is not None:
            pod.server.stop(grace=None)
            pod.server = None

    def tick(self) -> None:
        """Start the Pending pods whose time came, and the exited containers whose back-off is over."""
        with self.lock:
            now = time.monotonic()
            for name, when in list(self.start_at.items()):
                if now >= when and name in self.pods:
                    self.start_pod(name)
            for name, pod in self.pods.items():
                if self.phases.get(name) != RUNNING:
                    continue
                for container in pod.containers:
                    key = f"{name}/{container}"
                    if container not in pod.running and not self.life.waiting(key, now):
                        self._start_container(name, container)

    def _start_container(self, name: str, container: str) -> None:
        pod = self.pods[name]
        key = f"{name}/{container}"
        now = time.monotonic()
        self.life.start(key, now)
        self.starts.append(key)
        folder = self.data_dir(name)
        if container == "network":
            unresolved = [peer for peer in self.peer_names(folder) if not self.resolves(peer)]
            if unresolved:
                self.life.exit(key, NETWORK_EXIT, now)  # network_p2p: a peer name that does not resolve
                return
        elif container == "syncthing":
            self.load_syncthing(name, folder)
        elif container == "controller":
            self.start_controller(pod, folder)
        pod.running.add(container)

    def peer_names(self, folder: Path) -> list[str]:
        config = tomllib.loads((folder / "network-config.toml").read_text())
        return [str(peer["ip"]) for peer in config.get("peers", [])]

    def resolves(self, host: str) -> bool:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host in self.services()
        return True

    def data_dir(self, name: str) -> Path:
        """The node folder the pod mounts at /data (the claim's folder and the mount's subPath)."""
        spec = self.templates[name]["spec"]
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        for container in spec["containers"]:
            for mount in container.get("volumeMounts", []):
                claim = volumes[mount["name"]].get("persistentVolumeClaim", {}).get("claimName")
                if mount["mountPath"] == DATA and claim is not None:
                    return Path(self.storage[claim]) / str(mount.get("subPath", ""))
        raise ValueError(f"{name} mounts no claim at {DATA}")

    def sync_state(self, name: str) -> Path:
        return self.scratch / f"{name}.syncthing.json"

    def load_syncthing(self, name: str, folder: Path) -> None:
        """syncthing reads config.xml at start: its devices, and who shares each folder."""
        root = ET.parse(folder / "config" / "config.xml").getroot()
        devices = {
            device.get("id", ""): {"name": device.get("name"), "addresses": [a.text for a in device.findall("address")]}
            for device in root.findall("device")
        }
        shares = {
            folder_element.get("id", ""): [device.get("id", "") for device in folder_element.findall("device")]
            for folder_element in root.findall("folder")
        }
        self.sync_state(name).write_text(json.dumps({"devices": devices, "folders": shares}))

    def syncthing(self, name: str) -> dict[str, Any]:
        """A running node's syncthing as it is now (devices and folder shares)."""
        return dict(json.loads(self.sync_state(name).read_text()))

    def start_controller(self, pod: FakePod, folder: Path) -> None:
        (folder / "logs").mkdir(exist_ok=True)
        (folder / "blocks").mkdir(exist_ok=True)
        height = self.chain.height
        (folder / "blocks" / str(height)).write_bytes(b"")
        with (folder / "logs" / "controller-service.log").open("a") as log:
            log.write(f"INFO controller::chain - commit_block height {height}\n")
        if pod.server is None:
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            tweak = Tweak()
            handlers = {
                method: _logged(self.chain, tweak, method, handler)
                for method, handler in FakeNode(self.chain, tweak).handlers().items()
            }
            server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("controller.RPCService", handlers)])
            pod.rpc_port = server.add_insecure_port("127.0.0.1:0")
            server.start()
            pod.server = server

    # --- what the stand-ins ask ------------------------------------------------------------------------
    def pod_phase(self, name: str) -> str | None:
        self.tick()
        with self.lock:
            return self.phases.get(name) if name in self.pods else None

    def container_running(self, name: str, container: str) -> bool:
        self.tick()
        with self.lock:
            return name in self.pods and container in self.pods[name].running

    def ready(self, name: str) -> bool:
        self.tick()
        with self.lock:
            pod = self.pods.get(name)
            return pod is not None and self.phases.get(name) == RUNNING and set(pod.containers) <= pod.running

    def forward_target(self, name: str, port: int) -> tuple[str, int]:
        assert port == 50004, port
        return "127.0.0.1", self.pods[name].rpc_port

    def exec_in(
        self, name: str, container: str, argv: list[str], timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """`kubectl exec`: the command on this host, in the node folder, with the stand-in syncthing CLI."""
        env = {
            "PATH": f"{self.scratch / 'pod-bin'}:/usr/local/bin:/usr/bin:/bin",
            "RK8S_SYNC_STATE": str(self.sync_state(name)),
        }
        return subprocess.run(
            argv, cwd=self.data_dir(name), env=env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def exited(self) -> list[str]:
        return list(self.life.history)


def install_pod_tools(scratch: Path, python: str) -> None:
    """The stand-in syncthing CLI (tests/fakesyncthing.py) a `kubectl exec` into the fake pods finds first on PATH."""
    folder = scratch / "pod-bin"
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "syncthing"
    tool.write_text(f"#!{python} -S\n" + Path(__file__).with_name("fakesyncthing.py").read_text())
    tool.chmod(0o755)
