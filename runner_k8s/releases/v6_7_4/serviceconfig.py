"""service-config.v6.7.4.toml: which image runs each v6.7.4 service, and the containers' [resources].

v6.7.4 has no kms and no syncthing; the commands are fixed here (they name the files this tool
mounts), so an entry has only a name and an image. Both consensus engines are listed; `--consensus`
picks the one a chain runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner_k8s.errors import InputError
from runner_k8s.kube.images import IMAGE_REFERENCE, image_repository
from runner_k8s.kube.resources import Resources, parse_resources
from runner_k8s.reading import load_service_toml
from runner_k8s.releases.v6_7_4.accounts import Consensus

RELEASE = "v6.7.4"
SERVICE_CONFIG_NAME = "service-config.v6.7.4.toml"
SHIPPED = Path(__file__).resolve().parent / SERVICE_CONFIG_NAME


# Service entry -> the program the image must be (the repository name of the image reference).
PROGRAMS = {
    "network": "network_zenoh",
    "consensus_overlord": "consensus_overlord",
    "consensus_raft": "consensus_raft",
    "executor": "executor_evm",
    "storage": "storage_opendal",
    "controller": "controller_hsm",
}
SERVICE_NAMES = tuple(PROGRAMS)
# The containers of a node's pod: the five services (one consensus) and the optional debug sidecar.
CONTAINER_NAMES = ("network", "consensus", "executor", "storage", "controller", "debug")
ENTRY_FIELDS = ("name", "docker_image")
V5_ONLY_SERVICES = ("kms", "consensus")


@dataclass(frozen=True)
class ServiceImages:
    """The image of each v6.7.4 service entry, and the containers' requests and limits."""

    images: Mapping[str, str]
    resources: Mapping[str, Resources] = dataclasses.field(default_factory=dict)

    def image_of(self, container: str, consensus: Consensus) -> str:
        """The image a container of the pod runs."""
        return self.images[f"consensus_{consensus.value}" if container == "consensus" else container]

    def resources_of(self, container: str) -> Resources:
        """The requests and limits of a container: its own table, else `default`, else the built-in ones."""
        return self.resources.get(container) or self.resources.get("default") or Resources()


def default_service_config() -> Path:
    """service-config.v6.7.4.toml in the current directory, else the one shipped with the tool."""
    local = Path(SERVICE_CONFIG_NAME)
    return local if local.exists() else SHIPPED


def load_service_images(path: Path) -> ServiceImages:
    """Read and check a v6.7.4 service config."""
    return parse_service_images(load_service_toml(path), str(path))


def parse_service_images(data: Mapping[str, object], where: str) -> ServiceImages:
    """Check the parsed TOML: each of the six entries once, a name and an image reference each."""
    entries = data.get("services")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{where} has no [[services]] entries; list {', '.join(SERVICE_NAMES)}")
    names = [entry.get("name") for entry in entries if isinstance(entry, dict)]
    if any(name in V5_ONLY_SERVICES for name in names):
        raise InputError(
            f"{where} is a v5.0.0 service config (it lists kms and consensus); for --release {RELEASE} pass "
            f"--service_config {SERVICE_CONFIG_NAME} or leave the flag out"
        )
    found: dict[str, str] = {}
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InputError(f"{where}: services entry {number} is not a table; write it as [[services]]")
        for field in ENTRY_FIELDS:
            value = entry.get(field)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{where}: services entry {number} needs a non-empty string {field!r}")
        extra = sorted(set(entry) - set(ENTRY_FIELDS))
        if extra:
            raise InputError(
                f"{where}: services entry {number} has {', '.join(extra)}; a {RELEASE} entry has only name and "
                "docker_image (the commands name the files this tool mounts, so they are fixed)"
            )
        name, image = entry["name"], entry["docker_image"].strip()
        if name not in PROGRAMS:
            raise InputError(
                f"{where}: unknown service {name!r}; the {RELEASE} services are {', '.join(SERVICE_NAMES)}"
            )
        if name in found:
            raise InputError(f"{where}: service {name!r} is listed twice; keep one entry")
        if IMAGE_REFERENCE.fullmatch(image) is None:
            raise InputError(
                f"{where}: services entry {number} has docker_image {image!r}, which is not an image reference; "
                f"write [registry[:port]/]name[:tag][@digest], e.g. citacloud/{PROGRAMS[name]}:{RELEASE}"
            )
        if image_repository(image) != PROGRAMS[name]:
            raise InputError(
                f"{where}: service {name!r} runs {image!r}, but {RELEASE}'s {name} is the image "
                f"{PROGRAMS[name]}; name an image of that repository, e.g. citacloud/{PROGRAMS[name]}:{RELEASE}"
            )
        found[name] = image
    missing = [name for name in SERVICE_NAMES if name not in found]
    if missing:
        raise InputError(f"{where}: missing service(s) {', '.join(missing)}; list all six entries")
    resources = parse_resources(data.get("resources"), where, CONTAINER_NAMES)
    return ServiceImages({name: found[name] for name in SERVICE_NAMES}, resources)
