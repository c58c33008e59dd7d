"""Validated, frozen inputs. Every check happens here, before anything is written."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from . import cli, names
from .accounts import KmsFlavour, is_address
from .errors import InputError, UsageError
from .keystore import check_password
from .ports import (
    LOCAL_LAYOUT,
    MULTI_LAYOUT,
    NODE_PORT_RANGE,
    PORT_RANGE,
    Layout,
    Slot,
    external_port,
    highest_port,
    slots_in_use,
)
from .reading import read_bounded
from .syncthing import parse_device_id

SERVICE_NAMES = ("network", "consensus", "executor", "storage", "controller", "kms")
SERVICE_FIELDS = ("name", "docker_image", "cmd")
KMS_IMAGES = {"kms_sm": KmsFlavour.SM, "kms_eth": KmsFlavour.ETH}
# What the readers of our numbers accept: controller v5.0.0 reads block_delay_number as a u32 and the
# genesis timestamp as a u64 from a TOML integer (an i64), so the timestamp's limit is the smaller one.
BLOCK_DELAY_MAX = 2**32 - 1
TIMESTAMP_MAX = 2**63 - 1
TIMESTAMP_SECONDS_BELOW = 10**11  # in milliseconds that is 1973-03-03: a smaller value is surely seconds
PORT_MAX = PORT_RANGE[-1]
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
        data = tomllib.loads(read_bounded(path, SERVICE_CONFIG_MAX_BYTES, "service config").decode("utf-8"))
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
    return parse_service_config(data, where)


def parse_service_config(data: dict[str, object], where: str) -> ServiceConfig:
    """Check the parsed TOML of a service config."""
    entries = data.get("services")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{where} has no [[services]] entries; list the six services {', '.join(SERVICE_NAMES)}")
    found: dict[str, Service] = {}
    for number, entry in enumerate(entries):
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
    resources = parse_resources(data.get("resources"), where)
    return ServiceConfig(tuple(found[name] for name in SERVICE_NAMES), flavour, kind, resources)


def check_timestamp(timestamp_ms: int | None) -> int | None:
    """A genesis timestamp in milliseconds; a value that looks like seconds is refused with a hint."""
    if timestamp_ms is not None and timestamp_ms < TIMESTAMP_SECONDS_BELOW:
        raise UsageError(
            f"--timestamp {timestamp_ms} is before 1973 when read as milliseconds, as it is; it looks like "
            f"seconds: give milliseconds since the epoch (seconds times 1000, for example {timestamp_ms * 1000})"
        )
    return timestamp_ms


def check_chain_name(chain: str, node_count: int) -> str:
    """The chain name makes a folder and every object name: all must be valid DNS labels."""
    # A name too long for a label still gets the length message below, which names the limit.
    if len(chain) <= names.DNS_LABEL_MAX and not names.is_dns_label(chain):
        raise UsageError(
            f"chain name {chain!r} is not valid: use lowercase letters, digits and '-', starting with a letter "
            f"and ending with a letter or digit (for example {names.suggest_dns_name(chain)!r})"
        )
    if names.ends_like_a_node(chain):
        head, _, digits = chain.rpartition("-")
        raise UsageError(
            f"chain name {chain!r} ends in '-<digits>', the way node names do ({chain!r} is node {digits} of "
            f"chain {head!r}); drop that '-', e.g. {head + digits!r}"
        )
    longest = max(names.object_names(chain, node_count - 1), key=len)
    if len(longest) > names.DNS_LABEL_MAX:
        room = len(chain) - (len(longest) - names.DNS_LABEL_MAX)
        raise UsageError(
            f"chain name {chain!r} is too long: object name {longest!r} would exceed {names.DNS_LABEL_MAX} "
            f"characters; use a chain name of at most {room} characters"
        )
    return chain


def check_namespace(namespace: str | None) -> str | None:
    """A namespace name: a DNS-1123 label (lowercase letters, digits, '-'; at most 63)."""
    if namespace is not None and (
        len(namespace) > names.DNS_LABEL_MAX or "." in namespace or not names.is_dns_subdomain(namespace)
    ):
        raise UsageError(
            f"--namespace {namespace!r} is not a valid namespace name: use at most 63 lowercase letters, digits "
            f"and '-', starting and ending with a letter or digit (for example {names.suggest_dns_name(namespace)!r})"
        )
    return namespace


def check_pvc_name(pvc: str, flag: str = "--pvc_name") -> str:
    """A PersistentVolumeClaim name (DNS subdomain)."""
    if len(pvc) > names.DNS_SUBDOMAIN_MAX:
        raise UsageError(
            f"{flag} {pvc[:20]!r}... is {len(pvc)} characters long; a Kubernetes name has at most "
            f"{names.DNS_SUBDOMAIN_MAX}"
        )
    if not names.is_dns_subdomain(pvc):
        raise UsageError(
            f"{flag} {pvc!r} is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.' "
            f"(for example {names.suggest_dns_name(pvc)!r})"
        )
    return pvc


def parse_port_range(text: str) -> range:
    """`MIN-MAX` (inclusive, 1 <= MIN <= MAX <= 65535), as the API server's --service-node-port-range."""
    low, sep, high = text.partition("-")
    low, high = low.strip(" "), high.strip(" ")
    if (
        not sep
        or not cli.ASCII_DIGITS.fullmatch(low)
        or not cli.ASCII_DIGITS.fullmatch(high)
        or len(low) > 5
        or len(high) > 5
        or not 1 <= int(low) <= int(high) <= PORT_MAX
    ):
        raise UsageError(f"--node_port_range {text!r} is not MIN-MAX within 1-{PORT_MAX} (for example 30000-32767)")
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
                    f"NodePort {port} ({slot.port_name} of node{index}) is outside {low}-{high}; "
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
    namespace: str | None = None

    def __repr__(self) -> str:
        return f"LocalClusterSpec(chain_name={self.chain_name!r}, peers_count={self.peers_count})"

    @property
    def used_slots(self) -> tuple[Slot, ...]:
        """The NodePorts this chain actually exposes (the others stay reserved)."""
        return tuple(
            slots_in_use(
                LOCAL_LAYOUT,
                monitor=self.need_monitor,
                chaincode=self.services.executor_kind.is_chaincode,
                debug=self.need_debug,
            )
        )


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
    namespace: str | None = None,
) -> LocalClusterSpec:
    """Check every local_cluster input; raise on the first problem."""
    check_chain_name(chain_name, peers_count)
    check_namespace(namespace)
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
        namespace=namespace,
    )
    check_node_ports(LOCAL_LAYOUT, node_port, peers_count, spec.used_slots, parse_port_range(node_port_range))
    return spec


