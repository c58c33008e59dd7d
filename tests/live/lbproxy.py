"""A LoadBalancer for the live harness: forwards PORT to 127.0.0.1:TARGET inside one pod's namespace.

Usage: ip netns exec NS python3 lbproxy.py PORT:TARGET [PORT:TARGET ...]

It stands for the cloud load balancer of a multi_cluster node: the Service's `port` on the node's
address leads to the container's `targetPort`. It runs until it is sent SIGTERM.
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


def handler(target: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A connection handler that joins the client to 127.0.0.1:target."""

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))

    return handle


async def main(pairs: list[str]) -> None:
    """Listen on every PORT of the pairs until cancelled."""
    servers = []
    for pair in pairs:
        port, target = (int(part) for part in pair.split(":"))
        servers.append(await asyncio.start_server(handler(target), "0.0.0.0", port))  # noqa: S104 - pod netns
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
