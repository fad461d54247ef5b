"""Fault injection with real processes: the embedded PostgreSQL killed under a charging session
and booking traffic, csms killed, and a data directory left by a dead csms.

A 1.6 charger sends its transaction messages again after a CALLERROR (S 4.10,
TransactionMessageAttempts / TransactionMessageRetryInterval); the charger here does just that.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from csms.domain.timestamps import format_timestamp
from tests.conftest import ServerHandle
from tests.faults.processes import (
    OPERATOR,
    Serve,
    alive,
    cli,
    postmaster_pid,
    ready,
    serve,
    wait_until,
)
from tests.ocpp_client import BOOT, OcppTestClient
from tests.world import TARIFF, sign_up_driver

__all__ = ["serve"]  # the fixture
CARD = "FAULT-CARD"

async def bookable_charger(server: ServerHandle) -> str:
    status, site = await server.request(
        "POST", "/api/v1/sites", json={"name": "Fault Yard", "timezone": "Europe/Berlin"}
    )
    assert status == 201, site
    status, _ = await server.request("PUT", f"/api/v1/sites/{site['id']}/tariff", json=TARIFF)
    assert status == 200
    return await server.register_charge_point(connectors=2, site_id=site["id"])


@dataclass
class BookingTraffic:
    """A driver booking one future window after another, as fast as answers come, each request
    with an Idempotency-Key — so that one answered 503 can be sent again safely, as a client
    does after Retry-After (its booking may have been stored before the connection broke)."""

    server: ServerHandle
    driver: str
    cp_id: str
    answers: list[tuple[int, str | None]] = field(default_factory=list)
    #: Idempotency-Key → (body, booking id once answered 201).
    requests: dict[str, tuple[dict[str, str], int | None]] = field(default_factory=dict)
    stopping: bool = False

    async def run(self) -> None:
        """Book until :attr:`stopping`; a request under way is finished, not abandoned."""
        day = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        for n in range(100_000):
            if self.stopping:
                return
            start = day + timedelta(minutes=20 * n)
            body = {"charge_point_id": self.cp_id, "connector_id": 2,
                    "start": format_timestamp(start),
                    "end": format_timestamp(start + timedelta(minutes=15))}
            status, retry_after = await self._send(f"booking-{n}", body)
            self.answers.append((status, retry_after))
            await asyncio.sleep(0.02)

    async def _send(self, key: str, body: dict[str, str]) -> tuple[int, str | None]:
        headers = {**self.server.headers(self.driver), "Idempotency-Key": key}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.server.http_url}/api/v1/reservations", json=body,
                      headers=headers) as response,
        ):
            answer = await response.json(content_type=None)
            booked = answer["id"] if response.status == 201 else None
            self.requests[key] = (body, booked)
            return response.status, response.headers.get("Retry-After")

    async def send_refused_again(self) -> int:
        """Send every request that was answered 503 again, with its key; how many there were."""
        refused = [key for key, (_, booked) in self.requests.items() if booked is None]
        for key in refused:
            status, _ = await self._send(key, self.requests[key][0])
            assert status == 201, (key, status)
        return len(refused)


async def until_accepted(charger: OcppTestClient, action: str, payload: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Send a transaction message until it is answered with a CALLRESULT; (answer, attempts)."""
    for attempt in range(1, 200):
        answer = await charger.call(action, payload, timeout=10)
        if answer[0] == 3:
            return answer[2], attempt
        assert answer[2] == "InternalError", answer  # the database is away: send it again
        await asyncio.sleep(0.1)
    raise AssertionError(f"{action} never accepted")


