"""A fake kubelet for the live tests: the pods of our YAML on one Linux host.

Each workload (Deployment or StatefulSet, one replica) becomes a pod with its own network namespace
(a veth on a bridge this harness makes, one address per pod) and a hosts file that maps every Service
name of the YAML to the address of the pod it selects. Each container runs in its own mount namespace
(tests/live/podinit.py) where every volumeMount is mounted as the YAML says: the PVC (with its
subPath) from a folder that stands for the cluster storage; a Secret (only its `items`, with their
modes) and an emptyDir (a tmpfs for medium Memory) as the pod's own volumes, made before its
containers start and shared by them (tests/live/volumes.py); with readOnlyRootFilesystem its root
is read-only. The container's process runs as the user its securityContext (or the pod's, or the
image) says, with fsGroup as a supplementary group, and the pod's Secret and emptyDir volumes are
owned by that group, as the kubelet does it: a YAML whose files that user cannot read or write fails
here as it would on a cluster. Applying a changed Secret again updates its files in the running
pods at once and atomically (the kubelet's `..data` swap). Each container has its own process
namespace, unless the pod says shareProcessNamespace: then its containers share one, as Kubernetes
does it. The container's command, args, env and workingDir come from the YAML; the program is
the one the image names, taken from the folder of its release's built services, CITA_CLOUD_BIN
(v5.0.0) or CITA_CLOUD_BIN_V6 (v6.7.4) (tests/live/containers.py; syncthing from Debian's package).
Every Service name resolves in the pods (their /etc/hosts): a Service with a selector to the pod it
selects, one without to the address of its EndpointSlice, an ExternalName to its host's address.
LoadBalancer Services get their address (the pod's) and a port forwarder (TCP or UDP) in the pod's
namespace.

Only what this harness makes is touched: its namespaces, its bridge, its processes, its scratch dir.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.live.containers import (
    BIN_VARIABLES,
    IMAGE_PASSWD,
    IMAGE_USERS,
    V5,
    ImageError,
    User,
    cita_program,
    container_user,
    image_repository,
)
from tests.live.volumes import PodVolumes, VolumeError, reap_stale_volume_mounts, secret_data
from tests.podlife import PENDING, RUNNING, Restarts

HERE = Path(__file__).resolve().parent
PODINIT = HERE / "podinit.py"
LBPROXY = HERE / "lbproxy.py"
WORKLOADS = ("Deployment", "StatefulSet")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # an EndpointSlice's Service
CLUSTER_HOSTS = 60  # pod addresses each cluster takes on a network shared by several
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NO_ENDPOINT = 9  # host part of the address a ClusterIP Service without a pod resolves to: nothing answers there
SUPERVISE_SECONDS = 0.5
# Where a container finds the program its image stands for (the host's scratch dir is hidden from it).
PROGRAM_DIR = "/rk8s-bin"
BUILT_DIR = "/rk8s-built"  # the release's bin folder, read-only, where PROGRAM_DIR's links point


@dataclass(frozen=True)
class ImageDefaults:
    """What an image brings that the YAML does not say: its entrypoint and environment."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    user: str = "0"  # the image's USER
    passwd: tuple[tuple[str, int, int], ...] = (("root", 0, 0),)  # its /etc/passwd: name, uid, gid
    built: Path | None = None  # the bin folder its program comes from (mounted at BUILT_DIR)


# syncthing/syncthing:1.x: ENV HOME, PUID/PGID, STGUIADDRESS=0.0.0.0:8384; ENTRYPOINT syncthing -home ...
SYNCTHING_DEFAULTS = ImageDefaults(
    entrypoint=("syncthing", "-home", "/var/syncthing/config"),
    env=(("HOME", "/var/syncthing"), ("PUID", "1000"), ("PGID", "1000"), ("STGUIADDRESS", "0.0.0.0:8384")),
)


class HarnessError(Exception):
    """The YAML asks for something this harness cannot run, or a pod could not be set up."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion in command and args (`$$(VAR)` stays literal)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0).startswith("$$"):
            return match.group(0)[1:]
        name = match.group(1)
        return env.get(name, match.group(0))

    return re.sub(r"\$?\$\(([A-Za-z_][A-Za-z0-9_]*)\)", replace, text)


def run(*argv: str) -> None:
    """Run an `ip` command; fail loudly."""
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)


def reap_stale_clusters() -> list[str]:
    """Remove what harness runs that died without cleaning up left: their pods' processes, namespaces, bridge.

    A cluster's namespaces are named `rk8s-<pid of its test process>-<tag>-<n>`; one whose process is
    gone is stale. Only names of that form are touched.
    """
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    reaped = []
    for name in re.findall(r"^(rk8s-\d+-[0-9a-f]{6}-\d+)\b", listed, re.MULTILINE):
        owner, tag = name.split("-")[1:3]
        if Path(f"/proc/{owner}").exists():
            continue
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False).stdout
        for pid in pids.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", f"rk8s{tag}"], capture_output=True, check=False)
        reaped.append(name)
    return reaped


def child_pid(parent: int, timeout: float = 10.0) -> int:
    """The first child of a process (the container behind `unshare --fork` or `nsenter`), once it exists.

    `ip netns exec` and `unshare` without --fork exec in place, so the child of the process this
    harness started is the container's own first process.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.02)
    raise HarnessError(f"process {parent} started no child within {timeout:.0f}s")


