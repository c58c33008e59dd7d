"""Run inside a private network namespace: the real consensus_overlord on a private_key file, its siblings faked.

`python3 -m tests.live.overlordkey <bin dir> <work dir> <validator hex>` expects <work dir>/private_key.
A fake network (port 50000) accepts the registration; a fake controller (port 50004) answers overlord's
first CommitBlock with a configuration whose only validator is <validator hex>. Overlord asks that
controller for a proposal (GetProposal) only when it is that validator itself, i.e. when the 48 bytes
are the public key of the key it loaded. Prints one JSON line: whether it proposed, whether it got the
configuration, whether it panicked (as it does on a key file it cannot load) and whether it still runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path

import grpc
import tomli_w

WAIT_SECONDS = 15.0
NETWORK_PORT = 50000
CONTROLLER_PORT = 50004


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (short payloads only)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


class Fakes(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc has no type hints
    """Every method of the fake network and controller: records the call and answers in raw protobuf."""

    def __init__(self, validator: bytes) -> None:
        self.calls: list[str] = []
        configuration = b"\x10\x03" + field(3, validator)  # block_interval 3, validators [validator]
        self.commit_reply = field(1, b"") + field(2, configuration)  # status {code 0}, config

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method

        def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.calls.append(method.rsplit("/", 1)[-1])
            if method.endswith("/CommitBlock"):
                return self.commit_reply
            if method.endswith("/GetProposal"):
                return field(1, b"\x08\x01")  # ProposalResponse {status {code 1}}: nothing to propose
            return b""  # StatusCode {code 0}

        return grpc.unary_unary_rpc_method_handler(
            answer, request_deserializer=lambda raw: raw, response_serializer=lambda raw: raw
        )


def main(bin_dir: Path, work: Path, validator_hex: str) -> None:
    fakes = Fakes(bytes.fromhex(validator_hex))
    servers = []
    for port in (NETWORK_PORT, CONTROLLER_PORT):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((fakes,))
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        servers.append(server)
    section = {
        "network_port": NETWORK_PORT,
        "consensus_port": 50001,
        "controller_port": CONTROLLER_PORT,
        "enable_metrics": False,
        "wal_path": str(work / "overlord_wal"),
        "log_config": {"max_level": "info", "filter": "info", "service_name": "consensus"},
    }
    (work / "config.toml").write_text(tomli_w.dumps({"consensus_overlord": section}))
    command = [str(bin_dir / "consensus_overlord"), "run", "-c", "config.toml", "-p", "private_key"]
    with open(work / "consensus.log", "wb") as log:
        process = subprocess.Popen(command, cwd=work, stdout=log, stderr=log)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and process.poll() is None and "GetProposal" not in fakes.calls:
        time.sleep(0.5)
    running = process.poll() is None
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for server in servers:
        server.stop(0)
    log_text = (work / "consensus.log").read_text(errors="replace")
    result = {
        "proposed": "GetProposal" in fakes.calls,
        "configured": "CommitBlock" in fakes.calls,
        "panicked": "panicked" in log_text,
        "running": running,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
