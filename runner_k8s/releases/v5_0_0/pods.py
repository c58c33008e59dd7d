"""What runs in a node's pod: the six services and the sidecars, driven by a table (contracts.md §6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runner_k8s import names
from runner_k8s.kube.images import image_repository, pull_policy
from runner_k8s.kube.nodes import LIVENESS, POD_SECURITY, READINESS, STARTUP
from runner_k8s.kube.objects import (
    Manifest,
    build_container,
    build_probes,
    build_resources,
    container_port,
    env_from_secret,
    env_value,
    exec_probe,
    listening_check,
    pvc_volume,
    secret_volume,
    tcp_probe,
    volume_mount,
)
from runner_k8s.ports import ContainerPort, Layout, Slot, slots_in_use
from runner_k8s.releases.v5_0_0.nodefiles import CONFIG_DIR
from runner_k8s.releases.v5_0_0.serviceconfig import ExecutorKind, Service, ServiceConfig
from runner_k8s.releases.v5_0_0.syncconfig import SYNC_FOLDERS

DATA_VOLUME = "datadir"
KMS_VOLUME = "kms-key"
NETWORK_VOLUME = "network-key"
DATA_PATH = "/data"
SYNC_PATH = "/var/syncthing"
KMS_KEY_FILE = "key_file"
NETWORK_KEY_FILE = "network-key"
STATE_DB_PASSWORD_KEY = "state-db-password"
STATE_DB_USER_ENV = "COUCHDB_USER"
STATE_DB_PASSWORD_ENV = "COUCHDB_PASSWORD"
# How the chaincode_ext executor gets the state-db credentials: quoted shell variables (see _service_container).
STATE_DB_ARGS = f' --couchdb-username "${STATE_DB_USER_ENV}" --couchdb-password "${STATE_DB_PASSWORD_ENV}"'
SYNCTHING_IMAGE = "syncthing/syncthing:1.16"
# subfuzion/netcat publishes only `latest`; this is the digest Kong's quickstart script pins for it.
DEBUG_IMAGE = "subfuzion/netcat@sha256:7e808e84a631d9c2cd5a04f6a084f925ea388e3127553461536c1248c3333c8a"
# The CouchDB release that was `latest` while the chaincode_ext executor was built (2021).
COUCHDB_IMAGE = "couchdb:3.1.1"
COUCHDB_PATH = "/opt/couchdb/data"
PROCESS_EXPORTER_IMAGE = "citacloud/monitor-process-exporter:0.4.1"
CITACLOUD_EXPORTER_IMAGE = "citacloud/monitor-citacloud-exporter:0.1.1"
# Syncthing's GUI/REST API: the image sets 0.0.0.0:8384, which would override config.xml.
GUI_ON_LOOPBACK = ("STGUIADDRESS", f"127.0.0.1:{int(ContainerPort.SYNC_GUI)}")


# Root in these images needs its other capabilities (it writes node folders owned by another uid);
# no container opens raw sockets.
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["NET_RAW"]}}
# These v5.0.0 images write only into the node folder: the live harness runs them with a read-only root.
# Other images (the chaincode executors, storage_tikv) were never run here, so they keep a writable one.
READ_ONLY_ROOT_IMAGES = frozenset(
    {"network_p2p", "consensus_raft", "executor_evm", "storage_sqlite", "controller", "kms_sm", "kms_eth"}
)
SERVICE_SECURITY = {**CONTAINER_SECURITY, "readOnlyRootFilesystem": True}


@dataclass(frozen=True)
class ServiceShape:
    """What a micro-service's container needs beyond its image and command."""

    ports: tuple[tuple[str, ContainerPort], ...]
    probe_port: ContainerPort
    # Probe by "is the port listening in the pod" instead of a TCP connection: v5.0.0's consensus and
    # storage bind 127.0.0.1, out of a tcpSocket probe's reach, and the p2p listener would log a failed
    # TLS handshake for every probe.
    probe_listening: bool = False
    secret_volume: str | None = None
    secret_key: str | None = None
    secret_path: str | None = None
    waits_for: ContainerPort | None = None