DEFAULT_NODE_PORT_RANGE = f"{NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[-1]}"


def check_host(host: str, flag: str) -> str:
    """An IP address (IPv6 in its short form) or a DNS name (lowercase): the form compared and written."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            raise UsageError(f"{flag} {host!r} has a zone (%...), which other hosts cannot use; drop it")
        return address.compressed
    name = host.lower()
    if len(name) > names.DNS_SUBDOMAIN_MAX:
        raise UsageError(
            f"{flag} {host[:20]!r}... is {len(host)} characters long; a DNS name has at most {names.DNS_SUBDOMAIN_MAX}"
        )
    last_label = name.rpartition(".")[2]
    if last_label.isascii() and last_label.isdigit():
        raise UsageError(
            f"{flag} {host!r} is not an IPv4 address (four numbers 0-255 without leading zeros), "
            "and a name cannot end in a number"
        )
    if not host.isascii() or not names.is_dns_subdomain(name):  # "K" (Kelvin sign) lowercases to "k"
        raise UsageError(f"{flag} {host!r} is neither an IP address nor a DNS name")
    return name


def check_address(text: str, flag: str) -> str:
    """An account address, `0x` + 40 hex digits; returned lowercase as the kms prints it."""
    if not is_address(text):
        raise UsageError(f"{flag} {text!r} is not an address: expected 0x followed by 40 hex digits")
    return "0x" + text[2:].lower()


def check_same_length(lists: Mapping[str, Sequence[str]]) -> int:
    """Every list has one entry per node: name every list whose length differs, in one message."""
    lengths = {flag: len(items) for flag, items in lists.items()}
    common, _ = Counter(lengths.values()).most_common(1)[0]
    odd = [f"{flag} has {length}" for flag, length in lengths.items() if length != common]
    if odd:
        raise UsageError(
            f"every list needs one entry per node, but {', '.join(odd)} while the others have {common}; "
            "give each list in the same node order"
        )
    return common


def _no_duplicates(items: Sequence[str], flag: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise UsageError(f"{flag} lists {item} twice; every node needs its own")
        seen.add(item)


@dataclass(frozen=True)
class MultiNode:
    """One node of a multi-cluster chain: who it is, where it runs, how it is reached."""

    index: int
    authority: str
    host: str
    lb_token: str
    device_id: str
    kms_password: str
    base_port: int
    pvc_name: str

    def __repr__(self) -> str:
        return f"MultiNode(index={self.index}, authority={self.authority}, host={self.host})"


@dataclass(frozen=True)
class MultiClusterSpec:
    """Everything multi_cluster needs, checked."""

    chain_name: str
    block_delay_number: int
    services: ServiceConfig
    need_monitor: bool
    need_debug: bool
    timestamp_ms: int | None
    super_admin: str
    nodes: tuple[MultiNode, ...]
    state_db_user: str
    state_db_password: str
    enable_tls: bool
    accounts_dir: Path
    syncthing_dir: Path
    namespace: str | None = None

    def __repr__(self) -> str:
        return f"MultiClusterSpec(chain_name={self.chain_name!r}, nodes={len(self.nodes)})"


def build_multi_spec(
    *,
    chain_name: str,
    block_delay_number: int,
    service_config: Path,
    need_monitor: bool,
    need_debug: bool,
    timestamp_ms: int | None,
    super_admin: str,
    authorities: Sequence[str],
    nodes: Sequence[str],
    lbs_tokens: Sequence[str],
    sync_device_ids: Sequence[str],
    kms_passwords: Sequence[str],
    node_ports: Sequence[str],
    pvc_names: Sequence[str],
    state_db_user: str,
    state_db_password: str,
    enable_tls: bool,
    accounts_dir: Path,
    syncthing_dir: Path,
    namespace: str | None = None,
) -> MultiClusterSpec:
    """Check every multi_cluster input; raise on the first problem."""
    count = check_same_length(
        {
            "--authorities": authorities,
            "--nodes": nodes,
            "--lbs_tokens": lbs_tokens,
            "--sync_device_ids": sync_device_ids,
            "--kms_passwords": kms_passwords,
            "--node_ports": node_ports,
            "--pvc_names": pvc_names,
        }
    )
    check_chain_name(chain_name, count)
    check_namespace(namespace)
    admin = check_address(super_admin, "--super_admin")
    addresses = [check_address(item, f"--authorities entry {number}") for number, item in enumerate(authorities)]
    _no_duplicates(addresses, "--authorities")
    device_ids = []
    for number, item in enumerate(sync_device_ids):
        try:
            device_ids.append(parse_device_id(item))
        except ValueError as exc:
            raise UsageError(f"--sync_device_ids entry {number}: {exc}") from None
    _no_duplicates(device_ids, "--sync_device_ids")
    hosts = [check_host(item, f"--nodes entry {number}") for number, item in enumerate(nodes)]
    bases = [_check_base_port(item, number) for number, item in enumerate(node_ports)]
    _check_lb_ranges(hosts, bases)
    _no_duplicates(lbs_tokens, "--lbs_tokens")
    for number, password in enumerate(kms_passwords):
        check_password(password, f"--kms_passwords entry {number}", in_list=True)
    check_timestamp(timestamp_ms)
    claims = [check_pvc_name(item, f"--pvc_names entry {number}") for number, item in enumerate(pvc_names)]
    services = load_service_config(service_config)
    if services.executor_kind is ExecutorKind.CHAINCODE_EXT:
        check_password(state_db_user, "--state_db_user")
        check_password(state_db_password, "--state_db_password")
    return MultiClusterSpec(
        chain_name=chain_name,
        block_delay_number=block_delay_number,
        services=services,
        need_monitor=need_monitor,
        need_debug=need_debug,
        timestamp_ms=timestamp_ms,
        super_admin=admin,
        nodes=tuple(
            MultiNode(
                index,
                addresses[index],
                hosts[index],
                lbs_tokens[index],
                device_ids[index],
                kms_passwords[index],
                bases[index],
                claims[index],
            )
            for index in range(count)
        ),
        state_db_user=state_db_user,
        state_db_password=state_db_password,
        enable_tls=enable_tls,
        accounts_dir=accounts_dir,
        syncthing_dir=syncthing_dir,
        namespace=namespace,
    )


def _check_base_port(text: str, number: int) -> int:
    span = MULTI_LAYOUT.span - 1
    base = int(text) if cli.ASCII_DIGITS.fullmatch(text) and len(text) <= 5 else 0
    if base not in PORT_RANGE or base + span not in PORT_RANGE:
        raise UsageError(
            f"--node_ports entry {number} ({text!r}) must be a whole number from 1 to {PORT_RANGE[-1] - span}: "
            f"each node reserves {MULTI_LAYOUT.span} consecutive ports from it"
        )
    return base


def _check_lb_ranges(hosts: Sequence[str], bases: Sequence[int]) -> None:
    """Two nodes behind one address need LoadBalancer port ranges that do not overlap."""
    span = MULTI_LAYOUT.span
    for first in range(len(hosts)):
        for second in range(first + 1, len(hosts)):
            if hosts[first].lower() == hosts[second].lower() and abs(bases[first] - bases[second]) < span:
                low, high = sorted((bases[first], bases[second]))
                raise UsageError(
                    f"nodes {first} and {second} share the address {hosts[first]} and their LoadBalancer ports "
                    f"{low}-{low + span - 1} and {high}-{high + span - 1} overlap; give them --node_ports entries "
                    f"at least {span} apart"
                )
