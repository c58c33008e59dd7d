"""Pods from our YAML in the fake kubelet, with probe programs in place of the six services.

This runs everywhere the live harness can (root, iproute2, unshare), without the real services: each
service's program is a probe that records what it finds where the real one looks (its working
directory, the files contracts.md §2 says it reads, the key file its `-k` names, the peers of
network-config.toml as the pod resolves them) and listens on the ports the real one would. The real
syncthing runs as it is. So a wrong mount, subPath, Secret key, working directory, host name or port
in the YAML fails here, in CI, before anyone boots the real services (tests/test_live.py does that).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.runs import PASSWORD, LiveChain, boot_local_chain, closed_service_ports, wait_until

pytestmark = pytest.mark.slow

CHAIN = "probe-chain"
NODES = 3

# What each v5.0.0 service reads from its working directory at start-up (contracts.md §2).
READS = {
    "network": {"network-config.toml", "network-log4rs.yaml"},
    "consensus": {"consensus-config.toml", "node_address"},
    "executor": {"executor-log4rs.yaml"},
    "storage": {"storage-log4rs.yaml"},
    "controller": {
        "controller-config.toml",
        "genesis.toml",
        "init_sys_config.toml",
        "key_id",
        "node_address",
        "controller-log4rs.yaml",
        "txs",
        "proposals",
        "blocks",
    },
    "kms": {"kms.db", "kms-log4rs.yaml"},
}
BUILT_NAMES = {"network", "consensus", "executor", "storage", "controller", "kms_sm", "kms_eth"}

PROBE = """#!{python}
import json, os, socket, sys, time, tomllib
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
report = {{"cwd": os.getcwd(), "args": args, "files": sorted(os.listdir("."))}}
ports = [int(args[args.index("-p") + 1])]
if "-k" in args:
    with open(args[args.index("-k") + 1]) as stream:
        report["key_file"] = stream.read()
if name == "network":
    with open("network-config.toml", "rb") as stream:
        config = tomllib.load(stream)
    report["peers"] = {{peer["ip"]: socket.gethostbyname(peer["ip"]) for peer in config["peers"]}}
    ports.append(config["port"])
listeners = []
for port in ports:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(16)
    listeners.append(listener)
with open(f".probe-{{name}}.json", "w") as stream:
    json.dump(report, stream)
while True:
    time.sleep(3600)
"""


def harness_available() -> None:
    """Skip unless this machine lets us make network namespaces (root, iproute2, unshare)."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("unshare") is None:
        pytest.skip("the pod harness needs root, iproute2 and unshare")
    probe = f"rk8s-check-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make network namespaces here: {made.stderr.decode().strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)


def interpreter_seen_by_containers() -> str:
    """The Python a probe runs with: the real interpreter behind a venv's, since a container sees no host /tmp.

    The harness gives every container an empty, private /tmp (tests/live/podinit.py), so a venv made
    under /tmp (its `python` is only a link to the base interpreter) is not there inside the pod.
    """
    found = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    if Path(found).is_relative_to("/tmp"):
        pytest.skip(f"the probes need a Python outside /tmp (containers see an empty /tmp); this one is {found}")
    return found


@pytest.fixture(scope="module")
def probed_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChain]:
    harness_available()
    tmp = tmp_path_factory.mktemp("pods")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    python = interpreter_seen_by_containers()
    for name in BUILT_NAMES:
        program = bin_dir / name
        program.write_text(PROBE.format(python=python))
        program.chmod(0o755)
    chains = boot_local_chain(tmp, bin_dir, CHAIN, "--peers_count", str(NODES))
    chain = next(chains)
    try:
        yield chain
    finally:
        chains.close()


def probe_reports(chain: LiveChain, node: int) -> dict[str, dict[str, object]]:
    folder = chain.storage / "cita-cloud" / CHAIN / f"node{node}"
    return {service: json.loads((folder / f".probe-{service}.json").read_text()) for service in READS}


def all_probes_reported(chain: LiveChain) -> bool:
    folder = chain.storage / "cita-cloud" / CHAIN
    return all(
        (folder / f"node{node}" / f".probe-{service}.json").exists() for node in range(NODES) for service in READS
    )


