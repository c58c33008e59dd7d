"""service-config.toml: the six services, their images and what the images imply, and [resources]."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from runner_k8s.errors import InputError
from runner_k8s.keys.accounts import KmsFlavour
from runner_k8s.reading import read_bounded

SERVICE_NAMES = ("network", "consensus", "executor", "storage", "controller", "kms")
SERVICE_FIELDS = ("name", "docker_image", "cmd")
KMS_IMAGES = {"kms_sm": KmsFlavour.SM, "kms_eth": KmsFlavour.ETH}
SERVICE_CONFIG_MAX_BYTES = 1 << 20


class ExecutorKind(Enum):
    """What the executor image is, which decides extra ports and containers."""

    PLAIN = "plain"
    CHAINCODE = "chaincode"
    CHAINCODE_EXT = "chaincode_ext"

    @property
    def is_chaincode(self) -> bool:
        """Both chaincode executors expose the chaincode and eventhub ports."""
        return self is not ExecutorKind.PLAIN


# The image reference grammar of container registries (distribution's reference package):
# [host[:port]/]path[:tag][@digest], the path lowercase components joined by "/".
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(
    rf"(?:{_HOST}/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>\w[\w.-]{{0,127}}))?(?:@(?P<digest>{_DIGEST}))?",
    re.ASCII,
)


def _reference(image: str) -> re.Match[str]:
    match = IMAGE_REFERENCE.fullmatch(image)
    if match is None:
        raise ValueError(f"{image!r} is not an image reference")
    return match


def image_repository(image: str) -> str:
    """`registry/org/name:tag@digest` -> `name`."""
    return _reference(image)["path"].rsplit("/", 1)[-1]


def image_tag(image: str) -> str | None:
    """The tag of an image reference, or None when it has none."""
    return _reference(image)["tag"]


def pull_policy(image: str) -> str:
    """`Always` for an untagged or :latest image (it moves), `IfNotPresent` for a pinned one (tag or digest)."""
    reference = _reference(image)
    if reference["digest"] is not None:
        return "IfNotPresent"
    return "Always" if reference["tag"] in (None, "latest") else "IfNotPresent"


@dataclass(frozen=True)
class Service:
    """One micro-service: its name, image and shell command."""

    name: str
    image: str
    cmd: str


# Every container a node's pod may have: the six services and the sidecars (manifests.py).
CONTAINER_NAMES = (*SERVICE_NAMES, "syncthing", "debug", "couchdb", "monitor-process", "monitor-citacloud")
RESOURCE_FIELDS = ("cpu_request", "memory_request", "cpu_limit", "memory_limit")
CPU_QUANTITY = re.compile(r"(?P<number>[0-9]+(\.[0-9]+)?)(?P<milli>m?)")
MEMORY_QUANTITY = re.compile(r"(?P<number>[0-9]+)(?P<unit>Ki|Mi|Gi|Ti|k|M|G|T)?")
MEMORY_UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
MEMORY_UNITS |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


@dataclass(frozen=True)
class Resources:
    """A container's CPU and memory requests and limits (Kubernetes quantities)."""

    cpu_request: str = "25m"
    memory_request: str = "32Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"


def cpu_millicores(text: str) -> float | None:
    """A CPU quantity (`250m`, `0.5`, `2`) in millicores; None when it is not one."""
    match = CPU_QUANTITY.fullmatch(text)
    if match is None:
        return None
    number = float(match["number"])
    return number if match["milli"] else number * 1000


def memory_bytes(text: str) -> int | None:
    """A memory quantity (`64Mi`, `1Gi`, `500M`, `1048576`) in bytes; None when it is not one."""
    match = MEMORY_QUANTITY.fullmatch(text)
    return None if match is None else int(match["number"]) * MEMORY_UNITS[match["unit"]]


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


def parse_resources(data: object, where: str) -> dict[str, Resources]:
    """The optional [resources] section: `default` and per-container tables of the four quantities."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: [resources] must be a table of tables such as [resources.default]")
    tables = {"default": data.get("default", {})} | {key: value for key, value in data.items() if key != "default"}
    base = Resources()
    parsed: dict[str, Resources] = {}
    for container, table in tables.items():
        if container != "default" and container not in CONTAINER_NAMES:
            known = ", ".join(CONTAINER_NAMES)
            raise InputError(f"{where}: [resources.{container}] names no container; use default or one of {known}")
        if not isinstance(table, dict):
            raise InputError(f"{where}: resources.{container} must be a table of {', '.join(RESOURCE_FIELDS)}")
        for key, value in table.items():
            if key not in RESOURCE_FIELDS:
                raise InputError(f"{where}: resources.{container}.{key} is unknown; use {', '.join(RESOURCE_FIELDS)}")
            parse = cpu_millicores if key.startswith("cpu") else memory_bytes
            if not isinstance(value, str) or parse(value) is None:
                example = '"250m" or "1"' if key.startswith("cpu") else '"64Mi" or "1Gi"'
                raise InputError(f"{where}: resources.{container}.{key} must be a quantity string such as {example}")
        resources = replace(base if container == "default" else parsed["default"], **table)
        for kind, parse in (("cpu", cpu_millicores), ("memory", memory_bytes)):
            request, limit = getattr(resources, f"{kind}_request"), getattr(resources, f"{kind}_limit")
            if parse(request) > parse(limit):  # type: ignore[operator]
                raise InputError(
                    f"{where}: resources.{container}: {kind}_request {request} exceeds {kind}_limit {limit}; "
                    "Kubernetes refuses a request above its limit"
                )
        parsed[container] = resources
    return parsed


def load_service_config(path: Path) -> ServiceConfig:
    """Read and check service-config.toml: exactly the six services, each once, all fields strings."""
    where = str(path)
    try:
        text = read_bounded(path, SERVICE_CONFIG_MAX_BYTES, "service config").decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise InputError(f"service config {where} does not exist; pass --service_config with the right path") from None
    except OSError as exc:
        raise InputError(f"cannot read service config {where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"service config {where} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"service config {where} is not valid TOML: {exc}; fix that line") from None
    except RecursionError:
        raise InputError(f"service config {where} nests tables or arrays too deeply; is it the right file?") from None
    headers = [number + 1 for number, line in enumerate(text.splitlines()) if SERVICES_HEADER.match(line)]
    return parse_service_config(data, where, headers)


SERVICES_HEADER = re.compile(r"\s*\[\[\s*services\s*\]\]")


def parse_service_config(data: dict[str, object], where: str, headers: Sequence[int] = ()) -> ServiceConfig:
    """Check the parsed TOML of a service config; `headers` are the lines of its `[[services]]` headers."""
    entries = data.get("services")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{where} has no [[services]] entries; list the six services {', '.join(SERVICE_NAMES)}")
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
    resources = parse_resources(data.get("resources"), where)
    return ServiceConfig(tuple(found[name] for name in SERVICE_NAMES), flavour, kind, resources)
