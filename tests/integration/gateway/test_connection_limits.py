"""Connections that do not prove themselves are closed: half-open sockets, slow handshakes,
too many pending connections from one address, chargers that fall silent, peers that stop
answering pings. Writes to sockets that are closing are not errors."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ServerHandle, ShiftableClock, serving, test_settings
from tests.ocpp_client import BOOT, OcppTestClient
from tests.waiting import eventually

HANDSHAKE_TIMEOUT = 0.5


@pytest.fixture
async def strict(database_url: str, tmp_path: Path, clock: ShiftableClock) -> AsyncIterator[ServerHandle]:
    settings = test_settings(
        database_url, tmp_path, handshake_timeout=HANDSHAKE_TIMEOUT, max_pending_per_address=3,
        heartbeat_interval=1, idle_heartbeats=1, ws_ping_interval=0.4,
    )
    async with serving(settings, clock) as handle:
        yield handle


async def online(server: ServerHandle, cp_id: str) -> bool:
    status, body = await server.request("GET", f"/api/v1/charge-points/{cp_id}")
    assert status == 200, body
    return bool(body["online"])


async def shown_online(server: ServerHandle, cp_id: str, expected: bool) -> bool:
    return await eventually(lambda: online(server, cp_id), lambda now: now is expected, timeout=10)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> float:
    """Seconds until the server closed the connection (EOF or reset)."""
    started = time.monotonic()
    async with asyncio.timeout(within):
        try:
            while await reader.read(1024):
                pass
        except ConnectionResetError:
            pass
    return time.monotonic() - started


async def test_a_connection_that_sends_nothing_is_closed_after_the_handshake_timeout(strict: ServerHandle) -> None:
    for port in (port_of(strict.ocpp_url), port_of(strict.http_url)):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_by_server(reader, within=5) < HANDSHAKE_TIMEOUT + 1
        writer.close()


async def test_a_handshake_sent_byte_by_byte_too_slowly_is_closed(strict: ServerHandle) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(strict.ocpp_url))
    writer.write(b"GET /ocpp/X HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert await closed_by_server(reader, within=5) < HANDSHAKE_TIMEOUT + 1
    writer.close()


async def test_pending_ocpp_connections_per_address_are_capped(strict: ServerHandle) -> None:
    port = port_of(strict.ocpp_url)
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # The fourth is closed at once, well before the handshake timeout.
    assert await closed_by_server(reader, within=5) < HANDSHAKE_TIMEOUT / 2
    writer.close()
    for _, held_writer in held:
        held_writer.close()
    await asyncio.sleep(0.2)
    # Once those are gone, a charger connects as usual.
    cp_id = await strict.register_charge_point()
    async with await OcppTestClient.open(f"{strict.ocpp_url}/{cp_id}") as client:
        await client.result("BootNotification", BOOT)


async def test_a_completed_upgrade_outlives_the_handshake_timeout(strict: ServerHandle) -> None:
    cp_id = await strict.register_charge_point()
    async with await OcppTestClient.open(f"{strict.ocpp_url}/{cp_id}") as client:
        await client.result("BootNotification", BOOT)
        for _ in range(4):  # Beyond the handshake timeout, and within the idle rule.
            await asyncio.sleep(HANDSHAKE_TIMEOUT / 2)
            assert (await client.result("Heartbeat", {}))["currentTime"]


async def test_an_http_client_is_not_cut_by_the_handshake_timeout(strict: ServerHandle) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.get(f"{strict.http_url}/healthz") as response:
                assert response.status == 200
            await asyncio.sleep(HANDSHAKE_TIMEOUT)


async def test_a_silent_charger_is_closed_and_shown_offline(strict: ServerHandle) -> None:
    cp_id = await strict.register_charge_point()
    client = await OcppTestClient.open(f"{strict.ocpp_url}/{cp_id}")
    await client.result("BootNotification", BOOT)
    assert await shown_online(strict, cp_id, True)
    # Heartbeat interval 1 s, one interval of silence (+ the handshake margin) closes it.
    async with asyncio.timeout(15):
        await client.connection.wait_closed()
    assert client.connection.close_code == 1000
    assert await shown_online(strict, cp_id, False) is False


async def raw_upgrade(port: int, cp_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket upgrade by hand; afterwards this client never reads a frame nor pongs."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (f"GET /ocpp/{cp_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n").encode()
    )
    status = await reader.readline()
    assert b" 101 " in status
    return reader, writer


async def test_a_peer_that_never_answers_pings_is_closed(database_url: str, tmp_path: Path, clock: ShiftableClock) -> None:
    # The idle rule off, so only the ping can close it.
    settings = test_settings(database_url, tmp_path, ws_ping_interval=0.4, idle_heartbeats=0)
    async with serving(settings, clock) as server:
        cp_id = await server.register_charge_point()
        reader, writer = await raw_upgrade(port_of(server.ocpp_url), cp_id)
        assert await shown_online(server, cp_id, True)
        # Ping after 0.4 s of quiet, no pong within 0.2 s: closed.
        assert await closed_by_server(reader, within=5) < 3
        writer.close()
        assert await shown_online(server, cp_id, False) is False


async def test_a_charger_leaving_before_its_answer_logs_no_error(
    server: ServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    cp_id = await server.register_charge_point()
    caplog.set_level(logging.INFO)
    for _ in range(20):
        client = await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}")
        await client.connection.send('[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
        client.connection.transport.abort()  # Gone before the answer is written.
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        await client.result("Heartbeat", {})
    await asyncio.sleep(0.2)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


async def test_the_http_port_has_no_cap_per_address(strict: ServerHandle) -> None:
    """Every client of a reverse proxy shares its address: many at once all get answers."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as http:

        async def health() -> int:
            async with http.get(f"{strict.http_url}/healthz") as response:
                return response.status

        assert await asyncio.gather(*(health() for _ in range(60))) == [200] * 60