SERVICE_SHAPES = {
    "network": ServiceShape(
        (("p2p", ContainerPort.P2P), ("network", ContainerPort.NETWORK)),
        ContainerPort.P2P,
        probe_listening=True,
        secret_volume=NETWORK_VOLUME,
        secret_key=NETWORK_KEY_FILE,
        secret_path="/network",
    ),
    "consensus": ServiceShape((("consensus", ContainerPort.CONSENSUS),), ContainerPort.CONSENSUS, probe_listening=True),
    "executor": ServiceShape((("executor", ContainerPort.EXECUTOR),), ContainerPort.EXECUTOR),
    "storage": ServiceShape((("storage", ContainerPort.STORAGE),), ContainerPort.STORAGE, probe_listening=True),
    # A new chain's controller executes the genesis block once, without retrying: started before its
    # executor, it records a zero state root and the node never agrees with the others (seen live).
    "controller": ServiceShape(
        (("controller", ContainerPort.CONTROLLER),), ContainerPort.CONTROLLER, waits_for=ContainerPort.EXECUTOR
    ),
    "kms": ServiceShape(
        (("kms", ContainerPort.KMS),),
        ContainerPort.KMS,
        secret_volume=KMS_VOLUME,
        secret_key=KMS_KEY_FILE,
        secret_path="/kms",
    ),
}
CHAINCODE_PORTS = (("chaincode", ContainerPort.CHAINCODE), ("eventhub", ContainerPort.EVENTHUB))


@dataclass(frozen=True)
class Sidecar:
    """A container beside the six services: fixed image, ports, arguments and what of the node folder it sees.

    `mounts` are (path in the container, folder of the node folder or None for all of it).
    """

    name: str
    image: str
    ports: tuple[tuple[str, ContainerPort], ...]
    args: tuple[str, ...] | None = None
    working_dir: str | None = None
    mounts: tuple[tuple[str, str | None], ...] = ((DATA_PATH, None),)
    env: tuple[tuple[str, str], ...] = ()
    probe_listening: bool = False  # see ServiceShape

    @property
    def probe_port(self) -> ContainerPort:
        """The port the probes dial: the sidecar's first."""
        return self.ports[0][1]


DEBUG = Sidecar("debug", DEBUG_IMAGE, (("debug", ContainerPort.DEBUG),), args=("-vlk", str(int(ContainerPort.DEBUG))))
SYNCTHING = Sidecar(
    "syncthing",
    SYNCTHING_IMAGE,
    (("sync", ContainerPort.SYNC),),
    # Only its identity and the three shared folders: never the node's kms.db or the other files.
    mounts=tuple((f"{SYNC_PATH}/{folder}", folder) for folder in (CONFIG_DIR, *SYNC_FOLDERS)),
    env=(("PUID", "0"), ("PGID", "0"), GUI_ON_LOOPBACK),
    # A bare TCP connection makes syncthing log "TLS handshake: EOF" at INFO level on every probe.
    probe_listening=True,
)
COUCHDB = Sidecar(
    "couchdb", COUCHDB_IMAGE, (("couchdb", ContainerPort.COUCHDB),), mounts=((COUCHDB_PATH, "state-data"),)
)
MONITOR_PROCESS = Sidecar(
    "monitor-process",
    PROCESS_EXPORTER_IMAGE,
    (("process", ContainerPort.PROCESS),),
    args=("--procfs", "/proc", "--config.path", "/config/process_list.yml"),
    working_dir=DATA_PATH,
)
MONITOR_CITACLOUD = Sidecar(
    "monitor-citacloud",
    CITACLOUD_EXPORTER_IMAGE,
    (("exporter", ContainerPort.EXPORTER),),
    args=(
        "--node-grpc-host",
        "localhost",
        "--node-grpc-port",
        str(int(ContainerPort.CONTROLLER)),
        "--node-data-folder",
        ".",
    ),
    working_dir=DATA_PATH,
)