def test_every_service_finds_its_files_in_its_working_directory(probed_chain: LiveChain):
    wait_until("every probe to report", lambda: all_probes_reported(probed_chain), 60, probed_chain.cluster, 0.5)
    for node in range(NODES):
        for service, report in probe_reports(probed_chain, node).items():
            assert report["cwd"] == "/data", (node, service)
            files = set(report["files"])  # type: ignore[call-overload]
            assert READS[service] <= files, (node, service, READS[service] - files)


def test_key_files_come_from_the_secrets(probed_chain: LiveChain):
    wait_until("every probe to report", lambda: all_probes_reported(probed_chain), 60, probed_chain.cluster, 0.5)
    network_keys = set()
    for node in range(NODES):
        reports = probe_reports(probed_chain, node)
        assert reports["kms"]["key_file"] == PASSWORD
        network_key = reports["network"]["key_file"]
        assert isinstance(network_key, str)
        assert re.fullmatch(r"0x[0-9a-f]{64}", network_key), "the network key is 0x + 64 hex digits"
        network_keys.add(network_key)
    assert len(network_keys) == NODES, "every node has its own network key"


def test_peers_resolve_to_the_pods_of_the_other_nodes(probed_chain: LiveChain):
    wait_until("every probe to report", lambda: all_probes_reported(probed_chain), 60, probed_chain.cluster, 0.5)
    addresses = {f"{CHAIN}-{node}": probed_chain.cluster.pods[f"{CHAIN}-{node}"].address for node in range(NODES)}
    for node in range(NODES):
        peers = probe_reports(probed_chain, node)["network"]["peers"]
        expected = {name: address for name, address in addresses.items() if name != f"{CHAIN}-{node}"}
        assert peers == expected, node


def test_every_service_port_answers_on_the_pod_it_selects(probed_chain: LiveChain):
    wait_until("every probe to report", lambda: all_probes_reported(probed_chain), 60, probed_chain.cluster, 0.5)
    wait_until("syncthing to listen", lambda: closed_service_ports(probed_chain) == [], 60, probed_chain.cluster, 0.5)
    assert closed_service_ports(probed_chain) == []


def test_the_controller_starts_only_once_its_executor_listens(tmp_path: Path):
    """The generated controller command, run as written, waits for 127.0.0.1:50002 (in a namespace of its own).

    The real v5.0.0 controller of a new chain executes the genesis block once without retrying; the
    live test showed a chain that never agreed on a block when one controller came up first.
    """
    harness_available()
    from tests.chains import load_documents, make_local_chain

    work = tmp_path / "work"
    make_local_chain(work)
    pods = [doc for doc in load_documents(work / "test-chain.yaml") if doc["kind"] in ("Deployment", "StatefulSet")]
    command = next(c for c in pods[0]["spec"]["template"]["spec"]["containers"] if c["name"] == "controller")["command"]
    programs = tmp_path / "bin"
    programs.mkdir()
    marker = tmp_path / "controller-started"
    (programs / "controller").write_text(f'#!/bin/sh\necho "$@" > {marker}\n')
    (programs / "controller").chmod(0o755)
    namespace = f"rk8s-order-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"], check=True)
        env = {"PATH": f"{programs}:/usr/sbin:/usr/bin:/sbin:/bin"}
        inside = ["ip", "netns", "exec", namespace]
        controller = subprocess.Popen([*inside, *command], env=env, start_new_session=True)
        executor = None
        try:
            time.sleep(3)
            assert not marker.exists(), "the controller started before anything listened on the executor's port"
            listen = "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 50002)); s.listen(); time.sleep(30)"
            executor = subprocess.Popen([*inside, sys.executable, "-c", listen], start_new_session=True)
            assert controller.wait(timeout=15) == 0
            assert marker.read_text() == "run -p 50004\n"
        finally:
            for process in (controller, executor):
                if process is not None and process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)


def test_every_probe_passes_once_the_services_listen(probed_chain: LiveChain):
    """The YAML's startup, readiness and liveness probes, run as the kubelet would, pass on listening probes."""
    wait_until("every probe to report", lambda: all_probes_reported(probed_chain), 60, probed_chain.cluster, 0.5)
    wait_until(
        "every container probe to pass",
        lambda: probed_chain.cluster.failing_probes() == [],
        60,
        probed_chain.cluster,
        1.0,
        state=probed_chain.cluster.failing_probes,
    )
