"""The fast cluster model of tests/fakecluster.py for v6.7.4 pods: config Secrets re-read at run time.

What it keeps, from the v6.7.4 sources (docs/releases.md, the v6 day-2 notes) and Kubernetes:
- a pod mounts its config Secret; a container does not start while that Secret is missing (the kubelet
  cannot mount it), and a changed Secret reaches a running pod only `refresh` seconds later (the
  kubelet's sync of Secret volumes, scaled down);
- network_zenoh takes its peers from config.toml at start, and again whenever the mounted file changed
  (its hot update, `hot_update_interval`): no restart;
- consensus, executor and storage work in the node folder on the claim (the mount's subPath): without
  the folder copied there first they cannot start (a subPath the kubelet makes is root's, not the
  chain user's);
- the controller answers RPC through a fake node of tests/fakechain.py whose GetNodeStatus lists, as
  v6.7.4 does, the peers of its network's config.toml that are connected (their pods' network runs).
"""

from __future__ import annotations

import base64
import threading
import time
import tomllib
from collections.abc import Iterable, Mapping
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from tests.fakechain import Chain, FakeNode, Tweak, _logged
from tests.fakecluster import FakeCluster

EXIT = 101  # a Rust panic


class V6Cluster(FakeCluster):
    """v6.7.4 pods: five services, config from a Secret, peers re-read at run time."""

    def __init__(self, scratch: Path, chain: Chain, refresh: float = 0.3, **kwargs: Any) -> None:
        super().__init__(scratch, chain, **kwargs)
        self.refresh = refresh
        self.changed_at: dict[str, float] = {}  # Secret name -> when an apply last changed it
        self.seen: dict[str, str] = {}  # pod -> the config.toml its network last read
        self.known: dict[str, list[str]] = {}  # pod -> the peers its network took from it
        self.reloads: list[str] = []  # pods whose network re-read its peers at run time
        self.addresses: dict[str, bytes] = {}
        self.v6_lock = threading.RLock()

    # --- objects -----------------------------------------------------------------------------------
    def load(
        self, yaml_files: Iterable[Path], storage: Mapping[str, Path], addresses: Mapping[str, str] | None = None
    ) -> list[str]:
        with self.lock:
            before = {key: doc.get("data") for key, doc in self.objects.items() if key[0] == "Secret"}
            remade = super().load(yaml_files, storage, addresses)
            now = time.monotonic()
            for key, doc in self.objects.items():
                if key[0] == "Secret" and key in before and before[key] != doc.get("data"):
                    self.changed_at[key[1]] = now
            return remade

    def secret_name(self, pod: str) -> str:
        volumes = self.templates[pod]["spec"]["volumes"]
        return str(next(volume["secret"]["secretName"] for volume in volumes if volume["name"] == "config"))

    def config_text(self, pod: str, *, mounted: bool) -> str | None:
        """The pod's config.toml: as it is in the Secret, or (mounted) as the kubelet has refreshed it so far."""
        name = self.secret_name(pod)
        document = self.objects.get(("Secret", name))
        if document is None:
            return None
        if mounted and time.monotonic() < self.changed_at.get(name, 0.0) + self.refresh:
            return self.seen.get(pod)
        return base64.b64decode(document["data"]["config.toml"]).decode()

    def node_address(self, pod: str) -> bytes:
        document = self.objects[("Secret", self.secret_name(pod))]
        return bytes.fromhex(base64.b64decode(document["data"]["node_address"]).decode())

    # --- the kubelet and the services -----------------------------------------------------------------
    def tick(self) -> None:
        super().tick()
        with self.lock:
            for name, pod in self.pods.items():
                if "network" not in pod.running:
                    continue
                text = self.config_text(name, mounted=True)
                if text is not None and text != self.seen.get(name):
                    self.read_peers(name, text)
                    self.reloads.append(name)

    def read_peers(self, name: str, text: str) -> None:
        self.seen[name] = text
        self.known[name] = [str(peer["domain"]) for peer in tomllib.loads(text)["network_zenoh"]["peers"]]

    def _start_container(self, name: str, container: str) -> None:
        pod = self.pods[name]
        key = f"{name}/{container}"
        now = time.monotonic()
        self.life.start(key, now)
        self.starts.append(key)
        text = self.config_text(name, mounted=False)
        if text is None or (container in ("consensus", "executor", "storage") and not self.data_dir(name).is_dir()):
            self.life.exit(key, EXIT, now)
            return
        if container == "network":
            self.read_peers(name, text)
        elif container == "controller":
            self.start_v6_controller(name)
        pod.running.add(container)

    def _stop(self, name: str) -> None:
        super()._stop(name)
        self.known.pop(name, None)
        self.seen.pop(name, None)

    def start_v6_controller(self, name: str) -> None:
        pod = self.pods[name]
        if pod.server is not None:
            return
        tweak = Tweak(node_address=self.node_address(name), peers=lambda: self.peers_of(name))
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handlers = {
            method: _logged(self.chain, tweak, method, handler)
            for method, handler in FakeNode(self.chain, tweak).handlers().items()
        }
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("controller.RPCService", handlers)])
        pod.rpc_port = server.add_insecure_port(self.rpc_address(name))
        server.start()
        pod.server = server

    def rpc_address(self, name: str) -> str:
        """Where a pod's controller listens: any free loopback port (a multi_cluster test fixes them)."""
        return "127.0.0.1:0"

    def peers_of(self, name: str) -> list[tuple[bytes, int]]:
        """GetNodeStatus's peers: those of the node's config it is connected to (their network runs)."""
        self.tick()
        with self.lock:
            return [
                (self.node_address(other), self.chain.height)
                for other in self.known.get(name, [])
                if other in self.pods and "network" in self.pods[other].running
            ]
