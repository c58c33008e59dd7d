"""Validated, frozen inputs. Every check happens here, before anything is written."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from . import names
from .accounts import KmsFlavour
from .errors import InputError, UsageError
from .ports import LOCAL_LAYOUT, NODE_PORT_RANGE, Layout, Slot, external_port, highest_port

SERVICE_NAMES = ("network", "consensus", "executor", "storage", "controller", "kms")
SERVICE_FIELDS = ("name", "docker_image", "cmd")
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


def image_repository(image: str) -> str:
    """`registry/org/name:tag@digest` -> `name`."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def image_tag(image: str) -> str | None:
    """The tag of an image reference, or None when it has none."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def pull_policy(image: str) -> str:
    """`Always` for an untagged or :latest image (it moves), `IfNotPresent` for a pinned one."""
    if "@" in image:
        return "IfNotPresent"
    return "Always" if image_tag(image) in (None, "latest") else "IfNotPresent"


@dataclass(frozen=True)
class Service:
    """One micro-service: its name, image and shell command."""

    name: str
    image: str
    cmd: str


@dataclass(frozen=True)
class ServiceConfig:
    """The six services in canonical order, with what their images imply."""

    services: tuple[Service, ...]
    kms_flavour: KmsFlavour
    executor_kind: ExecutorKind

    def get(self, name: str) -> Service:
        """The service called `name`."""
        return next(service for service in self.services if service.name == name)


def load_service_config(path: Path) -> ServiceConfig:
    """Read and check service-config.toml: exactly the six services, each once, all fields strings."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"service config {where} does not exist; pass --service_config with the right path") from None
    except OSError as exc:
        raise InputError(f"cannot read service config {where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"service config {where} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"service config {where} is not valid TOML: {exc}; fix that line") from None
    return parse_service_config(data, where)


def parse_service_config(data: dict[str, object], where: str) -> ServiceConfig:
    """Check the parsed TOML of a service config."""
    entries = data.get("services")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{where} has no [[services]] entries; list the six services {', '.join(SERVICE_NAMES)}")
    found: dict[str, Service] = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise InputError(f"{where}: services entry {number} is not a table; write it as [[services]]")
        for field in SERVICE_FIELDS:
            value = entry.get(field)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{where}: services entry {number} needs a non-empty string {field!r}")
        name = entry["name"]
        if name not in SERVICE_NAMES:
            raise InputError(f"{where}: unknown service {name!r}; the services are {', '.join(SERVICE_NAMES)}")
        if name in found:
            raise InputError(
                f"{where}: service {name!r} is listed twice; choose one implementation and remove the other"
            )
        found[name] = Service(name, entry["docker_image"].strip(), entry["cmd"].strip())
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
    return ServiceConfig(tuple(found[name] for name in SERVICE_NAMES), flavour, kind)


def check_password(password: str, what: str) -> str:
    """A kms password: non-empty, one line, no surrounding whitespace the kms would trim."""
    if not password:
        raise UsageError(f"{what} is empty; give a non-empty password")
    if password != password.strip() or "\n" in password or "\r" in password:
        raise UsageError(f"{what} has surrounding whitespace or a line break, which the kms would cut; remove it")
    return password


def check_chain_name(chain: str, node_count: int) -> str:
    """The chain name makes a folder and every object name: all must be valid DNS labels."""
    if not names.is_dns_label(chain):
        raise UsageError(
            f"chain name {chain!r} is not valid: use lowercase letters, digits and '-', starting with a letter "
            f"and ending with a letter or digit (for example {names.suggest_dns_name(chain)!r})"
        )
    longest = max(names.object_names(chain, node_count - 1), key=len)
    if len(longest) > names.DNS_LABEL_MAX:
        room = len(chain) - (len(longest) - names.DNS_LABEL_MAX)
        raise UsageError(
            f"chain name {chain!r} is too long: object name {longest!r} would exceed {names.DNS_LABEL_MAX} "
            f"characters; use a chain name of at most {room} characters"
        )
    return chain


