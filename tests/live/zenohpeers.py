"""Run inside a private network and mount namespace: three real network_zenoh services on our TLS material.

`python3 -m tests.live.zenohpeers <bin dir> <work dir> <scenario>` writes three nodes' config.toml and
account files, starts `network run` in each, polls each one's GetNetworkStatus and prints one JSON line:
the peer counts seen at the end (each count includes the node itself) and whether every process still runs.
Nodes 0 and 1 dial every other node; node 2 dials nobody, so it is reached only through the certificate it
serves. The scenario changes node 2's certificate: `ok` (right), `wrongname` (made for test-chain-9) or
`wrongca` (signed by another CA with the same name). /etc/hosts must map test-chain-0..2 to 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import tomli_w

from runner_k8s.keys import tls
from runner_k8s.releases.v6_7_4.accounts import Consensus, account_files, new_v6_account
from tests.conftest import DeterministicRandom

NODES = 3
CHAIN_ID = "63586a3c0255f337c77a777ff54f0040b8c388da04f23ecee6bfd4953a6512b4"
SETTLE_SECONDS = 30.0


def domain(index: int) -> str:
    return f"test-chain-{index}"


def peer_count(index: int) -> int | None:
    """GetNetworkStatus's peer_count (field 1, a varint), or None while the service does not answer."""
    channel = grpc.insecure_channel(f"127.0.0.1:{50000 + 10 * index}")
    try:
        call = channel.unary_unary(
            "/network.NetworkService/GetNetworkStatus",
            request_serializer=lambda raw: raw,
            response_deserializer=lambda raw: raw,
        )
        reply: bytes = call(b"", timeout=2)
    except grpc.RpcError:
        return None
    finally:
        channel.close()
    if not reply:
        return 0
    assert reply[0] == 0x08, reply.hex()  # field 1, varint
    value = 0
    for shift, byte in enumerate(reply[1:]):
        value |= (byte & 0x7F) << (7 * shift)
        if not byte & 0x80:
            break
    return value


def node_config(index: int, ca: tls.ChainCa, cert: tls.NodeCert, folder: Path) -> dict[str, object]:
    peers = [] if index == NODES - 1 else [domain(other) for other in range(NODES) if other != index]
    base = 50000 + 10 * index
    return {
        "network_zenoh": {
            "grpc_port": base,
            "port": 40000 + index,
            "protocol": "quic",
            "domain": domain(index),
            "ca_cert": ca.cert_pem.decode(),
            "cert": cert.cert_pem.decode(),
            "priv_key": cert.key_pem.decode(),
            "node_address": str(folder / "node_address"),
            "validator_address": str(folder / "validator_address"),
            "chain_id": CHAIN_ID,
            "enable_metrics": False,
            "metrics_port": 60000 + 10 * index,
            "peers": [{"domain": peer, "protocol": "quic", "port": 40000 + int(peer[-1])} for peer in peers],
            "modules": [
                {"module_name": name, "hostname": "localhost", "port": base + 1 + offset}
                for offset, name in enumerate(("consensus", "executor", "storage", "controller"))
            ],
            "log_config": {"max_level": "info", "filter": "info", "service_name": "network"},
        }
    }


def main(bin_dir: Path, work: Path, scenario: str) -> None:
    randbytes = DeterministicRandom(f"zenoh peers {scenario}")
    now = dt.datetime.now(dt.UTC)
    ca = tls.new_ca("test-chain", randbytes, now)
    stranger_ca = tls.new_ca("test-chain", randbytes, now)
    processes = []
    for index in range(NODES):
        folder = work / domain(index)
        folder.mkdir(parents=True)
        for name, entry in account_files(new_v6_account(randbytes, Consensus.OVERLORD)).items():
            (folder / name).write_bytes(entry.data)
        signer, name_in_cert = ca, domain(index)
        if index == NODES - 1 and scenario == "wrongname":
            name_in_cert = "test-chain-9"
        if index == NODES - 1 and scenario == "wrongca":
            signer = stranger_ca
        cert = tls.new_node_cert(signer, name_in_cert, randbytes, now)
        (folder / "config.toml").write_text(tomli_w.dumps(node_config(index, ca, cert, folder)))
        with open(folder / "network.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [str(bin_dir / "network"), "run", "-c", "config.toml"], cwd=folder, stdout=log, stderr=log
                )
            )
    expected = [NODES] * NODES if scenario == "ok" else [NODES - 1, NODES - 1, 1]
    counts: list[int | None] = []
    try:
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            counts = [peer_count(index) for index in range(NODES)]
            if scenario == "ok" and counts == expected:
                break
            time.sleep(1)
        running = [process.poll() is None for process in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    print(json.dumps({"counts": counts, "expected": expected, "running": running}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
