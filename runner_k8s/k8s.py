"""Generic Kubernetes object builders: plain dicts, nothing CITA-specific."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

Manifest = dict[str, Any]
TCP = "TCP"


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


def build_secret(name: str, data: Mapping[str, bytes]) -> Manifest:
    """An Opaque Secret; values are base64-encoded here."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(name),
        "type": "Opaque",
        "data": {key: base64.b64encode(value).decode("ascii") for key, value in data.items()},
    }


def service_port(name: str, port: int, target: int, node_port: int | None = None) -> Manifest:
    """One port of a Service."""
    entry: Manifest = {"name": name, "port": port, "targetPort": target, "protocol": TCP}
    if node_port is not None:
        entry["nodePort"] = node_port
    return entry


def build_service(
    name: str,
    service_type: str,
    ports: Sequence[Manifest],
    selector: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """A Service of the given type (ClusterIP, NodePort, LoadBalancer)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, annotations=annotations),
        "spec": {"type": service_type, "ports": list(ports), "selector": dict(selector)},
    }


def container_port(name: str, port: int) -> Manifest:
    """One port of a container."""
    return {"name": name, "containerPort": port, "protocol": TCP}


def volume_mount(name: str, path: str, sub_path: str | None = None, read_only: bool = False) -> Manifest:
    """A volume mount, optionally of a sub-path, optionally read-only."""
    mount: Manifest = {"name": name, "mountPath": path}
    if sub_path is not None:
        mount["subPath"] = sub_path
    if read_only:
        mount["readOnly"] = True
    return mount


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
    env: Mapping[str, str] | None = None,
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
        container["env"] = [{"name": key, "value": value} for key, value in env.items()]
    container["ports"] = list(ports)
    container["volumeMounts"] = list(mounts)
    return container


def build_deployment(
    name: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    containers: Sequence[Manifest],
    volumes: Sequence[Manifest],
) -> Manifest:
    """A one-replica apps/v1 Deployment with the Recreate strategy and a shared process namespace.

    Recreate: the old pod stops before the new one starts, so two pods never share one data folder.
    """
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, labels),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": dict(selector)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"shareProcessNamespace": True, "containers": list(containers), "volumes": list(volumes)},
            },
        },
    }


def secret_volume(name: str, secret_name: str) -> Manifest:
    """A volume holding a Secret's keys as files."""
    return {"name": name, "secret": {"secretName": secret_name}}


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


def render_yaml(documents: Iterable[Manifest]) -> bytes:
    """A multi-document YAML file, each document starting with `---`, keys in builder order."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: same output, faster
    text = yaml.dump_all(
        list(documents),
        Dumper=dumper,
        sort_keys=False,
        explicit_start=True,
        default_flow_style=False,
        width=2**16,
        allow_unicode=True,
    )
    return text.encode("utf-8")
