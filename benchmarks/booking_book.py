"""The booking mode of the booking benchmark (see ``booking_load.py``)."""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson
from booking_common import (
    CROWD_LIMITS,
    base_url,
    print_phase,
    print_seed,
    rfc3339,
    seed_spec,
    start_server,
)
from booking_http import Inspect, Request, Sample, driver_tokens, new_session, run_workers
from booking_seed import QUARTER, Connector, floor_quarter, seed
from booking_stats import CpuMeter, latency_line
from harness import Harness

Slot = tuple[Connector, datetime, datetime]
SLOT = timedelta(minutes=30)
SLOTS_PER_CONNECTOR = 4  # 2 h of the 3 h free band before the seeded bookings
LIVE = "('booked', 'active', 'charging')"
OVERLAPS_SQL = f"""
SELECT count(*) FROM reservations a JOIN reservations b
  ON a.charge_point_id = b.charge_point_id AND a.connector_id = b.connector_id
 AND a.id < b.id AND a.during && b.during
WHERE a.status IN {LIVE} AND b.status IN {LIVE}"""
WINNERS_SQL = f"""
SELECT charge_point_id, connector_id, count(*) AS live FROM reservations
WHERE status IN {LIVE} AND during && tstzrange($1, $2) AND user_id <> $3
  AND charge_point_id = ANY($4::text[])
GROUP BY charge_point_id, connector_id"""


def band_start(now: datetime) -> datetime:
    """First quarter hour at least 1 h ahead: booked windows are never due during the run."""
    return floor_quarter(now + timedelta(hours=1)) + QUARTER


def throughput_slots(connectors: Sequence[Connector], now: datetime) -> list[Slot]:
    begin = band_start(now)
    return [
        (c, begin + k * SLOT, begin + (k + 1) * SLOT)
        for c in connectors
        for k in range(SLOTS_PER_CONNECTOR)
    ]


def contention_slots(connectors: Sequence[Connector], now: datetime) -> list[Slot]:
    """Three 30-min windows per connector, 10 min apart: every two of them overlap."""
    begin = band_start(now)
    offsets = [timedelta(minutes=m) for m in (0, 10, 20)]
    return [(c, begin + o, begin + o + SLOT) for c in connectors for o in offsets]


def book_request(token: str, slot: Slot) -> Request:
    connector, start, end = slot
    body = {
        "charge_point_id": connector.charge_point_id,
        "connector_id": connector.connector_id,
        "start": rfc3339(start),
        "end": rfc3339(end),
    }
    return Request("POST", "/api/v1/reservations", token, body=body, tag=slot)


def answer_of(sample: Sample, body: bytes) -> Any:
    """201: (id, status, code); otherwise the error code (or the start of the body)."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:120].decode(errors="replace")
    if sample.status == 201:
        return answer["id"], answer["status"], answer["code"]
    return answer.get("error", {}).get("code", str(answer)[:120])


async def id_sequence(connection: asyncpg.Connection) -> int:
    """Last value of the reservations' id sequence: every INSERT attempt takes one."""
    name = await connection.fetchval("SELECT pg_get_serial_sequence('reservations', 'id')")
    return int(await connection.fetchval(f"SELECT last_value FROM {name}"))


def print_answers(samples: Sequence[Sample]) -> None:
    created = [s for s in samples if s.status == 201]
    bad = [s for s in created if s.info[1] != "booked" or not str(s.info[2]).isdigit()]
    others = Counter((s.status, str(s.info)) for s in samples if s.status != 201)
    print(f"  201 latency {latency_line([s.seconds for s in created])}")
    print(f"  201 answers not 'booked' with a numeric code: {len(bad)}")
    if others:
        print(f"  other answers: {dict(others.most_common(5))}")


async def measured_bookings(
    session: aiohttp.ClientSession, harness: Harness, queues: Sequence[Iterable[Request]],
    seconds: float, inspect: Inspect = answer_of,
) -> tuple[list[Sample], float, int, str]:  # fmt: skip
    """Run the queues; (samples, elapsed, INSERT attempts, CPU line)."""
    meter = CpuMeter(harness)
    connection = await asyncpg.connect(harness.database_url)
    try:
        first, before = await id_sequence(connection), meter.snapshot()
        samples, elapsed = await run_workers(session, base_url(harness), queues, seconds, inspect)
        after = meter.snapshot()
        attempts = await id_sequence(connection) - first
    finally:
        await connection.close()
    return samples, elapsed, attempts, meter.describe(before, after)


