"""Live: every accepted value that changes what runs gives a chain that makes blocks (issue 15, part 1).

One chain per meaningful value of each flag and service-config choice: node counts at their edges,
TLS on and off, a namespace, the NodePort base at both ends of its range, sm and eth, the block
interval at both edges, the debug container, the monitor exporters, and both subcommands. Each chain
must reach a few blocks with the same hash at every height on every node, with no panic, within a
bounded time. Values the services refuse to run are refused by the tool (tests/test_new_user.py:
--block_delay_number above 0, --block_interval 0); values that only images without a v5.0.0 source
would run (the chaincode executors, storage_tikv) are listed in the README as not verified.

Most chains run with a 1-second block interval (the flag's lower edge) to stay quick; the default
of 6 seconds is booted by tests/test_live.py, and the upper edge, 60, here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.live.kubelet import Cluster
from tests.live.rpc import Controller
from tests.live.runs import LiveChain, boot_local_chain, boot_multi_chain, wait_until
from tests.test_live import ETH_SERVICE_CONFIG, live_bin_dir, safe_heights, service_log_panics

pytestmark = [pytest.mark.live, pytest.mark.slow]

FAST = ("--block_interval", "1")
BLOCKS = 3  # blocks every node must agree on
# The exporters and the debug netcat have no source to build here: they run as programs that only sleep.
STAND_INS = ("monitor-process-exporter", "monitor-citacloud-exporter", "netcat")
NODE_PORT_SPAN_3 = 15  # local_cluster, 3 nodes: the RPC port, then 5 per node (README: NodePorts)


@dataclass(frozen=True)
class Case:
    """One chain: the flags it is made with, how long it may take, and what else to check."""

    flags: tuple[str, ...]
    multi: bool = False
    nodes: int = 3
    timeout: float = 240
    rpc_node_port: int | None = None  # check the RPC answers on this NodePort of the cluster
    extra: dict[str, str] = field(default_factory=dict)


CASES = {
    "one node": Case(("--peers_count", "1", *FAST), nodes=1),
    "two nodes": Case(("--peers_count", "2", *FAST), nodes=2),
    "five nodes": Case(("--peers_count", "5", *FAST), nodes=5, timeout=360),
    "tls off": Case(("--peers_count", "3", "--enable_tls", "false", *FAST)),
    "namespace": Case(("--peers_count", "3", "--namespace", "chains", *FAST)),
    "lowest NodePort base": Case(("--peers_count", "3", "--node_port", "30000", *FAST), rpc_node_port=30000),
    "highest NodePort base": Case(
        ("--peers_count", "3", "--node_port", str(32767 - NODE_PORT_SPAN_3), *FAST),
        rpc_node_port=32767 - NODE_PORT_SPAN_3,
    ),
    "eth": Case(("--peers_count", "3", "--service_config", "ETH", *FAST)),
    "block interval 60": Case(("--peers_count", "2", "--block_interval", "60"), nodes=2, timeout=420),
    "debug container": Case(("--peers_count", "2", "--need_debug", *FAST), nodes=2),
    "monitor exporters": Case(("--peers_count", "2", "--need_monitor", *FAST), nodes=2),
    "multi_cluster": Case(FAST, multi=True),
    "multi_cluster one node": Case(FAST, multi=True, nodes=1),
    "multi_cluster eth tls off": Case(("--service_config", "ETH", "--enable_tls", "false", *FAST), multi=True),
}


def with_files(tmp: Path, flags: tuple[str, ...]) -> list[str]:
    """The flags with ETH replaced by the path of an eth service config."""
    if "ETH" not in flags:
        return list(flags)
    config = tmp / "eth-service-config.toml"
    config.write_text(ETH_SERVICE_CONFIG)
    return [str(config) if flag == "ETH" else flag for flag in flags]


def booted(tmp: Path, case: Case, chain: str) -> Generator[LiveChain, None, None]:
    flags = with_files(tmp, case.flags)
    if case.multi:
        passwords = [f"matrix-pw-{index}" for index in range(case.nodes)]
        return boot_multi_chain(tmp, live_bin_dir(), chain, passwords, *flags)
    return boot_local_chain(tmp, live_bin_dir(), chain, *flags, stand_ins=STAND_INS)


def common_blocks(controllers: dict[str, Controller], height: int) -> dict[int, set[bytes]]:
    """Height -> the set of block hashes the nodes report there (one hash each when they agree)."""
    return {
        level: {controller.block_hash(level) for controller in controllers.values()} for level in range(1, height + 1)
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_accepted_value_gives_a_chain_that_makes_blocks(tmp_path: Path, name: str):
    case = CASES[name]
    chain_name = "matrix-" + hashlib.sha256(name.encode()).hexdigest()[:6] + "x"
    chains = booted(tmp_path, case, chain_name)
    chain = next(chains)
    try:
        assert len(chain.controllers) == case.nodes
        controllers, cluster = chain.controllers, chain.cluster
        wait_until(
            f"every node at height >= {BLOCKS}",
            lambda: min(safe_heights(controllers).values()) >= BLOCKS,
            case.timeout,
            cluster,
            state=lambda: safe_heights(controllers),
        )
        hashes = common_blocks(controllers, BLOCKS)
        assert all(len(found) == 1 for found in hashes.values()), hashes
        if case.rpc_node_port is not None:
            check_rpc_on_node_port(cluster, case.rpc_node_port)
        assert service_log_panics(cluster, chain.storage) == []
        assert cluster.exited() == []
    finally:
        chains.close()


def check_rpc_on_node_port(cluster: Cluster, node_port: int) -> None:
    """The chain's RPC NodePort, as the summary prints it, reaches a controller that reports blocks."""
    controller = Controller(cluster.node_port_address(node_port))
    try:
        assert controller.block_number() >= 1
    finally:
        controller.close()
