"""Does pricing one charger's session stall the others?

A real ``csms serve`` (embedded PostgreSQL, free loopback ports) gets a booking through the API;
charger A takes the ReserveNow and starts charging with the code; charger B sends Heartbeats
back to back. Then A sends a StopTransaction whose ``transactionData`` carries a sample dated
year 1000 (a charger whose clock was reset), and the benchmark prints how long that Stop took
and B's Heartbeat round trips meanwhile.

``--before REV`` runs the same against the csms of a git revision (``git archive`` into a temp
directory, imported first on PYTHONPATH) in the same run, for a before/after comparison:

    .venv/bin/python benchmarks/stop_stall.py --before 4bf8a20
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from harness import Harness, ServerOptions
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TARIFF = {
    "currency": "EUR", "reservation_fee_per_hour": "1.00", "session_fee": "0.50",
    "periods": [  # time of use: the wall clock crosses a price change three times a day
        {"days": DAYS, "start": "00:00", "end": "07:00", "energy_price_per_kwh": "0.25",
         "time_price_per_hour": "0"},
        {"days": DAYS, "start": "07:00", "end": "22:00", "energy_price_per_kwh": "0.45",
         "time_price_per_hour": "1.00"},
        {"days": DAYS, "start": "22:00", "end": "24:00", "energy_price_per_kwh": "0.25",
         "time_price_per_hour": "0"},
    ],
}
ANSWERS: dict[str, dict[str, Any]] = {
    "GetConfiguration": {"configurationKey": [
        {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,Reservation"}]},
    "ReserveNow": {"status": "Accepted"},
    "CancelReservation": {"status": "Accepted"},
}


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Charger:
    """Answers the CSMS's calls from :data:`ANSWERS` while sending its own."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.ids = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.socket:
            frame = orjson.loads(text)
            if frame[0] == 2:
                answer = ANSWERS.get(frame[2], {})
                await self.socket.send(orjson.dumps([3, frame[1], answer]).decode())
            elif frame[1] in self.pending:
                self.pending.pop(frame[1]).set_result(frame)

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        self.ids += 1
        message_id = str(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[message_id] = future
        await self.socket.send(orjson.dumps([2, message_id, action, payload]).decode())
        frame = await asyncio.wait_for(future, 120)
        assert frame[0] == 3, frame
        return frame[2]


async def api(http: aiohttp.ClientSession, method: str, url: str, token: str = "",
              **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, headers=headers, **kwargs) as response:
        body = await response.json(content_type=None)
        assert response.status in (200, 201), (response.status, body)
        return body


async def token(http: aiohttp.ClientSession, base: str, email: str) -> str:
    body = await api(http, "POST", f"{base}/api/v1/tokens",
                     json={"email": email, "password": "bench-password"})
    return str(body["token"])


async def setup(http: aiohttp.ClientSession, base: str) -> tuple[str, dict[str, Any]]:
    """A site, two chargers, a driver with a booking on A starting now: (driver token, booking)."""
    operator = await token(http, base, "operator@bench.local")
    site = await api(http, "POST", f"{base}/api/v1/sites", operator,
                     json={"name": "Bench", "timezone": "Europe/Berlin"})
    await api(http, "PUT", f"{base}/api/v1/sites/{site['id']}/tariff", operator, json=TARIFF)
    for cp_id in ("STALL-A", "STALL-B"):
        await api(http, "POST", f"{base}/api/v1/charge-points", operator, json={
            "id": cp_id, "site_id": site["id"],
            "connectors": [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 22}]})
    await api(http, "POST", f"{base}/api/v1/users",
              json={"email": "driver@bench.local", "password": "bench-password"})
    driver = await token(http, base, "driver@bench.local")
    start = datetime.now(UTC).replace(microsecond=0)
    booking = await api(http, "POST", f"{base}/api/v1/reservations", driver, json={
        "charge_point_id": "STALL-A", "connector_id": 1, "start": stamp(start),
        "end": stamp(start + timedelta(hours=1))})
    return driver, booking


