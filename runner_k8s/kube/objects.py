"""Generic Kubernetes object builders: plain dicts, nothing CITA-specific (their YAML text: yamltext)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Manifest = dict[str, Any]
TCP = "TCP"
UDP = "UDP"


def metadata(
    name: str, labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None
) -> Manifest:
    """An object's metadata."""
    meta: Manifest = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def build_secret(name: str, data: Mapping[str, bytes], labels: Mapping[str, str] | None = None) -> Manifest:
    """An Opaque Secret; values are base64-encoded here."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(name, labels),
        "type": "Opaque",
        "data": {key: base64.b64encode(value).decode("ascii") for key, value in data.items()},
    }


def service_port(name: str, port: int, target: int, node_port: int | None = None, protocol: str = TCP) -> Manifest:
    """One port of a Service."""
    entry: Manifest = {"name": name, "port": port, "targetPort": target, "protocol": protocol}
    if node_port is not None:
        entry["nodePort"] = node_port
    return entry


def build_service(
    name: str,
    service_type: str,
    ports: Sequence[Manifest],
    selector: Mapping[str, str],
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """A Service of the given type (ClusterIP, NodePort, LoadBalancer)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, labels, annotations),
        "spec": {"type": service_type, "ports": list(ports), "selector": dict(selector)},
    }


def container_port(name: str, port: int, protocol: str = TCP) -> Manifest:
    """One port of a container."""
    return {"name": name, "containerPort": port, "protocol": protocol}


def volume_mount(name: str, path: str, sub_path: str | None = None, read_only: bool = False) -> Manifest:
    """A volume mount, optionally of a sub-path, optionally read-only."""
    mount: Manifest = {"name": name, "mountPath": path}
    if sub_path is not None:
        mount["subPath"] = sub_path
    if read_only:
        mount["readOnly"] = True
    return mount


def env_value(name: str, value: str) -> Manifest:
    """An environment variable with a literal value (never a secret)."""
    return {"name": name, "value": value}


def env_from_secret(name: str, secret: str, key: str) -> Manifest:
    """An environment variable read from a key of a Secret."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def tcp_probe(port: int) -> Manifest:
    """The probe action: a TCP connection to the pod IP on `port`."""
    return {"tcpSocket": {"port": port}}


def exec_probe(command: Sequence[str]) -> Manifest:
    """The probe action: a command run inside the container; exit code 0 passes."""
    return {"exec": {"command": list(command)}}


def listening_check(port: int) -> list[str]:
    """A command that succeeds once something in the pod listens on TCP `port`, on any address.

    It reads the pod's socket tables (/proc/net/tcp*: local address `hex-ip:HEX-PORT`, state 0A =
    LISTEN) with sh and grep, which the debian-based CITA-Cloud images (v5.0.0 and v6.7.4) and syncthing's
    alpine image have.
    """
    pattern = f":{port:04X} [0-9A-F]*:0000 0A"
    return ["sh", "-c", f"grep -qs '{pattern}' /proc/net/tcp /proc/net/tcp6"]


def build_probes(action: Manifest, startup: Manifest, readiness: Manifest, liveness: Manifest) -> Manifest:
    """startupProbe, readinessProbe and livenessProbe sharing one action, each with its own timing."""
    return {
        "startupProbe": {**action, **startup},
        "readinessProbe": {**action, **readiness},
        "livenessProbe": {**action, **liveness},
    }


def build_resources(requests: Mapping[str, str], limits: Mapping[str, str]) -> Manifest:
    """A container's resource requests and limits."""
    return {"requests": dict(requests), "limits": dict(limits)}


def build_container(
    name: str,
    image: str,
    *,
    pull_policy: str,
    ports: Sequence[Manifest],
    mounts: Sequence[Manifest],
    command: Sequence[str] | None = None,
    args: Sequence[str] | None = None,
    working_dir: str | None = None,
    env: Sequence[Manifest] = (),
    probes: Mapping[str, Manifest] | None = None,
    resources: Manifest | None = None,
    security_context: Manifest | None = None,
) -> Manifest:
    """A container; optional fields appear only when given."""
    container: Manifest = {"name": name, "image": image, "imagePullPolicy": pull_policy}
    if command is not None:
        container["command"] = list(command)
    if args is not None:
        container["args"] = list(args)
    if working_dir is not None:
        container["workingDir"] = working_dir
    if env:
        container["env"] = list(env)
    container["ports"] = list(ports)
    container["volumeMounts"] = list(mounts)
    if probes:
        container.update(probes)
    if resources is not None:
        container["resources"] = resources
    if security_context is not None:
        container["securityContext"] = security_context
    return container


