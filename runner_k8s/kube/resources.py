"""A container's CPU and memory requests and limits, and the [resources] section of a service config."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from runner_k8s.errors import InputError

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


def parse_resources(data: object, where: str, container_names: Sequence[str]) -> dict[str, Resources]:
    """The optional [resources] section: `default` and per-container tables of the four quantities."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: [resources] must be a table of tables such as [resources.default]")
    tables = {"default": data.get("default", {})} | {key: value for key, value in data.items() if key != "default"}
    base = Resources()
    parsed: dict[str, Resources] = {}
    for container, table in tables.items():
        if container != "default" and container not in container_names:
            known = ", ".join(container_names)
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
