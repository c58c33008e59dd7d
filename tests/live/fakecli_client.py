"""A stand-in for kubectl, minikube, scp or ssh (by the name it runs under): asks the test's PlanServer.

See tests/live/fakecli.py. A port-forward it serves itself, until it is killed, as kubectl does.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.live.fakecli import call
from tests.live.lbproxy import handler


async def forward(host: str, port: int, local: int) -> None:
    """Listen on 127.0.0.1:local and join every connection to host:port."""
    server = await asyncio.start_server(handler(host, port), "127.0.0.1", local)
    print(f"Forwarding from 127.0.0.1:{local} -> {port}", flush=True)
    await server.serve_forever()


def main(tool: str) -> int:
    """Run as `tool` with this process's arguments; the exit code."""
    reply = call(os.environ["RK8S_FAKECLI"], tool, sys.argv[1:], os.getcwd())
    sys.stdout.write(reply["stdout"])
    sys.stderr.write(reply["stderr"])
    if reply.get("forward"):
        host, port, local = reply["forward"]
        try:
            asyncio.run(forward(host, port, local))
        except KeyboardInterrupt:
            return 0
    return int(reply["code"])


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[0]).name))