def check_pvc_name(pvc: str, flag: str = "--pvc_name") -> str:
    """A PersistentVolumeClaim name (DNS subdomain)."""
    if not names.is_dns_subdomain(pvc):
        raise UsageError(
            f"{flag} {pvc!r} is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.' "
            f"(for example {names.suggest_dns_name(pvc)!r})"
        )
    return pvc


def parse_port_range(text: str) -> range:
    """`MIN-MAX` (inclusive), as the API server's --service-node-port-range."""
    low, sep, high = text.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit() or int(low) > int(high) or int(high) > 65535:
        raise UsageError(f"--node_port_range {text!r} is not MIN-MAX within 1-65535 (for example 30000-32767)")
    return range(int(low), int(high) + 1)


def check_node_ports(layout: Layout, base: int, node_count: int, used: Sequence[Slot], allowed: range) -> None:
    """Every NodePort the chain uses must fall in the cluster's NodePort range."""
    for index in range(node_count):
        for slot in used:
            port = external_port(layout, base, slot, index)
            if port not in allowed:
                span = highest_port(layout, 0, node_count)
                low, high = allowed[0], allowed[-1]
                if high - span < low:
                    raise UsageError(
                        f"{node_count} nodes need {span + 1} NodePorts, more than {low}-{high} holds; "
                        "use fewer nodes or widen --node_port_range to the cluster's --service-node-port-range"
                    )
                raise UsageError(
                    f"NodePort {port} ({slot.port_name} of node {index}) is outside {low}-{high}; "
                    f"use a --node_port between {low} and {high - span}"
                )


@dataclass(frozen=True)
class LocalClusterSpec:
    """Everything local_cluster needs, checked."""

    chain_name: str
    block_delay_number: int
    peers_count: int
    kms_password: str
    state_db_user: str
    state_db_password: str
    services: ServiceConfig
    node_port: int
    need_monitor: bool
    need_debug: bool
    pvc_name: str
    enable_tls: bool

    def __repr__(self) -> str:
        return f"LocalClusterSpec(chain_name={self.chain_name!r}, peers_count={self.peers_count})"

    @property
    def used_slots(self) -> tuple[Slot, ...]:
        """The NodePorts this chain actually exposes (the others stay reserved)."""
        slots = [Slot.RPC, Slot.CALL]
        if self.need_monitor:
            slots += [Slot.PROCESS, Slot.EXPORTER]
        if self.services.executor_kind.is_chaincode:
            slots += [Slot.CHAINCODE, Slot.EVENTHUB]
        return tuple(slots)


def build_local_spec(
    *,
    chain_name: str,
    block_delay_number: int,
    peers_count: int,
    kms_password: str,
    state_db_user: str,
    state_db_password: str,
    service_config: Path,
    node_port: int,
    node_port_range: str,
    need_monitor: bool,
    need_debug: bool,
    pvc_name: str,
    enable_tls: bool,
) -> LocalClusterSpec:
    """Check every local_cluster input; raise on the first problem."""
    check_chain_name(chain_name, peers_count)
    check_password(kms_password, "--kms_password")
    check_pvc_name(pvc_name)
    services = load_service_config(service_config)
    if services.executor_kind is ExecutorKind.CHAINCODE_EXT:
        check_password(state_db_user, "--state_db_user")
        check_password(state_db_password, "--state_db_password")
    spec = LocalClusterSpec(
        chain_name=chain_name,
        block_delay_number=block_delay_number,
        peers_count=peers_count,
        kms_password=kms_password,
        state_db_user=state_db_user,
        state_db_password=state_db_password,
        services=services,
        node_port=node_port,
        need_monitor=need_monitor,
        need_debug=need_debug,
        pvc_name=pvc_name,
        enable_tls=enable_tls,
    )
    check_node_ports(LOCAL_LAYOUT, node_port, peers_count, spec.used_slots, parse_port_range(node_port_range))
    return spec


DEFAULT_NODE_PORT_RANGE = f"{NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[-1]}"
