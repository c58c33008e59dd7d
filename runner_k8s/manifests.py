"""The CITA-Cloud composition: which objects a chain gets (contracts.md §6). A table drives the containers."""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from . import names
from .k8s import (
    Manifest,
    build_container,
    build_deployment,
    build_secret,
    build_service,
    container_port,
    pvc_volume,
    secret_volume,
    service_port,
    volume_mount,
)
from .ports import LOCAL_LAYOUT, MULTI_LAYOUT, ContainerPort, Layout, Slot, external_port, slots_in_use
from .spec import ExecutorKind, ServiceConfig, pull_policy

DATA_VOLUME = "datadir"
KMS_VOLUME = "kms-key"
NETWORK_VOLUME = "network-key"
DATA_PATH = "/data"
SYNC_PATH = "/var/syncthing"
KMS_KEY_FILE = "key_file"
NETWORK_KEY_FILE = "network-key"
SYNCTHING_IMAGE = "syncthing/syncthing:1.16"
DEBUG_IMAGE = "subfuzion/netcat"
COUCHDB_IMAGE = "couchdb"
COUCHDB_PATH = "/opt/couchdb/data"
PROCESS_EXPORTER_IMAGE = "citacloud/monitor-process-exporter:0.4.1"
CITACLOUD_EXPORTER_IMAGE = "citacloud/monitor-citacloud-exporter:0.1.1"
LB_ID_ANNOTATION = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-id"
LB_OVERRIDE_ANNOTATION = "service.beta.kubernetes.io/alicloud-loadbalancer-force-override-listeners"
CLUSTER_IP = "ClusterIP"
NODE_PORT = "NodePort"
LOAD_BALANCER = "LoadBalancer"


@dataclass(frozen=True)
class ServiceShape:
    """What a micro-service's container needs beyond its image and command."""

    ports: tuple[tuple[str, ContainerPort], ...]
    secret_volume: str | None = None
    secret_path: str | None = None
    waits_for: ContainerPort | None = None


SERVICE_SHAPES = {
    "network": ServiceShape(
        (("p2p", ContainerPort.P2P), ("network", ContainerPort.NETWORK)), NETWORK_VOLUME, "/network"
    ),
    "consensus": ServiceShape((("consensus", ContainerPort.CONSENSUS),)),
    "executor": ServiceShape((("executor", ContainerPort.EXECUTOR),)),
    "storage": ServiceShape((("storage", ContainerPort.STORAGE),)),
    # A new chain's controller executes the genesis block once, without retrying: started before its
    # executor, it records a zero state root and the node never agrees with the others (seen live).
    "controller": ServiceShape((("controller", ContainerPort.CONTROLLER),), waits_for=ContainerPort.EXECUTOR),
    "kms": ServiceShape((("kms", ContainerPort.KMS),), KMS_VOLUME, "/kms"),
}
CHAINCODE_PORTS = (("chaincode", ContainerPort.CHAINCODE), ("eventhub", ContainerPort.EVENTHUB))


@dataclass(frozen=True)
class Sidecar:
    """A container beside the six services: fixed image, ports, arguments and where the node folder goes."""

    name: str
    image: str
    ports: tuple[tuple[str, ContainerPort], ...]
    args: tuple[str, ...] | None = None
    working_dir: str | None = None
    mount_path: str = DATA_PATH
    sub_dir: str | None = None
    env: tuple[tuple[str, str], ...] = ()


