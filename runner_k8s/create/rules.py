"""The rules for each kind of value given on the command line: names, hosts, addresses, ports, times."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from runner_k8s import flags, names
from runner_k8s.errors import UsageError
from runner_k8s.keys.accounts import is_address
from runner_k8s.ports import MULTI_LAYOUT, NODE_PORT_RANGE, PORT_RANGE, Layout, Slot, external_port, highest_port

# What the readers of our numbers accept: controller v5.0.0 reads block_delay_number as a u32 and the
# genesis timestamp as a u64 from a TOML integer (an i64), so the timestamp's limit is the smaller one.
BLOCK_DELAY_MAX = 2**32 - 1
YAML_EXTENSIONS = ("yaml", "yml")
# consensus_raft v5.0.0 sleeps block_interval seconds between proposals: 0 is a busy loop, and a node
# never picks up a later change (README: Known limits). The upper edge is the longest the live tests boot.
BLOCK_INTERVAL_DEFAULT = 6
BLOCK_INTERVAL_RANGE = range(1, 61)
TIMESTAMP_MAX = 2**63 - 1
TIMESTAMP_SECONDS_BELOW = 10**11  # in milliseconds that is 1973-03-03: a smaller value is surely seconds
PORT_MAX = PORT_RANGE[-1]
DEFAULT_NODE_PORT_RANGE = f"{NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[-1]}"


def block_delay_problem(value: int) -> str | None:
    """Why a block delay number gives a dead chain on v5.0.0, or None (only 0 runs)."""
    if value == 0:
        return None
    return (
        f"{value} gives a chain that never makes block 1 on CITA-Cloud v5.0.0 (its controller looks up the "
        f"state of block 1 - {value} - 1, which does not exist); use 0"
    )


def block_interval_problem(value: int) -> str | None:
    """Why a block interval is refused, or None."""
    low, high = BLOCK_INTERVAL_RANGE[0], BLOCK_INTERVAL_RANGE[-1]
    if value < low:
        return f"{value} makes consensus_raft v5.0.0 propose in a busy loop; use {low} to {high} seconds"
    if value > high:
        return f"{value} is longer than the {high} seconds this tool has booted a chain with; use {low} to {high}"
    return None


def check_block_numbers(block_delay_number: int, block_interval: int) -> None:
    """The two numbers of a chain's configs that v5.0.0 runs only within their range (README)."""
    for flag, problem in (
        ("--block_delay_number", block_delay_problem(block_delay_number)),
        ("--block_interval", block_interval_problem(block_interval)),
    ):
        if problem:
            raise UsageError(f"{flag} {problem}")


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
    stem, dot, extension = pvc.rpartition(".")
    if dot and extension in YAML_EXTENSIONS:
        raise UsageError(f"{flag} {pvc!r} names a file; give the claim's own name, {stem!r} (its file is {stem}.yaml)")
    return pvc


def check_input_dir(path: Path, flag: str, what: str) -> Path:
    """A folder the run reads from: it must exist (a typo must not read as 'nothing there')."""
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise UsageError(f"{flag} {path} {state}; give the folder {what}")
    return path


def parse_port_range(text: str) -> range:
    """`MIN-MAX` (inclusive, 1 <= MIN <= MAX <= 65535), as the API server's --service-node-port-range."""
    low, sep, high = text.partition("-")
    low, high = low.strip(" "), high.strip(" ")
    if (
        not sep
        or not flags.ASCII_DIGITS.fullmatch(low)
        or not flags.ASCII_DIGITS.fullmatch(high)
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


def no_duplicates(items: Sequence[str], flag: str) -> None:
    """No two entries of a list may be the same."""
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise UsageError(f"{flag} lists {item} twice; every node needs its own")
        seen.add(item)


def check_base_port(text: str, number: int | None) -> int:
    """A multi_cluster node's first LoadBalancer port: the node's whole range must be valid ports.

    `number` is its entry in --node_ports; None for add_node's --node_port.
    """
    span = MULTI_LAYOUT.span - 1
    base = int(text) if flags.ASCII_DIGITS.fullmatch(text) and len(text) <= 5 else 0
    if base not in PORT_RANGE or base + span not in PORT_RANGE:
        where = "--node_port" if number is None else f"--node_ports entry {number}"
        raise UsageError(
            f"{where} ({text!r}) must be a whole number from 1 to {PORT_RANGE[-1] - span}: "
            f"each node reserves {MULTI_LAYOUT.span} consecutive ports from it"
        )
    return base


def check_lb_ranges(
    hosts: Sequence[str],
    bases: Sequence[int],
    *,
    indices: Sequence[int] | None = None,
    fix: str = "give them --node_ports entries at least {span} apart",
) -> None:
    """Two nodes behind one address need LoadBalancer port ranges that do not overlap (`indices`: the nodes')."""
    span = MULTI_LAYOUT.span
    number = list(indices) if indices is not None else list(range(len(hosts)))
    for first in range(len(hosts)):
        for second in range(first + 1, len(hosts)):
            if hosts[first].lower() == hosts[second].lower() and abs(bases[first] - bases[second]) < span:
                low, high = sorted((bases[first], bases[second]))
                raise UsageError(
                    f"nodes {number[first]} and {number[second]} share the address {hosts[first]} and their "
                    f"LoadBalancer ports {low}-{low + span - 1} and {high}-{high + span - 1} overlap; "
                    + fix.format(span=span)
                )