def build_statefulset(
    name: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    service_name: str,
    pod_spec: Manifest,
) -> Manifest:
    """A one-replica apps/v1 StatefulSet over an existing volume (no volumeClaimTemplates).

    A StatefulSet never runs two pods of one ordinal, not even while a cluster node is unreachable,
    so two processes never share the node's kms.db and SQLite files.
    """
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(name, labels),
        "spec": {
            "replicas": 1,
            "serviceName": service_name,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def build_headless_peer(
    name: str, slice_name: str, labels: Mapping[str, str], port_name: str, address: str, port: int, protocol: str
) -> list[Manifest]:
    """A Service without a selector and its EndpointSlice: `name` resolves in the cluster to a fixed address."""
    service: Manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, labels),
        "spec": {"type": "ClusterIP", "ports": [service_port(port_name, port, port, protocol=protocol)]},
    }
    endpoints: Manifest = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": metadata(slice_name, {**labels, "kubernetes.io/service-name": name}),
        "addressType": "IPv6" if ":" in address else "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": port_name, "protocol": protocol, "port": port}],
    }
    return [service, endpoints]


def build_external_name(name: str, labels: Mapping[str, str], host: str) -> Manifest:
    """A Service that makes `name` an alias (DNS CNAME) of an outside host name."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, labels),
        "spec": {"type": "ExternalName", "externalName": host},
    }


def build_network_policy(
    name: str, labels: Mapping[str, str], pod_selector: Mapping[str, str], ingress: Sequence[Manifest]
) -> Manifest:
    """An ingress NetworkPolicy: the selected pods accept only what `ingress` lists."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, labels),
        "spec": {
            "podSelector": {"matchLabels": dict(pod_selector)},
            "policyTypes": ["Ingress"],
            "ingress": list(ingress),
        },
    }


def policy_ports(ports: Iterable[int], protocol: str = TCP) -> list[Manifest]:
    """The `ports` of a NetworkPolicy rule."""
    return [{"protocol": protocol, "port": port} for port in ports]


def in_namespace(manifest: Manifest, namespace: str | None) -> Manifest:
    """The object with metadata.namespace set (unchanged when namespace is None)."""
    if namespace is None:
        return manifest
    meta = {"name": manifest["metadata"]["name"], "namespace": namespace}
    meta.update((key, value) for key, value in manifest["metadata"].items() if key != "name")
    return {**manifest, "metadata": meta}


def secret_volume(name: str, secret_name: str, keys: Sequence[str] | None = None, mode: int | None = None) -> Manifest:
    """A volume holding a Secret's keys as files (only `keys` when given; `mode` for every file)."""
    source: Manifest = {"secretName": secret_name}
    if keys is not None:
        source["items"] = [{"key": key, "path": key} for key in keys]
    if mode is not None:
        source["defaultMode"] = mode
    return {"name": name, "secret": source}


def memory_volume(name: str, size: str) -> Manifest:
    """A volume in the pod's memory, gone with the pod (never on a disk)."""
    return {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": size}}


def pvc_volume(name: str, claim: str) -> Manifest:
    """A volume backed by a PersistentVolumeClaim."""
    return {"name": name, "persistentVolumeClaim": {"claimName": claim}}


def build_storage_class(name: str, provisioner: str, binding_mode: str) -> Manifest:
    """A StorageClass."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": metadata(name),
        "provisioner": provisioner,
        "volumeBindingMode": binding_mode,
    }


def build_persistent_volume(name: str, capacity: str, access_mode: str, source: Manifest, **extra: Any) -> Manifest:
    """A PersistentVolume (Retain) with a volume source such as {'nfs': ...} or {'local': ...}."""
    spec: Manifest = {
        "capacity": {"storage": capacity},
        "volumeMode": "Filesystem",
        "accessModes": [access_mode],
        "persistentVolumeReclaimPolicy": "Retain",
        **extra,
        **source,
    }
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": metadata(name), "spec": spec}


def build_pvc(name: str, size: str, access_mode: str, storage_class: str, volume_name: str | None = None) -> Manifest:
    """A PersistentVolumeClaim of a storage class ("" binds only to PVs without a class)."""
    spec: Manifest = {
        "accessModes": [access_mode],
        "resources": {"requests": {"storage": size}},
        "storageClassName": storage_class,
    }
    if volume_name is not None:
        spec["volumeName"] = volume_name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata(name), "spec": spec}