DEBUG = Sidecar("debug", DEBUG_IMAGE, (("debug", ContainerPort.DEBUG),), args=("-vlk", str(int(ContainerPort.DEBUG))))
SYNCTHING = Sidecar(
    "syncthing",
    SYNCTHING_IMAGE,
    (("sync", ContainerPort.SYNC), ("gui", ContainerPort.SYNC_GUI)),
    mount_path=SYNC_PATH,
    env=(("PUID", "0"), ("PGID", "0")),
)
COUCHDB = Sidecar(
    "couchdb", COUCHDB_IMAGE, (("couchdb", ContainerPort.COUCHDB),), mount_path=COUCHDB_PATH, sub_dir="state-data"
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
    """The inputs of one node's Deployment."""

    chain: str
    index: int
    services: ServiceConfig
    pvc_name: str
    kms_secret: str
    need_monitor: bool
    need_debug: bool
    state_db_user: str
    state_db_password: str

    def __repr__(self) -> str:
        return f"NodePod(chain={self.chain!r}, index={self.index})"

    @property
    def name(self) -> str:
        """The node's Deployment name and pod label."""
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


def node_labels(chain: str, index: int) -> dict[str, str]:
    """Labels of a node's Deployment and pods."""
    return {"node_name": names.node_name(chain, index), "chain_name": chain}


def node_selector(chain: str, index: int) -> dict[str, str]:
    """Selects one node's pod."""
    return {"node_name": names.node_name(chain, index)}


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


def _service_container(pod: NodePod, name: str) -> Manifest:
    service = pod.services.get(name)
    shape = SERVICE_SHAPES[name]
    ports = list(shape.ports)
    cmd = service.cmd
    if name == "executor" and pod.services.executor_kind.is_chaincode:
        ports += CHAINCODE_PORTS
    if name == "executor" and pod.services.executor_kind is ExecutorKind.CHAINCODE_EXT:
        # `sh -c` runs the command: quote the credentials so no character in them is read by the shell.
        user, password = shlex.quote(pod.state_db_user), shlex.quote(pod.state_db_password)
        cmd += f" --couchdb-username {user} --couchdb-password {password}"
    mounts = [_data_mount(pod)]
    if shape.secret_volume is not None and shape.secret_path is not None:
        mounts.append(volume_mount(shape.secret_volume, shape.secret_path, read_only=True))
    return build_container(
        name,
        service.image,
        pull_policy=pull_policy(service.image),
        command=service_command(cmd, shape.waits_for),
        working_dir=DATA_PATH,
        ports=_ports(ports),
        mounts=mounts,
    )


def _sidecar(pod: NodePod, sidecar: Sidecar, env: dict[str, str] | None = None) -> Manifest:
    return build_container(
        sidecar.name,
        sidecar.image,
        pull_policy=pull_policy(sidecar.image),
        args=sidecar.args,
        working_dir=sidecar.working_dir,
        ports=_ports(sidecar.ports),
        mounts=[_data_mount(pod, sidecar.mount_path, sidecar.sub_dir)],
        env={**dict(sidecar.env), **(env or {})},
    )


def build_node_containers(pod: NodePod) -> list[Manifest]:
    """The containers of a node's pod, in the order of contracts.md §6."""
    containers: list[Manifest] = []
    if pod.need_debug:
        containers.append(_sidecar(pod, DEBUG))
    containers.append(_sidecar(pod, SYNCTHING))
    containers += [_service_container(pod, service.name) for service in pod.services.services]
    if pod.services.executor_kind is ExecutorKind.CHAINCODE_EXT:
        credentials = {"COUCHDB_USER": pod.state_db_user, "COUCHDB_PASSWORD": pod.state_db_password}
        containers.append(_sidecar(pod, COUCHDB, credentials))
    if pod.need_monitor:
        containers += [_sidecar(pod, MONITOR_PROCESS), _sidecar(pod, MONITOR_CITACLOUD)]
    return containers


def build_node_deployment(pod: NodePod) -> Manifest:
    """A node's Deployment: its containers, the two Secrets and the PVC as volumes."""
    volumes = [
        secret_volume(KMS_VOLUME, pod.kms_secret),
        secret_volume(NETWORK_VOLUME, names.network_secret(pod.chain, pod.index)),
        pvc_volume(DATA_VOLUME, pod.pvc_name),
    ]
    return build_deployment(
        pod.name,
        node_labels(pod.chain, pod.index),
        node_selector(pod.chain, pod.index),
        build_node_containers(pod),
        volumes,
    )


def build_kms_secret(name: str, password: str) -> Manifest:
    """The kms password Secret, mounted as /kms/key_file."""
    return build_secret(name, {KMS_KEY_FILE: password.encode("utf-8")})


def build_network_secret(chain: str, index: int, network_key: str) -> Manifest:
    """A node's network key Secret, mounted as /network/network-key."""
    return build_secret(names.network_secret(chain, index), {NETWORK_KEY_FILE: network_key.encode("ascii")})


def _slot_port(slot: Slot, external: int, service_type: str) -> Manifest:
    if service_type == NODE_PORT:
        return service_port(slot.port_name, slot.target, slot.target, external)
    return service_port(slot.port_name, external, slot.target)


def local_manifests(
    pods: Sequence[NodePod], *, kms_password: str, node_port: int, network_keys: Sequence[str]
) -> Iterator[Manifest]:
    """Every object of a single-cluster chain, in the documented order."""
    chain = pods[0].chain
    yield build_kms_secret(names.kms_secret(chain), kms_password)
    rpc = external_port(LOCAL_LAYOUT, node_port, Slot.RPC)
    yield build_service(
        names.rpc_service(chain), NODE_PORT, [_slot_port(Slot.RPC, rpc, NODE_PORT)], {"chain_name": chain}
    )
    for pod, network_key in zip(pods, network_keys, strict=True):
        index = pod.index
        yield build_network_secret(chain, index, network_key)
        yield build_service(
            names.node_name(chain, index),
            CLUSTER_IP,
            [
                service_port("network", int(ContainerPort.P2P), int(ContainerPort.P2P)),
                service_port("syncthing", int(ContainerPort.SYNC), int(ContainerPort.SYNC)),
                service_port("gui", int(ContainerPort.SYNC_GUI), int(ContainerPort.SYNC_GUI)),
            ],
            node_selector(chain, index),
        )
        yield build_node_deployment(pod)
        used = pod.slots_in_use(LOCAL_LAYOUT)
        monitor_slots = [slot for slot in (Slot.PROCESS, Slot.EXPORTER) if slot in used]
        if monitor_slots:
            yield _node_port_service(names.monitor_service(chain, index), pod, node_port, monitor_slots)
        executor_slots = [slot for slot in (Slot.CALL, Slot.CHAINCODE, Slot.EVENTHUB) if slot in used]
        yield _node_port_service(names.executor_service(chain, index), pod, node_port, executor_slots)


def _node_port_service(name: str, pod: NodePod, base: int, slots: Sequence[Slot]) -> Manifest:
    ports = [_slot_port(slot, external_port(LOCAL_LAYOUT, base, slot, pod.index), NODE_PORT) for slot in slots]
    return build_service(name, NODE_PORT, ports, node_selector(pod.chain, pod.index))


def multi_node_manifests(
    pod: NodePod, *, kms_password: str, network_key: str, base: int, lb_token: str
) -> list[Manifest]:
    """The objects of one node of a multi-cluster chain (its own YAML file)."""
    ports = [
        _slot_port(slot, external_port(MULTI_LAYOUT, base, slot, pod.index), LOAD_BALANCER)
        for slot in pod.slots_in_use(MULTI_LAYOUT)
    ]
    return [
        build_kms_secret(pod.kms_secret, kms_password),
        build_network_secret(pod.chain, pod.index, network_key),
        build_node_deployment(pod),
        build_service(
            names.lb_service(pod.chain, pod.index),
            LOAD_BALANCER,
            ports,
            node_selector(pod.chain, pod.index),
            annotations={LB_ID_ANNOTATION: lb_token, LB_OVERRIDE_ANNOTATION: "true"},
        ),
    ]
