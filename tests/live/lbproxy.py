"""Port forwarders of the live harness: a LoadBalancer inside a pod, or the NodePorts on the host.

Usage: ip netns exec NS python3 lbproxy.py PORT:TARGET [PORT:TARGET ...]
       python3 lbproxy.py --bind ADDRESS PORT:HOST:TARGET [...]

The first stands for the cloud load balancer of a multi_cluster node: the Service's `port` on the
node's address leads to 127.0.0.1:`targetPort` in the pod. The second stands for kube-proxy's
NodePorts: `nodePort` on the cluster node's ADDRESS (the harness's bridge) leads to the pod's
HOST:`targetPort`. It runs until it is sent SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes one way until EOF, then close the far side for writing."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


def handler(host: str, target: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A connection handler that joins the client to host:target."""

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))

    return handle


async def main(argv: list[str]) -> None:
    """Listen on every PORT of the pairs until cancelled."""
    bind = "0.0.0.0"  # noqa: S104 - inside a pod's own network namespace
    if argv[:1] == ["--bind"]:
        bind, argv = argv[1], argv[2:]
    servers = []
    for pair in argv:
        parts = pair.split(":")
        port, host, target = (parts[0], "127.0.0.1", parts[1]) if len(parts) == 2 else parts
        servers.append(await asyncio.start_server(handler(host, int(target)), bind, int(port)))
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