def port_target(port: Mapping[str, Any]) -> int:
    """A Service port's targetPort (its port when unset); a named targetPort is not used by our YAML."""
    target = port.get("targetPort", port["port"])
    if not isinstance(target, int):
        raise HarnessError(f"named targetPort {target!r}: the harness maps numbers only")
    return target


def forward_pair(port: int, target: int, protocol: str, host: str | None = None) -> str:
    """lbproxy.py's argument for one forward: PORT:[HOST:]TARGET, with /udp for a UDP port."""
    if protocol not in ("TCP", "UDP"):
        raise HarnessError(f"port {port}: protocol {protocol} is not forwarded by the harness")
    middle = f"{host}:" if host is not None else ""
    return f"{port}:{middle}{target}" + ("/udp" if protocol == "UDP" else "")


def used_subnets() -> set[int]:
    """Third octets of 10.254.x.0/24 networks that already have a route here."""
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True, check=True).stdout
    return {int(octet) for octet in re.findall(r"10\.254\.(\d+)\.", routes)}


@dataclass
class Container:
    """One container ready to start."""

    name: str
    spec_file: Path
    log: Path


@dataclass
class Pod:
    """One workload's pod."""

    name: str
    labels: dict[str, str]
    address: str
    netns: str
    containers: list[Container] = field(default_factory=list)
    forwards: list[tuple[int, int, str]] = field(default_factory=list)  # (port, targetPort, protocol)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    probes: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    share_process_namespace: bool = False
    holder: int | None = None  # pid 1 of the pod's shared process namespace, while it runs
    volume_specs: dict[str, dict[str, Any]] = field(default_factory=dict)  # the pod template's volumes
    fs_group: int | None = None
    volumes: PodVolumes | None = None  # its Secret and emptyDir volumes, while it runs
    users: dict[str, User] = field(default_factory=dict)  # container -> who its process runs as

    def selected_by(self, selector: Mapping[str, str]) -> bool:
        """Whether a Service or workload selector picks this pod."""
        return all(self.labels.get(key) == value for key, value in selector.items())


