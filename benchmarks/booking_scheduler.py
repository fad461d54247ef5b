"""The scheduler mode of the booking benchmark (see ``booking_load.py``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from booking_book import answer_of, book_request
from booking_common import base_url, print_phase, print_seed, seed_spec, start_server
from booking_http import Sample, driver_tokens, new_session, run_workers
from booking_seed import Connector, seed
from booking_stats import CpuMeter, latency_line
from harness import Harness

HERE = Path(__file__).resolve().parent
WINDOW = timedelta(minutes=30)
BOOKING_DRIVERS = 20
READY_TIMEOUT = 300.0
#: After the last window start: how long the scheduler gets to make every booking active.
SETTLE_SECONDS = 180.0
POLL_SECONDS = 0.1


@dataclass
class Fleet:
    process: asyncio.subprocess.Process
    out: Path
    log: Path
    connected: int
    failed: int


async def start_fleet(args: argparse.Namespace, harness: Harness, ids: list[str]) -> Fleet:
    """The charger process (``booking_chargers.py``), once it says all chargers are booted."""
    ids_file, out, log = (harness.workdir / n for n in ("ids.json", "fleet.json", "fleet.log"))
    ids_file.write_text(json.dumps(ids))
    deadline = args.lead_in + 60 + args.spread + SETTLE_SECONDS
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "booking_chargers.py"),
            "--url", f"ws://127.0.0.1:{harness.ocpp_port}/ocpp", "--ids", str(ids_file),
            "--out", str(out), "--expect", str(args.scheduler_bookings),
            "--deadline", str(deadline),
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    fleet = Fleet(process, out, log, 0, 0)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)
    if not line.startswith(b"ready"):
        raise RuntimeError(f"charger process: {line!r}; {log.read_text()[-2000:]}")
    fleet.connected, fleet.failed = (int(x) for x in line.split()[1:3])
    return fleet


async def stop_fleet(fleet: Fleet, timeout: float) -> dict[str, Any]:
    """Wait for the charger process to finish (kill it after ``timeout``); its results."""
    try:
        await asyncio.wait_for(fleet.process.wait(), timeout)
    except TimeoutError:
        fleet.process.kill()
        await fleet.process.wait()
    if not fleet.out.exists():
        return {"arrivals": [], "calls": {}, "errors": [fleet.log.read_text()[-2000:]]}
    result: dict[str, Any] = orjson.loads(fleet.out.read_bytes())
    return result


def window_starts(count: int, lead_in: float, spread: float) -> list[datetime]:
    """Starts spread evenly over ``spread`` s from the next full minute >= ``lead_in`` ahead."""
    soon = datetime.now(UTC) + timedelta(seconds=lead_in)
    first = soon.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return [first + timedelta(seconds=spread * i / count) for i in range(count)]


async def book_windows(
    args: argparse.Namespace, harness: Harness, connectors: list[Connector],
    starts: list[datetime],
) -> list[Sample]:  # fmt: skip
    """Book one window per connector through the API; all must be done before the first."""
    base = base_url(harness)
    async with new_session(BOOKING_DRIVERS) as session:
        tokens = await driver_tokens(session, base, "scheduler-driver", BOOKING_DRIVERS)
        requests = [
            book_request(tokens[i % len(tokens)], (c, start, start + WINDOW))
            for i, (c, start) in enumerate(zip(connectors, starts, strict=True))
        ]
        queues = [requests[i :: len(tokens)] for i in range(len(tokens))]
        seconds = (starts[0] - datetime.now(UTC)).total_seconds()
        samples, elapsed = await run_workers(session, base, queues, seconds, answer_of)
    print_phase("booking the windows", samples, elapsed)
    left = (starts[0] - datetime.now(UTC)).total_seconds()
    print(f"  booked {sum(s.status == 201 for s in samples)} of {len(requests)}, "
          f"{left:.1f} s before the first window opens")  # fmt: skip
    return samples


async def watch_active(url: str, ids: list[int], until: float) -> float | None:
    """Poll the database until every booking is ``active``; the wall time it was seen."""
    connection = await asyncpg.connect(url)
    try:
        while time.time() < until:
            active = await connection.fetchval(
                "SELECT count(*) FROM reservations WHERE id = ANY($1) AND status = 'active'", ids
            )
            if active == len(ids):
                return time.time()
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await connection.close()
    return None


def print_lags(result: dict[str, Any], starts: dict[int, datetime]) -> None:
    arrivals = result["arrivals"]
    lags = [t - starts[p["reservationId"]].timestamp() for t, _, p in arrivals
            if p["reservationId"] in starts]  # fmt: skip
    unique = {p["reservationId"] for _, _, p in arrivals}
    print(f"ReserveNow arrived: {len(arrivals)} ({len(unique)} distinct bookings of "
          f"{len(starts)}), early: {sum(lag < 0 for lag in lags)}, "
          f"CALLs seen by the chargers: {result['calls']}")  # fmt: skip
    print(f"  lag (arrival - window start): {latency_line(lags, 's')}")
    if lags:
        print(f"  min {min(lags):.3f} s, mean {sum(lags) / len(lags):.3f} s")
        per_second = Counter(math.floor(lag) for lag in lags)
        print(f"  arrivals by whole seconds of lag: {dict(sorted(per_second.items()))}")
    if result["errors"]:
        print(f"  charger errors: {result['errors'][:3]}")


async def print_database(url: str, starts: dict[int, datetime]) -> None:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            """SELECT id, status, dispatched_at, lower(during) AS start FROM reservations
               WHERE id = ANY($1)""",
            list(starts),
        )
    finally:
        await connection.close()
    statuses = Counter(r["status"] for r in rows)
    gaps = [(r["dispatched_at"] - r["start"]).total_seconds() for r in rows if r["dispatched_at"]]
    print(f"database: statuses {dict(statuses)}; dispatched_at - window start "
          f"{latency_line(gaps, 's')}")  # fmt: skip


async def measure(
    args: argparse.Namespace, harness: Harness, fleet: Fleet, starts: dict[int, datetime]
) -> None:
    first, last = min(starts.values()).timestamp(), max(starts.values()).timestamp()
    await asyncio.sleep(max(0.0, first - time.time() - 2))
    meter = CpuMeter(harness, (fleet.process.pid,))
    before = meter.snapshot()
    all_active = await watch_active(harness.database_url, list(starts), last + SETTLE_SECONDS)
    cpu = meter.describe(before, meter.snapshot())
    result = await stop_fleet(fleet, timeout=60)
    print_lags(result, starts)
    if all_active is None:
        print(f"NOT all active within {SETTLE_SECONDS:.0f} s of the last window start")
    else:
        print(f"all {len(starts)} active in the database {all_active - first:.2f} s after the "
              f"first window start, {all_active - last:.2f} s after the last")  # fmt: skip
    await print_database(harness.database_url, starts)
    print(cpu)


async def run_scheduler(args: argparse.Namespace, harness: Harness) -> None:
    chargers = args.scheduler_chargers
    spec = seed_spec(args, sites=math.ceil(chargers / 50), chargers_per_site=min(50, chargers),
                     bookings=0)  # fmt: skip
    seeded = await seed(harness.database_url, spec)
    print_seed(spec, seeded)
    connectors = seeded.connectors[: args.scheduler_bookings]
    await start_server(args, harness)
    fleet = await start_fleet(args, harness, sorted({c.charge_point_id for c in connectors}))
    try:
        print(f"chargers connected and booted: {fleet.connected} (failed {fleet.failed})")
        starts = window_starts(len(connectors), args.lead_in, args.spread)
        print(f"{len(connectors)} windows open from {starts[0]:%H:%M:%S.%f} to "
              f"{starts[-1]:%H:%M:%S.%f} UTC")  # fmt: skip
        samples = await book_windows(args, harness, connectors, starts)
        booked = {s.info[0]: s.request.tag[1] for s in samples if s.status == 201}  # type: ignore[index]
        await measure(args, harness, fleet, booked)
    finally:
        if fleet.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                fleet.process.kill()
            await fleet.process.wait()