@dataclass(frozen=True)
class NodePod:
    """The inputs of one node's StatefulSet."""

    chain: str
    index: int
    services: ServiceConfig
    pvc_name: str
    kms_secret: str
    need_monitor: bool
    need_debug: bool
    state_db_user: str

    def __repr__(self) -> str:
        return f"NodePod(chain={self.chain!r}, index={self.index})"

    @property
    def name(self) -> str:
        """The node's StatefulSet name and pod label."""
        return names.node_name(self.chain, self.index)

    def slots_in_use(self, layout: Layout) -> list[Slot]:
        """The external ports this node exposes under `layout`."""
        return slots_in_use(
            layout,
            monitor=self.need_monitor,
            chaincode=self.services.executor_kind.is_chaincode,
            debug=self.need_debug,
        )

    @property
    def data_dir(self) -> str:
        """The subPath of the node folder on the PVC."""
        return names.node_dir(self.chain, self.index)

    @property
    def has_state_db(self) -> bool:
        """A chaincode_ext executor keeps its state in a CouchDB beside it."""
        return self.services.executor_kind is ExecutorKind.CHAINCODE_EXT


def _data_mount(pod: NodePod, path: str = DATA_PATH, sub_dir: str | None = None) -> Manifest:
    """The node folder (or a folder inside it) mounted at `path`."""
    sub_path = pod.data_dir if sub_dir is None else f"{pod.data_dir}/{sub_dir}"
    return volume_mount(DATA_VOLUME, path, sub_path)


def _ports(pairs: Sequence[tuple[str, ContainerPort]]) -> list[Manifest]:
    return [container_port(name, int(port)) for name, port in pairs]


def service_command(cmd: str, waits_for: ContainerPort | None) -> list[str]:
    """The container command: `sh -c cmd`, or with bash first waiting until a port of the pod accepts.

    bash because dash, the `sh` of the v5.0.0 images (debian:buster-slim), cannot open a TCP socket.
    """
    if waits_for is None:
        return ["sh", "-c", cmd]
    wait = f"until (exec 3<>/dev/tcp/127.0.0.1/{int(waits_for)}) 2>/dev/null; do sleep 1; done"
    return ["bash", "-c", f"{wait}; {cmd}"]


def service_from_container(name: str, container: Manifest) -> Service:
    """The service a container runs, read back from what _service_container made of it (ValueError if not)."""
    command = list(container["command"])
    shape = SERVICE_SHAPES[name]
    if shape.waits_for is None:
        if command[:2] != ["sh", "-c"] or len(command) != 3:
            raise ValueError(f"{name}: not a command runner_k8s writes")
        cmd = command[2]
    else:
        prefix = service_command("", shape.waits_for)[2]
        if command[:2] != ["bash", "-c"] or len(command) != 3 or not command[2].startswith(prefix):
            raise ValueError(f"{name}: not a command runner_k8s writes")
        cmd = command[2][len(prefix) :]
    return Service(name, container["image"], cmd.removesuffix(STATE_DB_ARGS))


def _probes(port: int, by_listening: bool) -> Manifest:
    action = exec_probe(listening_check(port)) if by_listening else tcp_probe(port)
    return build_probes(action, STARTUP, READINESS, LIVENESS)


def _resources(pod: NodePod, container: str) -> Manifest:
    wanted = pod.services.resources_of(container)
    return build_resources(
        {"cpu": wanted.cpu_request, "memory": wanted.memory_request},
        {"cpu": wanted.cpu_limit, "memory": wanted.memory_limit},
    )


def _state_db_env(pod: NodePod) -> list[Manifest]:
    """The CouchDB user (plain) and password (from the chain's Secret) as environment variables."""
    return [
        env_value(STATE_DB_USER_ENV, pod.state_db_user),
        env_from_secret(STATE_DB_PASSWORD_ENV, pod.kms_secret, STATE_DB_PASSWORD_KEY),
    ]


