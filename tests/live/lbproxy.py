"""Port forwarders of the live harness: a LoadBalancer inside a pod, or the NodePorts on the host.

Usage: ip netns exec NS python3 lbproxy.py PORT:TARGET[/udp] [PORT:TARGET[/udp] ...]
       python3 lbproxy.py --bind ADDRESS PORT:HOST:TARGET[/udp] [...]

The first stands for the cloud load balancer of a multi_cluster node: the Service's `port` on the
node's address leads to 127.0.0.1:`targetPort` in the pod. The second stands for kube-proxy's
NodePorts: `nodePort` on the cluster node's ADDRESS (the harness's bridge) leads to the pod's
HOST:`targetPort`. It runs until it is sent SIGTERM.

A pair ending in /udp forwards datagrams (zenoh's QUIC): as a load balancer keeps a UDP flow, each
client address gets its own socket towards the target, whose replies go back to that client from
the listening port; a flow idle for UDP_IDLE_SECONDS is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from typing import cast

UDP_IDLE_SECONDS = 120.0


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


class Upstream(asyncio.DatagramProtocol):
    """One client's flow towards the target: what comes back is sent to the client from the front port."""

    def __init__(self, front: asyncio.DatagramTransport, client: tuple[str, int]) -> None:
        self.front = front
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.last = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last = time.monotonic()
        self.front.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable: the target is not up yet
        pass


class UdpFront(asyncio.DatagramProtocol):
    """The listening UDP port: a flow (an Upstream socket) per client address."""

    def __init__(self, host: str, target: int) -> None:
        self.host, self.target = host, target
        self.transport: asyncio.DatagramTransport | None = None
        self.flows: dict[tuple[str, int], Upstream] = {}
        self.opening: dict[tuple[str, int], list[bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        flow = self.flows.get(addr)
        if flow is not None and flow.transport is not None:
            flow.last = time.monotonic()
            flow.transport.sendto(data)
        elif addr in self.opening:
            self.opening[addr].append(data)
        else:
            self.opening[addr] = [data]
            asyncio.get_running_loop().create_task(self._open(addr))

    def error_received(self, exc: Exception) -> None:
        pass

    async def _open(self, client: tuple[str, int]) -> None:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        try:
            _, flow = await loop.create_datagram_endpoint(
                lambda: Upstream(self.transport, client),  # type: ignore[arg-type]
                remote_addr=(self.host, self.target),
            )
        except OSError:
            self.opening.pop(client, None)
            return
        self.flows[client] = flow
        for data in self.opening.pop(client, []):
            assert flow.transport is not None
            flow.transport.sendto(data)

    def sweep(self) -> None:
        """Drop the flows idle for longer than UDP_IDLE_SECONDS."""
        now = time.monotonic()
        for client, flow in list(self.flows.items()):
            if now - flow.last > UDP_IDLE_SECONDS:
                if flow.transport is not None:
                    flow.transport.close()
                del self.flows[client]


async def sweep_forever(fronts: list[UdpFront]) -> None:
    """Every few seconds, drop idle UDP flows."""
    while True:
        await asyncio.sleep(UDP_IDLE_SECONDS / 4)
        for front in fronts:
            front.sweep()


async def main(argv: list[str]) -> None:
    """Listen on every PORT of the pairs until cancelled."""
    bind = "0.0.0.0"  # noqa: S104 - inside a pod's own network namespace
    if argv[:1] == ["--bind"]:
        bind, argv = argv[1], argv[2:]
    loop = asyncio.get_running_loop()
    servers, fronts = [], []
    for argument in argv:
        udp = argument.endswith("/udp")
        parts = argument.removesuffix("/udp").split(":")
        port, host, target = (parts[0], "127.0.0.1", parts[1]) if len(parts) == 2 else parts
        if udp:
            _, front = await loop.create_datagram_endpoint(
                lambda host=host, target=target: UdpFront(host, int(target)),  # type: ignore[misc]
                local_addr=(bind, int(port)),
            )
            fronts.append(front)
        else:
            servers.append(await asyncio.start_server(handler(host, int(target)), bind, int(port)))
    await asyncio.gather(sweep_forever(fronts), *(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