async def test_the_embedded_database_killed_under_load_recovers_and_loses_nothing(serve: Serve) -> None:
    server = await serve.handle()
    cp_id = await bookable_charger(server)
    await server.add_id_tag(CARD)
    traffic = BookingTraffic(server, await sign_up_driver(server), cp_id)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as charger:
        await charger.result("BootNotification", BOOT)
        now = datetime.now(UTC)
        started = await charger.result("StartTransaction", {
            "connectorId": 1, "idTag": CARD, "meterStart": 1000, "timestamp": format_timestamp(now)})
        tx = started["transactionId"]
        booking = asyncio.create_task(traffic.run())
        await asyncio.sleep(1.0)
        before = len(traffic.answers)

        killed = postmaster_pid(serve.data_dir)
        os.kill(killed, signal.SIGKILL)
        down_at = time.monotonic()
        # The charger keeps its connection; what needs no database is answered at once ...
        assert (await charger.result("Heartbeat", {}))["currentTime"]
        # ... and its transaction messages are answered with a CALLERROR until they are stored.
        sample = {"connectorId": 1, "transactionId": tx, "meterValue": [{
            "timestamp": format_timestamp(now + timedelta(seconds=30)),
            "sampledValue": [{"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]}
        _, meter_attempts = await until_accepted(charger, "MeterValues", sample)
        _, stop_attempts = await until_accepted(charger, "StopTransaction", {
            "transactionId": tx, "meterStop": 2000, "idTag": CARD,
            "timestamp": format_timestamp(now + timedelta(seconds=60))})
        recovered = time.monotonic() - down_at + await wait_until(lambda: ready(server.http_url), 15)
        assert (await charger.result("Heartbeat", {}))["currentTime"]
        await asyncio.sleep(1.0)
        traffic.stopping = True
        await booking
    print(f"\nrecovered {recovered:.2f} s after kill -9 of PostgreSQL {killed}; MeterValues sent "
          f"{meter_attempts}x, StopTransaction {stop_attempts}x; "
          f"bookings: {len(traffic.answers)} answers")

    assert recovered < 10
    assert postmaster_pid(serve.data_dir) != killed
    # Bookings: before and after 201, during the outage 503 with Retry-After, never anything else.
    statuses = [status for status, _ in traffic.answers]
    assert set(statuses) <= {201, 503}, statuses
    assert statuses[:before] == [201] * before
    assert 503 in statuses[before:] and statuses[-1] == 201
    assert all(retry is not None for status, retry in traffic.answers if status == 503)
    # Nothing lost or doubled: each request answered 503, sent again with its Idempotency-Key,
    # is booked once (it may have been stored before its answer was lost); then the driver's
    # bookings are exactly one per request.
    assert await traffic.send_refused_again() == statuses.count(503)
    status, mine = await server.request("GET", "/api/v1/reservations?limit=500", token=traffic.driver)
    assert status == 200
    booked = sorted(booked for _, booked in traffic.requests.values())
    assert sorted(item["id"] for item in mine["items"]) == booked
    assert len(set(booked)) == len(traffic.requests) == len(statuses)
    # The session is complete and single.
    status, page = await server.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    assert status == 200, page
    [row] = [item for item in page["items"] if item["charge_point_id"] == cp_id]
    assert (row["id"], row["meter_stop"], row["energy_wh"]) == (tx, 2000, 1000)
    assert row["stopped_at"] is not None
    # Every worker runs again, and csms says it is healthy.
    async with aiohttp.ClientSession() as http, http.get(f"{server.http_url}/healthz") as response:
        health = await response.json()
    assert response.status == 200, health
    assert all(worker["running"] for worker in health["workers"].values()), health


async def test_csms_killed_takes_its_database_with_it_and_starts_again_cleanly(serve: Serve) -> None:
    server = await serve.handle()
    cp_id = await bookable_charger(server)
    postgres = postmaster_pid(serve.data_dir)
    serve.kill()
    # The embedded PostgreSQL does not outlive csms (no orphan holding the data directory).
    async def postgres_gone() -> bool:
        return not alive(postgres)

    await wait_until(postgres_gone, 10)
    serve.start()
    server = await serve.handle()
    status, charger = await server.request("GET", f"/api/v1/charge-points/{cp_id}")
    assert status == 200, charger


async def test_a_server_left_by_a_dead_csms_is_taken_over(serve: Serve) -> None:
    """A server running without its owner (left by an older csms, or a platform where the child
    cannot be tied to its parent): the next csms stops it and runs its own."""
    server = await serve.handle()
    cp_id = await bookable_charger(server)
    serve.process.terminate()  # type: ignore[union-attr]
    serve.process.wait(30)  # type: ignore[union-attr]
    orphan = start_orphan_postgres(serve.data_dir)
    try:
        serve.start()
        server = await serve.handle()
        assert not alive(orphan.pid) or orphan.poll() is not None
        assert postmaster_pid(serve.data_dir) != orphan.pid
        status, _ = await server.request("GET", f"/api/v1/charge-points/{cp_id}")
        assert status == 200
        assert "left by a process that is gone" in serve.log()
    finally:
        if orphan.poll() is None:
            orphan.kill()


def start_orphan_postgres(data_dir: Path) -> subprocess.Popen[bytes]:
    """A postgres on ``data_dir`` whose recorded owner is a process that no longer exists."""
    from csms.store.embedded import SYSTEM_USER, EmbeddedPostgres, _bin_dir

    embedded = EmbeddedPostgres(data_dir)
    orphan = subprocess.Popen(
        [str(_bin_dir() / "postgres"), "-D", str(embedded.pgdata), "-h", "", "-k",
         str(embedded.socket_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        user=SYSTEM_USER if os.geteuid() == 0 else None,
    )
    gone = subprocess.Popen(["true"])
    gone.wait()
    (data_dir / "postgres.owner").write_text(str(gone.pid))
    deadline = time.monotonic() + 20
    while not (embedded.pgdata / "postmaster.pid").exists() or postmaster_pid(data_dir) != orphan.pid:
        assert time.monotonic() < deadline, "the orphan postgres did not start"
        time.sleep(0.05)
    return orphan


async def test_with_a_configured_database_csms_waits_for_it_and_reconnects(tmp_path: Path) -> None:
    """``CSMS_DATABASE_URL``: csms does not run the server, so it cannot restart it; it answers
    503 while the server is away, stays alive, and uses it again once it is back."""
    from csms.store.embedded import EmbeddedPostgres

    database = EmbeddedPostgres(tmp_path / "external")
    url = await database.start()
    try:
        serve = Serve(tmp_path, extra={"database_url": url})
        cli(serve.env, "operator", "add", "--email", OPERATOR[0], "--password", OPERATOR[1])
        serve.start()
        try:
            server = await serve.handle()
            database.stop()  # the database server goes away (fast shutdown)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{server.http_url}/api/v1/charge-points",
                                    headers=server.headers()) as response:
                    assert response.status == 503
                    assert response.headers["Retry-After"].isdigit()
                    assert (await response.json())["error"]["code"] == "database_unavailable"
                async with http.get(f"{server.http_url}/readyz") as response:
                    assert response.status == 503
                async with http.get(f"{server.http_url}/healthz") as response:
                    assert response.status == 200  # alive: nothing a restart would fix
            await database.start()
            await wait_until(lambda: ready(server.http_url), 15)
            status, _ = await server.request("GET", "/api/v1/charge-points")
            assert status == 200
        finally:
            assert serve.process is not None
            serve.process.terminate()
            serve.process.wait(30)
    finally:
        database.stop()