async def throughput(
    session: aiohttp.ClientSession, args: argparse.Namespace, harness: Harness,
    tokens: list[str], slots: list[Slot],
) -> None:  # fmt: skip
    """Each driver books its own share of distinct free slots, back to back."""
    random.Random(args.seed).shuffle(slots)
    queues = [[book_request(t, s) for s in slots[i :: len(tokens)]] for i, t in enumerate(tokens)]
    samples, elapsed, attempts, cpu = await measured_bookings(
        session, harness, queues, args.phase_seconds
    )
    created = sum(s.status == 201 for s in samples)
    failed = sum(s.status >= 500 or s.status == 0 for s in samples)
    print_phase(f"booking, distinct free slots, {len(tokens)} drivers", samples, elapsed)
    print(f"  bookings/s {created / elapsed:.1f}; 5xx or no answer: {failed}")
    print_answers(samples)
    retried = attempts - created
    print(f"  INSERT attempts (id sequence) {attempts} for {created} bookings: "
          f"{retried} retried codes (already used by a live booking)")  # fmt: skip
    print("  " + cpu)


async def check_database(harness: Harness, slots: list[Slot], owner: int, created: int) -> None:
    """No overlapping live bookings anywhere; exactly one winner per contended connector."""
    ids = sorted({c.charge_point_id for c, _, _ in slots})
    band = (min(s for _, s, _ in slots), max(e for _, _, e in slots))
    connection = await asyncpg.connect(harness.database_url)
    try:
        overlaps = await connection.fetchval(OVERLAPS_SQL)
        rows = await connection.fetch(WINNERS_SQL, *band, owner, ids)
        live = await connection.fetchval("SELECT count(*) FROM reservations WHERE status IN "
                                         + LIVE)  # fmt: skip
    finally:
        await connection.close()
    targets = {(c.charge_point_id, c.connector_id) for c, _, _ in slots}
    winners = {(r["charge_point_id"], r["connector_id"]): r["live"] for r in rows}
    print(f"  database: {overlaps} overlapping pairs among {live} live bookings; "
          f"{len(winners)} of {len(targets)} contended connectors booked, "
          f"{sum(winners.values())} live bookings on them (201s: {created}), "
          f"max per connector {max(winners.values(), default=0)}")  # fmt: skip


async def contention(
    session: aiohttp.ClientSession, args: argparse.Namespace, harness: Harness,
    tokens: list[str], slots: list[Slot],
) -> None:  # fmt: skip
    """Every driver tries every candidate window, each in its own random order."""
    rng = random.Random(args.seed + 2)
    queues = []
    for token in tokens:
        order = slots[:]
        rng.shuffle(order)
        queues.append([book_request(token, s) for s in order])
    samples, elapsed, _, cpu = await measured_bookings(session, harness, queues, args.phase_seconds)
    label = f"booking, contention on {len(slots)} overlapping windows, {len(tokens)} drivers"
    print_phase(label, samples, elapsed)
    print_answers(samples)
    print("  " + cpu)
    owner = await seed_owner(harness)
    await check_database(harness, slots, owner, sum(s.status == 201 for s in samples))


async def seed_owner(harness: Harness) -> int:
    connection = await asyncpg.connect(harness.database_url)
    try:
        return int(await connection.fetchval(
            "SELECT id FROM users WHERE email = 'seed-owner@bench.invalid'"))  # fmt: skip
    finally:
        await connection.close()


async def run_booking(args: argparse.Namespace, harness: Harness) -> None:
    spec = seed_spec(args)
    now = datetime.now(UTC)
    seeded = await seed(harness.database_url, spec, now)
    print_seed(spec, seeded)
    await start_server(args, harness, CROWD_LIMITS)
    contended = seeded.connectors[: args.contention_connectors]
    rest = seeded.connectors[args.contention_connectors :]
    async with new_session(args.drivers) as session:
        tokens = await driver_tokens(session, base_url(harness), "booking-driver", args.drivers)
        await throughput(session, args, harness, tokens, throughput_slots(rest, now))
        await contention(session, args, harness, tokens, contention_slots(contended, now))