async def measure(harness: Harness) -> dict[str, float]:
    base = f"http://127.0.0.1:{harness.http_port}"
    ocpp = f"ws://127.0.0.1:{harness.ocpp_port}/ocpp"
    async with aiohttp.ClientSession() as http:
        driver, booking = await setup(http, base)
        a = Charger(await connect(f"{ocpp}/STALL-A", subprotocols=["ocpp1.6"]))  # type: ignore[list-item]
        b = Charger(await connect(f"{ocpp}/STALL-B", subprotocols=["ocpp1.6"]))  # type: ignore[list-item]
        for _ in range(200):  # until the reservation is on the charger
            view = await api(http, "GET", f"{base}/api/v1/reservations/{booking['id']}", driver)
            if view["status"] == "active":
                break
            await asyncio.sleep(0.05)
        begun = datetime.now(UTC)
        started = await a.call("StartTransaction", {
            "connectorId": 1, "idTag": booking["code"], "meterStart": 0,
            "timestamp": stamp(begun), "reservationId": booking["id"]})
        await a.call("MeterValues", {"connectorId": 1, "transactionId": started["transactionId"],
            "meterValue": [{"timestamp": "1000-01-01T00:00:00Z",
                            "sampledValue": [{"value": "10"}]}]})
        round_trips: list[float] = []
        stopping = asyncio.ensure_future(a.call("StopTransaction", {
            "transactionId": started["transactionId"], "meterStop": 5000,
            "timestamp": stamp(begun + timedelta(seconds=2)), "reason": "Local",
            "transactionData": [{"timestamp": "1000-01-01T00:00:00Z",
                                 "sampledValue": [{"value": "10"}]}]}))
        sent_stop = time.perf_counter()
        stop_seconds = 0.0
        while not stopping.done() or len(round_trips) < 20:
            sent = time.perf_counter()
            await b.call("Heartbeat", {})
            round_trips.append(time.perf_counter() - sent)
            if stopping.done() and not stop_seconds:
                stop_seconds = time.perf_counter() - sent_stop
        await stopping
        for _ in range(100):  # the booking as the driver sees it afterwards
            view = await api(http, "GET", f"{base}/api/v1/reservations/{booking['id']}", driver)
            if view["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        for charger in (a, b):
            charger.reader.cancel()
            await charger.socket.close()
    ms = sorted(rt * 1000 for rt in round_trips)
    print(f"  booking {view['status']}, energy {view.get('energy_kwh')} kWh, cost "
          f"{view.get('cost')}, start answered {started['idTagInfo']['status']}")
    return {"stop_s": stop_seconds, "heartbeats": len(ms), "p50_ms": statistics.median(ms),
            "p99_ms": ms[int(0.99 * (len(ms) - 1))], "max_ms": ms[-1]}


def archive(revision: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="csms-before-"))
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "csms", "schemas"],
                         check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as bundle:
        bundle.extractall(target, filter="data")
    # The installed package maps csms.schemas onto schemas/; an archive has it beside csms/.
    (target / "csms" / "schemas").symlink_to(target / "schemas")
    return target


def run(source: Path | None) -> dict[str, float]:
    harness = Harness.create()
    here = os.getcwd()
    # ``python -m`` imports from the working directory first: run the server from its tree.
    os.chdir(source or ROOT)
    try:
        env = {"CSMS_LOG_LEVEL": "WARNING", "CSMS_SCHEDULER_POLL_SECONDS": "0.05"}
        command = [sys.executable, "-m", "csms", "operator", "add",
                   "--email", "operator@bench.local", "--password", "bench-password"]
        subprocess.run(command, check=True, capture_output=True, env={
            **os.environ, **env, "CSMS_DATABASE_URL": harness.database_url,
            **({"PYTHONPATH": str(source)} if source else {})})
        harness.start_server(ServerOptions(source=source, env=env))
        return asyncio.run(measure(harness))
    finally:
        os.chdir(here)
        harness.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="also run the csms of this git revision")
    args = parser.parse_args()
    print(f"cpu: {_cpu_model()}")
    rows = [("this checkout", run(None))]
    if args.before:
        rows.append((f"before ({args.before})", run(archive(args.before))))
    print(f"{'server':<22} {'Stop s':>8} {'HBs':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>9}")
    for name, r in rows:
        print(f"{name:<22} {r['stop_s']:>8.3f} {r['heartbeats']:>6.0f} {r['p50_ms']:>8.2f}"
              f" {r['p99_ms']:>8.2f} {r['max_ms']:>9.1f}")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
