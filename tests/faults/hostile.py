"""Hostile clients against a running csms, and what a well-behaved charger sees meanwhile.

Used by the fault-injection tests (with the issue's numbers) and by
``benchmarks/hostile_clients.py`` (which prints the figures). Attackers connect from other
loopback addresses (127.0.0.2 and up) than the charger (127.0.0.1), as they would from the
internet: a limit per source address must not hit the charger.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.ocpp_client import BOOT, OcppTestClient

#: Attacker sockets per source address (below the server's cap of pending connections).
PER_ADDRESS = 40


def attacker_address(n: int) -> str:
    return f"127.0.0.{2 + n // PER_ADDRESS}"


@dataclass
class Figures:
    heartbeat_ms: list[float] = field(default_factory=list)
    half_open_closed_s: list[float] = field(default_factory=list)
    silent_upgraded: int = 0
    sign_in_answers: dict[int, int] = field(default_factory=dict)
    reconnected: bool = False
    server_fds: dict[str, int] = field(default_factory=dict)

    def p(self, q: float) -> float:
        ordered = sorted(self.heartbeat_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        closed = self.half_open_closed_s
        return (
            f"heartbeats under attack: n={len(self.heartbeat_ms)} "
            f"p50={statistics.median(self.heartbeat_ms):.1f} ms p99={self.p(0.99):.1f} ms "
            f"max={max(self.heartbeat_ms):.1f} ms; half-open sockets closed: {len(closed)}, "
            f"last after {max(closed, default=0):.2f} s; silent upgraded sockets: "
            f"{self.silent_upgraded}; sign-in answers {dict(sorted(self.sign_in_answers.items()))}; "
            f"reconnected: {self.reconnected}; server descriptors {self.server_fds}"
        )


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def half_open(host: str, port: int, n: int) -> asyncio.Task[float]:
    """A TCP connection that never sends a byte; the task ends with when the server closed it."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(attacker_address(n), 0))
    opened = time.monotonic()

    async def closed() -> float:
        """Seconds until closed by the server; infinite when it was not within 30 s."""
        try:
            async with asyncio.timeout(30):
                with contextlib.suppress(ConnectionError):
                    while await reader.read(1024):
                        pass
        except TimeoutError:
            return float("inf")
        finally:
            writer.close()
        return time.monotonic() - opened

    return asyncio.create_task(closed())


async def silent_upgrade(host: str, port: int, cp_id: str, n: int) -> asyncio.StreamWriter | None:
    """A completed WebSocket upgrade that then says nothing (and reads nothing)."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(attacker_address(n), 0))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (f"GET /ocpp/{cp_id} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n").encode()
    )
    status = await reader.readline()
    if b" 101 " not in status:
        writer.close()
        return None
    return writer


async def sign_in_flood(http_url: str, seconds: float, figures: Figures) -> None:
    """Password guesses as fast as the server answers, from a few clients of one address."""
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.250", 0), limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def guesser(n: int) -> None:
            while time.monotonic() < deadline:
                body = {"email": "ops@example.com", "password": f"guess-{n}-{time.monotonic()}"}
                async with http.post(f"{http_url}/api/v1/tokens", json=body) as response:
                    await response.read()
                    figures.sign_in_answers[response.status] = (
                        figures.sign_in_answers.get(response.status, 0) + 1
                    )

        await asyncio.gather(*(guesser(n) for n in range(8)))


async def heartbeats(url: str, seconds: float, figures: Figures) -> None:
    """The well-behaved charger: boots, then heartbeats back to back; reconnects halfway."""
    deadline = time.monotonic() + seconds
    for half in (0, 1):
        async with await OcppTestClient.open(url) as charger:
            await charger.result("BootNotification", BOOT)
            while time.monotonic() < deadline - (seconds / 2 if half == 0 else 0):
                sent = time.monotonic()
                await charger.result("Heartbeat", {})
                figures.heartbeat_ms.append((time.monotonic() - sent) * 1000)
                await asyncio.sleep(0.02)
        figures.reconnected = half == 1


async def attack(
    *,
    host: str,
    ocpp_port: int,
    http_url: str,
    charger_url: str,
    server_pid: int | None,
    half_open_sockets: int,
    silent_sockets: int,
    seconds: float,
) -> Figures:
    """Everything at once: half-open sockets, silent upgraded sockets, a sign-in flood, while
    the charger at ``charger_url`` heartbeats. Returns what was measured."""
    figures = Figures()
    if server_pid is not None:
        figures.server_fds["before"] = open_fds(server_pid)
    closers = [await half_open(host, ocpp_port, n) for n in range(half_open_sockets)]
    if server_pid is not None:
        figures.server_fds["half-open held"] = open_fds(server_pid)
    writers = [
        await silent_upgrade(host, ocpp_port, f"SILENT-{os.getpid()}-{n}", n)
        for n in range(silent_sockets)
    ]
    figures.silent_upgraded = sum(writer is not None for writer in writers)
    if server_pid is not None:
        figures.server_fds["silent held"] = open_fds(server_pid)
    await asyncio.gather(
        heartbeats(charger_url, seconds, figures), sign_in_flood(http_url, seconds, figures)
    )
    figures.half_open_closed_s = list(await asyncio.gather(*closers))
    if server_pid is not None:
        figures.server_fds["half-open closed"] = open_fds(server_pid)
    for writer in writers:
        if writer is not None:
            writer.close()
    return figures


def server_pid_of(process: object) -> int | None:
    pid = getattr(process, "pid", None)
    return pid if isinstance(pid, int) and Path(f"/proc/{pid}").exists() else None
