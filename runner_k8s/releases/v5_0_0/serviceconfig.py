"""service-config.toml: the six services, their images and what the images imply, and [resources]."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from runner_k8s.errors import InputError
from runner_k8s.keys.accounts import KmsFlavour
from runner_k8s.kube.images import IMAGE_REFERENCE, image_repository
from runner_k8s.kube.resources import Resources, parse_resources
from runner_k8s.reading import load_service_text

SERVICE_NAMES = ("network", "consensus", "executor", "storage", "controller", "kms")
SERVICE_FIELDS = ("name", "docker_image", "cmd")
V6_ONLY_SERVICES = ("consensus_overlord", "consensus_raft")
KMS_IMAGES = {"kms_sm": KmsFlavour.SM, "kms_eth": KmsFlavour.ETH}


class ExecutorKind(Enum):
    """What the executor image is, which decides extra ports and containers."""

    PLAIN = "plain"
    CHAINCODE = "chaincode"
    CHAINCODE_EXT = "chaincode_ext"

    @property
    def is_chaincode(self) -> bool:
        """Both chaincode executors expose the chaincode and eventhub ports."""
        return self is not ExecutorKind.PLAIN


@dataclass(frozen=True)
class Service:
    """One micro-service: its name, image and shell command."""

    name: str
    image: str
    cmd: str


# Every container a node's pod may have: the six services and the sidecars (manifests.py).
CONTAINER_NAMES = (*SERVICE_NAMES, "syncthing", "debug", "couchdb", "monitor-process", "monitor-citacloud")


@dataclass(frozen=True)
class ServiceConfig:
    """The six services in canonical order, with what their images imply."""

    services: tuple[Service, ...]
    kms_flavour: KmsFlavour
    executor_kind: ExecutorKind
    resources: Mapping[str, Resources] = dataclasses.field(default_factory=dict)

    def get(self, name: str) -> Service:
        """The service called `name`."""
        return next(service for service in self.services if service.name == name)

    def resources_of(self, container: str) -> Resources:
        """The requests and limits of a container: its own table, else `default`, else the built-in ones."""
        return self.resources.get(container) or self.resources.get("default") or Resources()


def load_service_config(path: Path) -> ServiceConfig:
    """Read and check service-config.toml: exactly the six services, each once, all fields strings."""
    text, data = load_service_text(path)
    headers = [number + 1 for number, line in enumerate(text.splitlines()) if SERVICES_HEADER.match(line)]
    return parse_service_config(data, str(path), headers)


SERVICES_HEADER = re.compile(r"\s*\[\[\s*services\s*\]\]")


def parse_service_config(data: dict[str, object], where: str, headers: Sequence[int] = ()) -> ServiceConfig:
    """Check the parsed TOML of a service config; `headers` are the lines of its `[[services]]` headers."""
    entries = data.get("services")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{where} has no [[services]] entries; list the six services {', '.join(SERVICE_NAMES)}")
    if any(isinstance(entry, dict) and entry.get("name") in V6_ONLY_SERVICES for entry in entries):
        raise InputError(
            f"{where} is a v6.7.4 service config (it lists consensus_overlord and consensus_raft); add "
            "--release v6.7.4, or pass a v5.0.0 service config such as the shipped service-config.toml"
        )
    found: dict[str, Service] = {}
    for number, entry in enumerate(entries):
        named = f"services entry {number}" + (f" (at line {headers[number]})" if number < len(headers) else "")
        if not isinstance(entry, dict):
            raise InputError(f"{where}: {named} is not a table; write it as [[services]]")
        for field in SERVICE_FIELDS:
            value = entry.get(field)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{where}: {named} needs a non-empty string {field!r}")
        name = entry["name"]
        image = entry["docker_image"].strip()
        if IMAGE_REFERENCE.fullmatch(image) is None:
            raise InputError(
                f"{where}: {named} has docker_image {image!r}, which is not an image reference; "
                "write [registry[:port]/]name[:tag][@digest] with a lowercase name, e.g. citacloud/controller:v5.0.0"
            )
        if name not in SERVICE_NAMES:
            raise InputError(f"{where}: unknown service {name!r}; the services are {', '.join(SERVICE_NAMES)}")
        if name in found:
            raise InputError(
                f"{where}: service {name!r} is listed twice; choose one implementation and remove the other"
            )
        found[name] = Service(name, image, entry["cmd"].strip())
    missing = [name for name in SERVICE_NAMES if name not in found]
    if missing:
        raise InputError(f"{where}: missing service(s) {', '.join(missing)}; every chain needs all six services")
    kms_image = found["kms"].image
    flavour = KMS_IMAGES.get(image_repository(kms_image))
    if flavour is None:
        raise InputError(
            f"{where}: kms image {kms_image!r} is neither kms_sm nor kms_eth; use citacloud/kms_sm or citacloud/kms_eth"
        )
    executor_repo = image_repository(found["executor"].image)
    if "chaincode_ext" in executor_repo:
        kind = ExecutorKind.CHAINCODE_EXT
    elif "chaincode" in executor_repo:
        kind = ExecutorKind.CHAINCODE
    else:
        kind = ExecutorKind.PLAIN
    resources = parse_resources(data.get("resources"), where, CONTAINER_NAMES)
    return ServiceConfig(tuple(found[name] for name in SERVICE_NAMES), flavour, kind, resources)