def _service_container(pod: NodePod, name: str) -> Manifest:
    service = pod.services.get(name)
    shape = SERVICE_SHAPES[name]
    ports = list(shape.ports)
    cmd = service.cmd
    env: list[Manifest] = []
    # executor_chaincode binds 127.0.0.1 (README, Known limits), like consensus and storage.
    by_listening = shape.probe_listening or (name == "executor" and pod.services.executor_kind.is_chaincode)
    if name == "executor" and pod.services.executor_kind.is_chaincode:
        ports += CHAINCODE_PORTS
    if name == "executor" and pod.has_state_db:
        # `sh -c` runs the command: the shell expands the variables, quoted, so no character of the
        # credentials is read as shell syntax, and the password itself never appears in the manifest.
        cmd += STATE_DB_ARGS
        env = _state_db_env(pod)
    mounts = [_data_mount(pod)]
    if shape.secret_volume is not None and shape.secret_path is not None:
        mounts.append(volume_mount(shape.secret_volume, shape.secret_path, read_only=True))
    return build_container(
        name,
        service.image,
        pull_policy=pull_policy(service.image),
        command=service_command(cmd, shape.waits_for),
        working_dir=DATA_PATH,
        env=env,
        ports=_ports(ports),
        mounts=mounts,
        probes=_probes(int(shape.probe_port), by_listening),
        resources=_resources(pod, name),
        security_context=SERVICE_SECURITY
        if image_repository(service.image) in READ_ONLY_ROOT_IMAGES
        else CONTAINER_SECURITY,
    )


def _sidecar(pod: NodePod, sidecar: Sidecar, env: Sequence[Manifest] = ()) -> Manifest:
    return build_container(
        sidecar.name,
        sidecar.image,
        pull_policy=pull_policy(sidecar.image),
        args=sidecar.args,
        working_dir=sidecar.working_dir,
        env=[env_value(key, value) for key, value in sidecar.env] + list(env),
        ports=_ports(sidecar.ports),
        mounts=[_data_mount(pod, path, sub_dir) for path, sub_dir in sidecar.mounts],
        probes=_probes(int(sidecar.probe_port), sidecar.probe_listening),
        resources=_resources(pod, sidecar.name),
        security_context=CONTAINER_SECURITY,
    )


def build_node_containers(pod: NodePod) -> list[Manifest]:
    """The containers of a node's pod, in the order of contracts.md §6."""
    containers: list[Manifest] = []
    if pod.need_debug:
        containers.append(_sidecar(pod, DEBUG))
    containers.append(_sidecar(pod, SYNCTHING))
    containers += [_service_container(pod, service.name) for service in pod.services.services]
    if pod.has_state_db:
        containers.append(_sidecar(pod, COUCHDB, _state_db_env(pod)))
    if pod.need_monitor:
        containers += [_sidecar(pod, MONITOR_PROCESS), _sidecar(pod, MONITOR_CITACLOUD)]
    return containers


def build_pod_spec(pod: NodePod) -> Manifest:
    """A node's pod: its containers, the two Secrets and the PVC as volumes, hardened."""
    volumes = [
        secret_volume(KMS_VOLUME, pod.kms_secret, [KMS_KEY_FILE]),
        secret_volume(NETWORK_VOLUME, names.network_secret(pod.chain, pod.index), [NETWORK_KEY_FILE]),
        pvc_volume(DATA_VOLUME, pod.pvc_name),
    ]
    return {
        "automountServiceAccountToken": False,
        # Only the process exporter needs to see the other containers' processes; sharing lets every
        # container reach the others' files through /proc/<pid>/root (README, Security).
        "shareProcessNamespace": pod.need_monitor,
        "securityContext": POD_SECURITY,
        "containers": build_node_containers(pod),
        "volumes": volumes,
    }
