"""A v6.7.4 node's pod: five services sharing localhost, each reading its config.toml from the node's Secret.

What the v6.7.4 sources decide here (docs/releases.md): every image runs as the user `chain` (uid
1000) and writes only below its working directory; network_zenoh writes its TLS key as a file into
its working directory, so that is a memory volume, never the shared storage; the account's
private_key is read by the controller (again and again, so it stays mounted) and by overlord, and by
no other container; network, executor and controller listen on every address, so TCP probes reach
them, while consensus (overlord and raft) and storage listen on 127.0.0.1 only (their main.rs), where
the kubelet's TCP probe, which dials the pod's address, cannot reach: their probes look for the
listening socket from inside the pod instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner_k8s import names
from runner_k8s.kube.images import pull_policy
from runner_k8s.kube.nodes import LIVENESS, READINESS, STARTUP
from runner_k8s.kube.objects import (
    UDP,
    Manifest,
    build_container,
    build_probes,
    build_resources,
    container_port,
    exec_probe,
    listening_check,
    memory_volume,
    pvc_volume,
    secret_volume,
    tcp_probe,
    volume_mount,
)
from runner_k8s.ports import ContainerPort
from runner_k8s.releases.v6_7_4.accounts import Consensus
from runner_k8s.releases.v6_7_4.config import (
    ACCOUNT_MOUNT,
    CONFIG_FILE,
    CONFIG_MOUNT,
    CONFIG_PATH,
    NODE_ADDRESS_FILE,
    PRIVATE_KEY_FILE,
    PRIVATE_KEY_PATH,
    VALIDATOR_ADDRESS_FILE,
)
from runner_k8s.releases.v6_7_4.serviceconfig import ServiceImages

CHAIN_USER = 1000  # the images' user `chain` (useradd -m chain; USER chain)
DATA_VOLUME = "datadir"
CONFIG_VOLUME = "config"
ACCOUNT_VOLUME = "account"
NETWORK_WORK_VOLUME = "network-work"
DATA_PATH = "/data"
NETWORK_WORK_PATH = "/network"
NETWORK_WORK_SIZE = "16Mi"  # three PEM files
SECRET_MODE = 0o440  # owner root, group fsGroup (the chain user): read only
# subfuzion/netcat publishes only `latest`; this is the digest Kong's quickstart script pins for it.
DEBUG_IMAGE = "subfuzion/netcat@sha256:7e808e84a631d9c2cd5a04f6a084f925ea388e3127553461536c1248c3333c8a"
CONFIG_KEYS = (CONFIG_FILE, NODE_ADDRESS_FILE, VALIDATOR_ADDRESS_FILE)
POD_SECURITY = {
    "runAsUser": CHAIN_USER,
    "runAsGroup": CHAIN_USER,
    "runAsNonRoot": True,
    "fsGroup": CHAIN_USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


@dataclass(frozen=True)
class Shape:
    """What a service's container needs: its command after `-c`, its ports, whether it sees the data and the key."""

    program: str
    port: ContainerPort
    data: bool = True
    key: bool = False
    loopback: bool = False  # listens on 127.0.0.1 only


SHAPES = {
    "network": Shape("network", ContainerPort.NETWORK, data=False),
    "consensus": Shape("consensus", ContainerPort.CONSENSUS, loopback=True),
    "executor": Shape("executor", ContainerPort.EXECUTOR),
    "storage": Shape("storage", ContainerPort.STORAGE, loopback=True),
    # The controller writes nothing: it reads its config and key, and keeps its state in storage.
    "controller": Shape("controller", ContainerPort.CONTROLLER, data=False, key=True),
}
SERVICES = tuple(SHAPES)


@dataclass(frozen=True)
class NodePod:
    """The inputs of one v6.7.4 node's StatefulSet."""

    chain: str
    index: int
    images: ServiceImages
    consensus: Consensus
    pvc_name: str
    need_debug: bool

    def __repr__(self) -> str:
        return f"NodePod(chain={self.chain!r}, index={self.index}, release=v6.7.4)"

    @property
    def name(self) -> str:
        """The node's StatefulSet name, its domain and its pod label."""
        return names.node_name(self.chain, self.index)

    @property
    def data_dir(self) -> str:
        """The subPath of the node folder on the claim."""
        return names.node_dir(self.chain, self.index)


