"""A stand-in for kubectl, minikube, scp or ssh (by the name it runs under): asks the test's PlanServer.

See tests/live/fakecli.py. A port-forward it serves itself, until it is killed, as kubectl does. It
loads nothing but the standard library's socket and json until it must forward (a plan calls it often).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any


def call(address: str, tool: str, argv: list[str], cwd: str) -> dict[str, Any]:
    """One request to the PlanServer, one reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(address)
        sock.sendall(json.dumps({"tool": tool, "argv": argv, "cwd": cwd}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return dict(json.loads(data))


def forward(host: str, port: int, local: int) -> None:
    """Listen on 127.0.0.1:local and join every connection to host:port, until killed."""
    import asyncio

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.live.lbproxy import handler

    async def serve() -> None:
        server = await asyncio.start_server(handler(host, port), "127.0.0.1", local)
        print(f"Forwarding from 127.0.0.1:{local} -> {port}", flush=True)
        await server.serve_forever()

    asyncio.run(serve())


def main(tool: str) -> int:
    """Run as `tool` with this process's arguments; the exit code."""
    reply = call(os.environ["RK8S_FAKECLI"], tool, sys.argv[1:], os.getcwd())
    sys.stdout.write(reply["stdout"])
    sys.stderr.write(reply["stderr"])
    if reply.get("forward"):
        host, port, local = reply["forward"]
        try:
            forward(host, port, local)
        except KeyboardInterrupt:
            return 0
        except OSError as error:  # kubectl: "unable to listen on port ...: bind: address already in use"
            sys.stderr.write(f"error: unable to listen on port {local}: {error.strerror}\n")
            return 1
    return int(reply["code"])


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[0]).name))