class Cluster:
    """The pods of one or more YAML files on this host. Use as a context manager: it always cleans up."""

    def __init__(
        self,
        scratch: Path,
        bin_dir: Path | None,
        stand_ins: Iterable[str] = (),
        bin_v6: Path | None = None,
        network_of: Cluster | None = None,
    ) -> None:
        """`bin_dir` holds the v5.0.0 services, `bin_v6` (default: $CITA_CLOUD_BIN_V6) the v6.7.4 ones;
        `stand_ins` names images with no source to build here: each runs a program that only sleeps.

        `network_of` makes this a cluster of its own (its own objects, Services and names) whose pods sit
        on another cluster's network, as clusters that reach each other only through their
        LoadBalancers' public addresses; open that cluster first and close it last."""
        self.scratch = scratch
        self.bin_dir = bin_dir
        found_v6 = bin_v6 or os.environ.get(BIN_VARIABLES["v6.7.4"])
        self.bin_v6 = Path(found_v6) if found_v6 else None
        self.stand_ins = frozenset(stand_ins)
        self.tag = secrets.token_hex(3)
        taken = used_subnets()
        free = [octet for octet in range(10, 250) if octet not in taken]
        if not free:
            raise HarnessError("no free 10.254.x.0/24 subnet")
        self.octet = free[int.from_bytes(os.urandom(2), "big") % len(free)]
        self.bridge = f"rk8s{self.tag}"
        self.first_host, self.sharers = 10, 0
        if network_of is not None:
            network_of.sharers += 1
            self.octet, self.bridge = network_of.octet, network_of.bridge
            self.first_host = 10 + CLUSTER_HOSTS * network_of.sharers
            if self.first_host + CLUSTER_HOSTS > 255:
                raise HarnessError(f"at most {245 // CLUSTER_HOSTS} clusters share one network")
        self.owns_network = network_of is None
        self.pods: dict[str, Pod] = {}
        self.netns: list[str] = []
        self._bridge_up = False
        self.notes: list[str] = []
        self.node_ports: list[tuple[int, str, int, str]] = []  # (nodePort, pod name, targetPort, protocol)
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}  # what the YAML applied so far holds
        self.templates: dict[str, dict[str, Any]] = {}  # workload -> the pod template its pod runs
        self.generations: dict[str, int] = {}  # workload -> how often its pod was made again
        self.storage: dict[str, Path] = {}
        self.made_pods = 0
        self.node_port_forwarder: subprocess.Popen[bytes] | None = None
        # The kubelet's side: each pod's phase, when a Pending pod starts, each container's restarts.
        self.lock = threading.RLock()
        self.phases: dict[str, str] = {}
        self.start_at: dict[str, float] = {}
        self.life = Restarts()
        self._stop_supervising = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.node_port_pairs: list[str] = []  # what the running NodePort forwarder forwards
        self.external_hosts: dict[str, str] = {}  # DNS outside the cluster: host name -> address (ExternalName)

    # --- addresses -------------------------------------------------------------------------------
    def address(self, index: int) -> str:
        """The address of the index-th pod (also what a test passes as a multi_cluster node IP)."""
        return f"10.254.{self.octet}.{self.first_host + index}"

    @property
    def gateway(self) -> str:
        """The bridge's address on this host: how the test reaches the pods."""
        return f"10.254.{self.octet}.1"

    def __enter__(self) -> Cluster:
        self.notes += [f"unmounted the stale volume {point}" for point in reap_stale_volume_mounts()]
        self.notes += [f"removed the stale namespace {name}" for name in reap_stale_clusters()]
        if self.owns_network:
            run("ip", "link", "add", self.bridge, "type", "bridge")
            self._bridge_up = True
            run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            run("ip", "link", "set", self.bridge, "up")
        # Every cluster has its own kubelet loop, also one whose pods sit on another cluster's network.
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process, delete every namespace and the bridge."""
        self._stop_supervising.set()
        if self._supervisor is not None:
            self._supervisor.join(30)
        for pod in self.pods.values():
            self.stop_pod(pod.name)
        if self.node_port_forwarder is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.node_port_forwarder.pid, signal.SIGKILL)
            self.node_port_forwarder.wait(10)
            self.node_port_forwarder = None
        for name in self.netns:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.netns.clear()
        if self._bridge_up:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
            self._bridge_up = False

    # --- loading the YAML ------------------------------------------------------------------------
    def load(
        self, yaml_files: Iterable[Path], storage: Mapping[str, Path], addresses: Mapping[str, str] | None = None
    ) -> list[str]:
        """Create a pod per workload of the files; `storage` maps a PVC name to its folder (see `_load`)."""
        with self.lock:
            return self._load(yaml_files, storage, addresses)

    def _load(
        self, yaml_files: Iterable[Path], storage: Mapping[str, Path], addresses: Mapping[str, str] | None = None
    ) -> list[str]:
        """Create a pod per workload of the files; `storage` maps a PVC name to its folder.

        `addresses` maps a workload name to its pod address (multi_cluster: the node's IP, which the
        cloud would give its LoadBalancer); the others get the next free address. Loading again is
        `kubectl apply`: new workloads get pods, a workload whose pod template changed has its pod
        made again (and is named in the list returned), the others are left alone; a changed Secret is
        written into the running pods that mount it as a directory, as the kubelet syncs it.
        """
        documents = [doc for path in yaml_files for doc in yaml.safe_load_all(path.read_text()) if doc]
        self.storage.update(storage)
        changed_secrets = self._changed_secrets(documents)
        for document in documents:
            self.objects[(document["kind"], document["metadata"]["name"])] = document
        workloads = [doc for doc in documents if doc["kind"] in WORKLOADS]
        wanted = dict(addresses or {})
        made, remade = [], []
        for workload in workloads:
            name = workload["metadata"]["name"]
            spec = workload["spec"]
            if spec.get("replicas", 1) != 1:
                raise HarnessError(f"{name}: replicas {spec.get('replicas')} (the harness runs one pod)")
            labels = dict(spec["template"]["metadata"]["labels"])
            if not all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()):
                raise HarnessError(f"{name}: selector does not select its own pod template")
            if name in self.pods:
                if self.templates[name] != spec["template"]:
                    remade.append(name)
                continue
            address = wanted.pop(name, None) or self.address(self.made_pods)
            self.pods[name] = Pod(name, labels, address, f"rk8s-{os.getpid()}-{self.tag}-{self.made_pods}")
            self.made_pods += 1
            made.append(name)
        if wanted:
            raise HarnessError(f"no workload named {sorted(wanted)}")
        for workload in workloads:
            name = workload["metadata"]["name"]
            if name in made:
                self._setup_netns(self.pods[name])
            if name in made or name in remade:
                self._prepare_pod(self.pods[name], workload)
        self._refresh_services()
        self._update_secret_volumes(changed_secrets)
        return remade

    def apply(self, yaml_files: Iterable[Path], storage: Mapping[str, Path] | None = None) -> list[str]:
        """`kubectl apply -f` of files again: load() them (the workloads whose pod was made again)."""
        return self.load(yaml_files, storage or {})

    def _changed_secrets(self, documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The Secrets among `documents` that exist already with other keys or values."""
        changed = {}
        for document in documents:
            if document["kind"] != "Secret":
                continue
            name = document["metadata"]["name"]
            old = self.objects.get(("Secret", name))
            if old is not None and secret_data(old) != secret_data(document):
                changed[name] = document
        return changed

    def _update_secret_volumes(self, changed: Mapping[str, dict[str, Any]]) -> None:
        """Write changed Secrets into every running pod's volumes that hold them (not into subPath mounts)."""
        for pod in self.pods.values():
            if pod.volumes is None:
                continue
            for name, secret in changed.items():
                try:
                    updated = pod.volumes.update_secret(name, secret, pod.name)
                except VolumeError as error:
                    self.notes.append(f"{pod.name}: Secret {name} not updated: {error}")
                    continue
                self.notes += [f"{pod.name}: volume {volume} now holds the new Secret {name}" for volume in updated]

    def volume_root(self, pod: Pod) -> Path:
        """Where a pod's Secret and emptyDir volumes are on this host (named for reap_stale_volume_mounts)."""
        return self.scratch / pod.name / f"volumes-{pod.netns}"

    def _make_pod_volumes(self, pod: Pod) -> None:
        """The pod's Secret and emptyDir volumes, made before its containers start (as the kubelet does)."""
        secrets_by_name = {name: doc for (kind, name), doc in self.objects.items() if kind == "Secret"}
        volumes = PodVolumes(self.volume_root(pod), pod.fs_group)
        try:
            volumes.make(pod.volume_specs, secrets_by_name, pod.name)
        except VolumeError as error:
            raise HarnessError(str(error)) from error
        pod.volumes = volumes

    @staticmethod
    def _remove_pod_volumes(pod: Pod) -> None:
        """A stopped pod's Secret and emptyDir volumes are gone with it."""
        if pod.volumes is not None:
            pod.volumes.remove()
            pod.volumes = None

    def _prepare_pod(self, pod: Pod, workload: dict[str, Any]) -> None:
        """The containers of a workload's pod template, ready to start."""
        secrets_by_name = {name: doc for (kind, name), doc in self.objects.items() if kind == "Secret"}
        hosts_file = self.scratch / pod.name / "hosts"
        hosts_file.parent.mkdir(parents=True, exist_ok=True)
        hosts_file.touch()
        self.templates[pod.name] = workload["spec"]["template"]
        pod_spec = workload["spec"]["template"]["spec"]
        pod.share_process_namespace = bool(pod_spec.get("shareProcessNamespace", False))
        volumes = {volume["name"]: volume for volume in pod_spec.get("volumes", [])}
        pod.volume_specs = volumes
        pod.fs_group = (pod_spec.get("securityContext") or {}).get("fsGroup")
        generation = self.generations[pod.name] = self.generations.get(pod.name, -1) + 1
        pod.containers = [
            self._prepare_container(
                pod, container, volumes, secrets_by_name, self.storage, hosts_file, generation, pod_spec
            )
            for container in pod_spec["containers"]
        ]

    def _refresh_services(self) -> None:
        """Every pod's /etc/hosts (rewritten in place: the containers see it at once, as cluster DNS), the
        LoadBalancer forwards and the NodePorts, from the Services there are now."""
        services = [doc for (kind, _), doc in self.objects.items() if kind == "Service"]
        hosts = self._hosts_entries(services)
        for pod in self.pods.values():
            lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost", f"{pod.address}\t{pod.name}"]
            lines += [f"{address}\t{name}" for name, address in hosts.items()]
            with open(self.scratch / pod.name / "hosts", "w") as stream:  # the same inode: bind-mounted
                stream.write("\n".join(lines) + "\n")
            pod.forwards = []
        self.node_ports = []
        for service in services:
            if service["spec"].get("selector") is None:
                continue  # selector-less and ExternalName Services lead outside the cluster: see _peer_entries
            chosen = [pod for pod in self.pods.values() if pod.selected_by(service["spec"]["selector"])]
            if service["spec"].get("type") == "LoadBalancer":
                for pod in chosen:
                    pod.forwards += [
                        (port["port"], port_target(port), port.get("protocol", "TCP"))
                        for port in service["spec"]["ports"]
                    ]
            if service["spec"].get("type") == "NodePort" and chosen:
                # kube-proxy spreads a NodePort over the pods it selects; the harness takes the first.
                self.node_ports += [
                    (port["nodePort"], chosen[0].name, port_target(port), port.get("protocol", "TCP"))
                    for port in service["spec"]["ports"]
                ]

    def delete(self, kind: str, name: str) -> bool:
        """`kubectl delete`: remove an object (a workload's pod stops and its namespace goes); False if absent."""
        with self.lock:
            return self._delete(kind, name)

    def _delete(self, kind: str, name: str) -> bool:
        found = self.objects.pop((kind, name), None)
        if found is None:
            return False
        if kind in WORKLOADS and name in self.pods:
            self._stop_pod(name, 10.0)
            pod = self.pods.pop(name)
            subprocess.run(["ip", "netns", "del", pod.netns], capture_output=True, check=False)
            if pod.netns in self.netns:
                self.netns.remove(pod.netns)
        self._refresh_services()
        return True

    def _hosts_entries(self, services: list[dict[str, Any]]) -> dict[str, str]:
        entries: dict[str, str] = self._peer_entries(services)
        for service in services:
            selector = service["spec"].get("selector")
            if selector is None:
                continue
            chosen = [pod for pod in self.pods.values() if pod.selected_by(selector)]
            if not chosen:
                # A ClusterIP Service resolves (to its cluster IP) before any pod backs it; nothing answers there.
                self.notes.append(f"Service {service['metadata']['name']} selects no pod")
                entries[service["metadata"]["name"]] = f"10.254.{self.octet}.{NO_ENDPOINT}"
                continue
            entries[service["metadata"]["name"]] = chosen[0].address
        return entries

    def _peer_entries(self, services: list[dict[str, Any]]) -> dict[str, str]:
        """Names of Services without a selector: the address of their EndpointSlice (the port the Service
        names must be the endpoint's, since a hosts entry cannot change it), or for an ExternalName the
        address of its host: an IP literal, or a name in `external_hosts` or this host's /etc/hosts."""
        slices = [doc for (kind, _), doc in self.objects.items() if kind == "EndpointSlice"]
        entries: dict[str, str] = {}
        for service in services:
            spec, name = service["spec"], service["metadata"]["name"]
            if spec.get("type") == "ExternalName":
                address = self.resolve_external(spec["externalName"])
                if address is None:
                    self.notes.append(f"Service {name}: cannot resolve its ExternalName {spec['externalName']}")
                else:
                    entries[name] = address
                continue
            if spec.get("selector") is not None:
                continue
            mine = [doc for doc in slices if doc["metadata"].get("labels", {}).get(SERVICE_NAME_LABEL) == name]
            ready = [
                address
                for doc in mine
                for endpoint in doc.get("endpoints", [])
                if endpoint.get("conditions", {}).get("ready", True)
                for address in endpoint["addresses"]
            ]
            if not ready:
                self.notes.append(f"Service {name} has no selector and no ready endpoint")
                continue
            endpoint_ports = {(port.get("port"), port.get("protocol", "TCP")) for doc in mine for port in doc["ports"]}
            for port in spec.get("ports", []):
                if (port_target(port), port.get("protocol", "TCP")) not in endpoint_ports:
                    raise HarnessError(f"Service {name}: port {port} has no EndpointSlice port to match")
                if port_target(port) != port["port"]:
                    raise HarnessError(
                        f"Service {name}: port {port['port']} -> {port_target(port)} (hosts cannot map it)"
                    )
            entries[name] = ready[0]
        return entries

    def resolve_external(self, host: str) -> str | None:
        """An ExternalName's address: the host if it is an IP, else `external_hosts`, else /etc/hosts here."""
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_address(host))
        if host in self.external_hosts:
            return self.external_hosts[host]
        with contextlib.suppress(OSError), open("/etc/hosts") as stream:
            for line in stream:
                fields = line.split("#", 1)[0].split()
                if len(fields) > 1 and host.lower() in (name.lower() for name in fields[1:]):
                    return fields[0]
        return None

    def _setup_netns(self, pod: Pod) -> None:
        host_side = f"rkv{self.tag}{len(self.netns)}"
        run("ip", "netns", "add", pod.netns)
        self.netns.append(pod.netns)
        run("ip", "link", "add", host_side, "type", "veth", "peer", "name", "eth0", "netns", pod.netns)
        run("ip", "link", "set", host_side, "master", self.bridge)
        run("ip", "link", "set", host_side, "up")
        inside = ("ip", "netns", "exec", pod.netns, "ip")
        run(*inside, "addr", "add", f"{pod.address}/24", "dev", "eth0")
        run(*inside, "link", "set", "eth0", "up")
        run(*inside, "link", "set", "lo", "up")
        run(*inside, "route", "add", "default", "via", self.gateway)

    def _prepare_container(
        self,
        pod: Pod,
        container: dict[str, Any],
        volumes: Mapping[str, dict[str, Any]],
        secrets_by_name: Mapping[str, dict[str, Any]],
        storage: Mapping[str, Path],
        hosts_file: Path,
        generation: int = 0,
        pod_spec: Mapping[str, Any] | None = None,
    ) -> Container:
        name = container["name"]
        work = self.scratch / pod.name / (name if generation == 0 else f"{name}.{generation}")
        (work / "root").mkdir(parents=True)
        program_dir = work / "bin"
        program_dir.mkdir()
        pod_images = [item["image"] for item in (pod_spec or {}).get("containers", [])]
        defaults = self._image(container["image"], program_dir, pod_images)
        user = self._user(pod, container, defaults, pod_spec or {})
        env = {
            "PATH": f"{PROGRAM_DIR}:{STANDARD_PATH}",
            "HOSTNAME": pod.name,
            "HOME": "/root" if user.uid == 0 else "/",
        }
        env.update(dict(defaults.env))
        for item in container.get("env", []):
            env[item["name"]] = self._env_value(item, secrets_by_name)
        command = container.get("command")
        args = container.get("args")
        argv = list(command) if command else list(defaults.entrypoint)
        if args is not None:
            argv += list(args)
        elif not command:
            argv += list(defaults.cmd)
        argv = [expand(part, env) for part in argv]
        if not argv:
            raise HarnessError(f"{pod.name}/{name}: nothing to run")
        mounts = [self._mount(pod, mount, volumes, secrets_by_name, storage) for mount in container["volumeMounts"]]
        mounts.append({"path": PROGRAM_DIR, "source": str(program_dir), "read_only": True})
        built = defaults.built or self.bin_dir
        if built is not None:
            mounts.append({"path": BUILT_DIR, "source": str(built), "read_only": True})
        security = container.get("securityContext") or {}
        spec = {
            "root": str(work / "root"),
            "read_only_root": bool(security.get("readOnlyRootFilesystem", False)),
            "mounts": mounts,
            "hosts": str(hosts_file),
            "working_dir": container.get("workingDir", "/"),
            "argv": argv,
            "env": env,
            "user": {"uid": user.uid, "gid": user.gid, "groups": list(user.groups)},
            "no_new_privs": security.get("allowPrivilegeEscalation") is False,
        }
        pod.users[name] = user
        pod.probes[name] = [
            (kind, container[kind]) for kind in ("startupProbe", "readinessProbe", "livenessProbe") if kind in container
        ]
        spec_file = work / "spec.json"
        spec_file.write_text(json.dumps(spec))
        spec_file.chmod(0o600)
        return Container(name, spec_file, self.scratch / pod.name / f"{name}.log")

    def _image(self, image: str, program_dir: Path, pod_images: Iterable[str] = ()) -> ImageDefaults:
        repository = image_repository(image)
        try:
            cita = cita_program(image, [image, *pod_images])
        except ImageError as error:
            raise HarnessError(str(error)) from error
        if cita is not None:
            release, program, built = cita
            folder = self.bin_dir if release == V5 else self.bin_v6
            variable = BIN_VARIABLES[release]
            if folder is None:
                raise HarnessError(f"{image}: no folder of built {release} services (set {variable})")
            binary = folder / built
            if not binary.is_file():
                raise HarnessError(f"{image}: {binary} not found ({variable} holds the built {release} services)")
            (program_dir / program).symlink_to(f"{BUILT_DIR}/{built}")
            passwd = tuple((name, uid, gid) for name, (uid, gid) in IMAGE_PASSWD[release].items())
            return ImageDefaults(user=IMAGE_USERS[release], passwd=passwd, built=folder)
        if repository == "syncthing":
            found = shutil.which("syncthing")
            if found is None:
                raise HarnessError("syncthing is not installed (apt-get install -y syncthing)")
            (program_dir / "syncthing").symlink_to(found)
            return SYNCTHING_DEFAULTS
        if repository in self.stand_ins:
            sleeper = program_dir / "stand-in"
            sleeper.write_text("#!/bin/sh\nexec sleep 1000000\n")
            sleeper.chmod(0o755)
            return ImageDefaults(entrypoint=(f"{PROGRAM_DIR}/stand-in",))
        raise HarnessError(f"the harness cannot run the image {image}")

    @staticmethod
    def _user(pod: Pod, container: dict[str, Any], defaults: ImageDefaults, pod_spec: Mapping[str, Any]) -> User:
        """The uid, gid and groups the container's process gets (HarnessError where the kubelet refuses)."""
        passwd = {name: (uid, gid) for name, uid, gid in defaults.passwd}
        try:
            return container_user(
                defaults.user,
                passwd,
                pod_spec.get("securityContext") or {},
                container.get("securityContext") or {},
                f"{pod.name}/{container['name']}",
            )
        except ImageError as error:
            raise HarnessError(str(error)) from error

    @staticmethod
    def _env_value(item: dict[str, Any], secrets_by_name: Mapping[str, dict[str, Any]]) -> str:
        if "value" in item:
            return str(item["value"])
        ref = item["valueFrom"]["secretKeyRef"]
        secret = secrets_by_name[ref["name"]]
        return base64.b64decode(secret["data"][ref["key"]]).decode()

    def _mount(
        self,
        pod: Pod,
        mount: dict[str, Any],
        volumes: Mapping[str, dict[str, Any]],
        secrets_by_name: Mapping[str, dict[str, Any]],
        storage: Mapping[str, Path],
    ) -> dict[str, Any]:
        volume = volumes[mount["name"]]
        read_only = bool(mount.get("readOnly", False))
        if "secret" in volume or "emptyDir" in volume:
            if "secret" in volume and volume["secret"]["secretName"] not in secrets_by_name:
                raise HarnessError(f"{pod.name}: Secret {volume['secret']['secretName']} is not in the YAML")
            # The pod's own volume, made when it starts; a Secret is always mounted read-only. A subPath
            # binds what the path is when the container starts and never sees an update, as on a cluster.
            source = self.volume_root(pod) / mount["name"] / mount.get("subPath", "")
            return {"path": mount["mountPath"], "source": str(source), "read_only": read_only or "secret" in volume}
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if claim not in storage:
                raise HarnessError(f"{pod.name}: no storage for the PVC {claim}")
            source = storage[claim] / mount.get("subPath", "")
            # The kubelet creates a missing subPath as an empty folder; so does this harness.
            source.mkdir(parents=True, exist_ok=True)
            return {"path": mount["mountPath"], "source": str(source), "read_only": read_only}
        raise HarnessError(f"{pod.name}: unsupported volume {volume}")

    # --- running ---------------------------------------------------------------------------------
    def start_pod(self, name: str, delays: Mapping[str, float] | None = None) -> None:
        """Start every container of the pod (and its LoadBalancer forwarder); `delays` holds some back (seconds)."""
        with self.lock:
            self._start_pod(name, delays)

    def _start_pod(self, name: str, delays: Mapping[str, float] | None = None) -> None:
        pod = self.pods[name]
        self.phases[name] = RUNNING
        self.start_at.pop(name, None)
        self._make_pod_volumes(pod)
        if pod.forwards:
            pairs = [forward_pair(port, target, protocol) for port, target, protocol in pod.forwards]
            log = (self.scratch / pod.name / "lbproxy.log").open("ab")
            pod.processes.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", pod.netns, sys.executable, str(LBPROXY), *pairs],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        if pod.share_process_namespace:
            # One process namespace for the pod: its pid 1 holds it while the containers come and go.
            holder = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--kill-child", "sleep", "1000000"],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            pod.processes.append(holder)
            pod.holder = child_pid(holder.pid)
        for container in pod.containers:
            self._start_container(pod, container, (delays or {}).get(container.name))
        self._sync_node_ports()

    def _start_container(self, pod: Pod, container: Container, delay: float | None = None) -> None:
        enter = ["nsenter", "--target", str(pod.holder), "--pid", "--"] if pod.share_process_namespace else []
        log = container.log.open("ab")
        # Without a shared namespace, each container is pid 1 of its own, killed with its unshare.
        own = [] if pod.share_process_namespace else ["--pid", "--fork", "--kill-child"]
        argv = [*enter, "ip", "netns", "exec", pod.netns, "unshare", "--mount", *own, "--propagation", "private"]
        argv += [sys.executable, str(PODINIT), str(container.spec_file)]
        if delay is not None:
            argv.append(str(delay))
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        pod.processes.append(process)
        pod.running[container.name] = process
        self.life.start(f"{pod.name}/{container.name}", time.monotonic())

    def schedule_start(self, name: str, delay: float) -> None:
        """What `kubectl apply` leaves: the pod is Pending, and its containers start `delay` seconds later."""
        with self.lock:
            self.phases[name] = PENDING
            self.start_at[name] = time.monotonic() + delay

    def _supervise(self) -> None:
        """The kubelet's loop: start Pending pods when their time comes, restart exited containers after back-off."""
        while not self._stop_supervising.wait(SUPERVISE_SECONDS):
            with self.lock:
                now = time.monotonic()
                for name, when in list(self.start_at.items()):
                    if now >= when and name in self.pods:
                        self._start_pod(name)
                for pod in self.pods.values():
                    if self.phases.get(pod.name) != RUNNING:
                        continue
                    for container in pod.containers:
                        key = f"{pod.name}/{container.name}"
                        process = pod.running.get(container.name)
                        if process is not None and process.poll() is not None:
                            del pod.running[container.name]
                            self.life.exit(key, process.returncode, now)
                        elif process is None and not self.life.waiting(key, now):
                            self._start_container(pod, container)

    def pod_phase(self, name: str) -> str | None:
        """Pending, Running, or None when there is no such pod (deleted, or stopped by the test)."""
        with self.lock:
            return self.phases.get(name) if name in self.pods else None

    def container_running(self, name: str, container: str) -> bool:
        """Whether the container's process runs now (not waiting out a back-off)."""
        with self.lock:
            process = self.pods[name].running.get(container) if name in self.pods else None
            return process is not None and process.poll() is None

    def ready(self, name: str) -> bool:
        """The pod's Ready condition: Running, every container running and passing its readiness probe."""
        with self.lock:
            if self.pod_phase(name) != RUNNING:
                return False
            pod = self.pods[name]
            if any(not self.container_running(name, container.name) for container in pod.containers):
                return False
            readiness = [
                (container, probe)
                for container, found in pod.probes.items()
                for kind, probe in found
                if kind == "readinessProbe"
            ]
        return all(self._probe_passes(pod, container, probe) for container, probe in readiness)

    def forward_target(self, name: str, port: int) -> tuple[str, int]:
        """Where `kubectl port-forward pod/<name> L:port` connects."""
        return self.pods[name].address, port

    def container_pid(self, pod_name: str, container: str) -> int:
        """The pid (on this host) of a running container's first process: the one its command became."""
        process = self.pods[pod_name].running[container]
        return child_pid(process.pid)

    def exec_in(
        self, pod_name: str, container: str, argv: list[str], timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """`kubectl exec`: run argv inside a running container (its mount, network and process namespaces, root and
        working directory)."""
        target = str(self.container_pid(pod_name, container))
        inside = ["nsenter", "-t", target, "-m", "-n", "-p", "-r", "-w", "--", *self.as_user(pod_name, container)]
        return subprocess.run([*inside, *argv], capture_output=True, text=True, timeout=timeout, check=False)

    def as_user(self, pod_name: str, container: str) -> list[str]:
        """The prefix that runs a command in a container as its user (kubectl exec, exec probes): setpriv."""
        user = self.pods[pod_name].users.get(container)
        if user is None or (user.uid, user.gid) == (0, 0):
            return []
        groups = ",".join(str(group) for group in user.groups)
        return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", f"--groups={groups}", "--"]

    def start(self, delays: Mapping[str, Mapping[str, float]] | None = None) -> None:
        """Start every pod; `delays` holds back, per pod name, the containers it names (seconds)."""
        with self.lock:
            for name in self.pods:
                self._start_pod(name, (delays or {}).get(name))
        self._sync_node_ports()

    def _sync_node_ports(self) -> None:
        """kube-proxy: the NodePorts of the Services there are now, forwarded on the cluster node's address
        (the forwarder is started again when they change, whoever started the pods)."""
        pairs = [
            forward_pair(node_port, target, protocol, self.pods[pod].address)
            for node_port, pod, target, protocol in self.node_ports
        ]
        if self.node_port_forwarder is not None and pairs == self.node_port_pairs:
            return
        if self.node_port_forwarder is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.node_port_forwarder.pid, signal.SIGKILL)
            self.node_port_forwarder.wait(10)
            self.node_port_forwarder = None
        self.node_port_pairs = pairs
        if not pairs:
            return
        log = (self.scratch / "node-ports.log").open("ab")
        self.node_port_forwarder = subprocess.Popen(
            [sys.executable, str(LBPROXY), "--bind", self.gateway, *pairs],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def node_port_address(self, node_port: int) -> str:
        """`host:port` where a NodePort of the YAML answers: the cluster node's address (the bridge here)."""
        return f"{self.gateway}:{node_port}"

    def stop_pod(self, name: str, grace: float = 10.0) -> None:
        """SIGTERM every process group of the pod, then SIGKILL what is left after `grace` seconds."""
        with self.lock:
            self._stop_pod(name, grace)

    def _stop_pod(self, name: str, grace: float) -> None:
        self.phases.pop(name, None)
        self.start_at.pop(name, None)
        self.life.forget(name)
        pod = self.pods[name]
        for process in pod.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in pod.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        pod.processes.clear()
        pod.running.clear()
        pod.holder = None
        self._remove_pod_volumes(pod)

    def exited(self) -> list[str]:
        """`pod/container (exit code)` for every container process that has ended (restarted since, or not)."""
        ended = list(self.life.history)
        for pod in self.pods.values():
            for name, process in pod.running.items():
                code = process.poll()
                if code is not None:
                    ended.append(f"{pod.name}/{name} (exit {code})")
        return ended

    def failing_probes(self) -> list[str]:
        """`pod/container kind` for every probe of the YAML that fails now, run as the kubelet would run it.

        tcpSocket dials the pod's address; exec runs the command inside the container (its mount and
        network namespaces, root and working directory); httpGet is not used by our YAML.
        """
        failing = []
        for pod in self.pods.values():
            for name, probes in pod.probes.items():
                for kind, probe in probes:
                    if not self._probe_passes(pod, name, probe):
                        failing.append(f"{pod.name}/{name} {kind}")
        return failing

    def _probe_passes(self, pod: Pod, container: str, probe: dict[str, Any]) -> bool:
        timeout = float(probe.get("timeoutSeconds", 1))
        if "tcpSocket" in probe:
            try:
                with socket.create_connection((pod.address, int(probe["tcpSocket"]["port"])), timeout=timeout):
                    return True
            except OSError:
                return False
        if "exec" in probe:
            process = pod.running.get(container)
            if process is None or process.poll() is not None:
                return False
            try:
                inside = ["nsenter", "-t", str(child_pid(process.pid)), "-m", "-n", "-p", "-r", "-w", "--"]
                inside += self.as_user(pod.name, container)
            except HarnessError:
                return False
            try:
                done = subprocess.run(
                    [*inside, *probe["exec"]["command"]], capture_output=True, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired:
                return False
            return done.returncode == 0
        raise HarnessError(f"{pod.name}/{container}: the harness cannot run the probe {probe}")

    def peak_memory(self) -> dict[str, int]:
        """`pod/container` → the sum of the peak resident sizes (VmHWM, bytes) of its processes so far.

        A container's processes are its process group (each container starts a session of its own),
        as its cgroup would count them.
        """
        groups: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                status = (stat.parent / "status").read_text()
            except OSError:
                continue
            found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if found:
                group = int(fields[2])
                groups[group] = groups.get(group, 0) + int(found.group(1)) * 1024
        return {
            f"{pod.name}/{name}": groups.get(process.pid, 0)
            for pod in self.pods.values()
            for name, process in pod.running.items()
        }

    def logs(self) -> dict[str, str]:
        """Every container's captured output, by `pod/container`."""
        return {
            f"{pod.name}/{container.name}": container.log.read_text(errors="replace") if container.log.exists() else ""
            for pod in self.pods.values()
            for container in pod.containers
        }