def service_command(service: str, consensus: Consensus) -> list[str]:
    """The program and its arguments: the config file, and the key where the service signs."""
    command = [SHAPES[service].program, "run", "-c", CONFIG_PATH]
    if sees_key(service, consensus):
        command += ["-p", PRIVATE_KEY_PATH]
    elif service == "consensus":
        command.append("--stdout")  # consensus_raft logs to a file unless told otherwise
    return command


def sees_key(service: str, consensus: Consensus) -> bool:
    """Whether a container mounts the account's private key: the controller, and overlord (its BLS key)."""
    return SHAPES[service].key or (service == "consensus" and consensus is Consensus.OVERLORD)


def _probes(port: ContainerPort, loopback: bool = False) -> Manifest:
    # A TCP connection where the service listens on every address; the listening socket, seen from inside
    # the pod, where it listens on 127.0.0.1 only. Not gRPC health: it would take a stalled chain's
    # network or controller out of its Service, which is how the peers reach it again: never.
    action = exec_probe(listening_check(int(port))) if loopback else tcp_probe(int(port))
    return build_probes(action, STARTUP, READINESS, LIVENESS)


def _resources(pod: NodePod, container: str) -> Manifest:
    wanted = pod.images.resources_of(container)
    return build_resources(
        {"cpu": wanted.cpu_request, "memory": wanted.memory_request},
        {"cpu": wanted.cpu_limit, "memory": wanted.memory_limit},
    )


def _service_container(pod: NodePod, service: str) -> Manifest:
    shape = SHAPES[service]
    image = pod.images.image_of(service, pod.consensus)
    mounts = [volume_mount(CONFIG_VOLUME, CONFIG_MOUNT, read_only=True)]
    ports = [container_port("grpc", int(shape.port))]
    if service == "network":
        mounts.append(volume_mount(NETWORK_WORK_VOLUME, NETWORK_WORK_PATH))
        ports.insert(0, container_port("network", int(ContainerPort.P2P), UDP))
        working_dir = NETWORK_WORK_PATH
    elif shape.data:
        mounts.insert(0, volume_mount(DATA_VOLUME, DATA_PATH, pod.data_dir))
        working_dir = DATA_PATH
    else:
        working_dir = CONFIG_MOUNT
    if sees_key(service, pod.consensus):
        mounts.append(volume_mount(ACCOUNT_VOLUME, ACCOUNT_MOUNT, read_only=True))
    return build_container(
        service,
        image,
        pull_policy=pull_policy(image),
        command=service_command(service, pod.consensus),
        working_dir=working_dir,
        ports=ports,
        mounts=mounts,
        probes=_probes(shape.port, shape.loopback),
        resources=_resources(pod, service),
        security_context=CONTAINER_SECURITY,
    )


def _debug_container(pod: NodePod) -> Manifest:
    """A netcat listener on the debug port, seeing none of the node's files."""
    return build_container(
        "debug",
        DEBUG_IMAGE,
        pull_policy=pull_policy(DEBUG_IMAGE),
        args=["-vlk", str(int(ContainerPort.DEBUG))],
        ports=[container_port("debug", int(ContainerPort.DEBUG))],
        mounts=[],
        probes=_probes(ContainerPort.DEBUG),
        resources=_resources(pod, "debug"),
        security_context=CONTAINER_SECURITY,
    )


def build_pod_spec(pod: NodePod) -> Manifest:
    """A node's pod: its containers, its two Secrets, the claim and the network's memory volume."""
    containers = [_debug_container(pod)] if pod.need_debug else []
    containers += [_service_container(pod, service) for service in SERVICES]
    return {
        "automountServiceAccountToken": False,
        "securityContext": POD_SECURITY,
        "containers": containers,
        "volumes": [
            secret_volume(CONFIG_VOLUME, names.config_secret(pod.chain, pod.index), list(CONFIG_KEYS), SECRET_MODE),
            secret_volume(ACCOUNT_VOLUME, names.account_secret(pod.chain, pod.index), [PRIVATE_KEY_FILE], SECRET_MODE),
            memory_volume(NETWORK_WORK_VOLUME, NETWORK_WORK_SIZE),
            pvc_volume(DATA_VOLUME, pod.pvc_name),
        ],
    }
