"""The changes mode of the booking benchmark (see ``booking_load.py``): drivers change their
bookings' windows with ``PATCH /api/v1/reservations/{id}``.

* Uncontended: each driver has one booking on a connector of its own and stretches its end
  back and forth (+15 / +30 min) as fast as answers come: changes/s and latency, every answer
  must be 200.
* Contention: on each contended connector two drivers hold 30-min bookings with a 30-min gap
  between them; the first keeps moving its end into the gap, the second its start, by random
  5-minute steps (and back out), so the two keep colliding: 200 vs 409 ``slot_taken``, no 5xx,
  and then a check in the database that no two live bookings of a connector hold overlapping
  time.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import orjson
from booking_book import band_start, book_request, measured_bookings
from booking_common import (
    CROWD_LIMITS,
    base_url,
    print_phase,
    print_seed,
    rfc3339,
    seed_spec,
    start_server,
)
from booking_http import Request, Sample, driver_tokens, new_session, send
from booking_seed import Connector, seed
from booking_stats import latency_line
from harness import Harness

SLOT = timedelta(minutes=30)
STEP = timedelta(minutes=5)
LIVE = "('booked', 'active', 'charging')"
HELD_OVERLAPS_SQL = f"""
SELECT count(*) FROM reservations a JOIN reservations b
  ON a.charge_point_id = b.charge_point_id AND a.connector_id = b.connector_id
 AND a.id < b.id AND a.held && b.held
WHERE a.status IN {LIVE} AND b.status IN {LIVE}"""


def change_request(token: str, reservation_id: int, **window: datetime) -> Request:
    body = {name: rfc3339(moment) for name, moment in window.items()}
    return Request("PATCH", f"/api/v1/reservations/{reservation_id}", token, body=body)


def outcome(sample: Sample, body: bytes) -> str:
    """``ok`` for a 200, else the error code (or the start of the body)."""
    if sample.status == 200:
        return "ok"
    try:
        return str(orjson.loads(body).get("error", {}).get("code"))
    except (orjson.JSONDecodeError, AttributeError):
        return body[:80].decode(errors="replace")


Slot = tuple[Connector, datetime, datetime]


async def book_one(session: aiohttp.ClientSession, base: str, token: str, slot: Slot) -> int:
    sample = await send(session, base, book_request(token, slot), lambda s, b: orjson.loads(b))
    if sample.status != 201:
        raise RuntimeError(f"could not book {slot}: {sample.status} {sample.info}")
    return int(sample.info["id"])


def stretching(token: str, reservation_id: int, start: datetime) -> Iterator[Request]:
    """End at +15 min, then +30, over and over: every change is free and succeeds."""
    ends = (start + SLOT + timedelta(minutes=15), start + SLOT + SLOT)
    for n in range(1_000_000):
        yield change_request(token, reservation_id, end=ends[n % 2])


def colliding(
    token: str, reservation_id: int, start: datetime, first: bool, rng: random.Random
) -> Iterator[Request]:
    """The first booking's end, or the second's start, to a random point of the gap."""
    gap_start, gap_end = start + SLOT, start + 2 * SLOT
    for _ in range(1_000_000):
        steps = rng.randint(0, 6)
        if first:
            yield change_request(token, reservation_id, end=gap_start + steps * STEP)
        else:
            yield change_request(token, reservation_id, start=gap_end - steps * STEP)


def print_outcomes(samples: Sequence[Sample]) -> None:
    counts = Counter(str(s.info) for s in samples)
    print(f"  answers: {dict(counts.most_common())}")
    for name in ("ok", "slot_taken"):
        chosen = [s.seconds for s in samples if s.info == name]
        if chosen:
            print(f"  {name} latency {latency_line(chosen)}")


async def uncontended(
    session: aiohttp.ClientSession, args: argparse.Namespace, harness: Harness,
    tokens: list[str], connectors: Sequence[Connector], start: datetime,
) -> None:  # fmt: skip
    base = base_url(harness)
    queues = []
    for token, connector in zip(tokens, connectors, strict=False):
        reservation_id = await book_one(session, base, token, (connector, start, start + SLOT))
        queues.append(stretching(token, reservation_id, start))
    samples, elapsed, _, cpu = await measured_bookings(
        session, harness, queues, args.phase_seconds, outcome
    )
    print_phase(f"changes, own connector each, {len(queues)} drivers", samples, elapsed)
    print(f"  changes/s {sum(s.info == 'ok' for s in samples) / elapsed:.1f}")
    print_outcomes(samples)
    print("  " + cpu)


async def contention(
    session: aiohttp.ClientSession, args: argparse.Namespace, harness: Harness,
    tokens: list[str], connectors: Sequence[Connector], start: datetime,
) -> None:  # fmt: skip
    base, rng = base_url(harness), random.Random(args.seed + 3)
    queues = []
    for n, connector in enumerate(connectors):
        first_token, second_token = tokens[2 * n], tokens[2 * n + 1]
        first = await book_one(session, base, first_token, (connector, start, start + SLOT))
        second_start = start + 2 * SLOT
        second = await book_one(
            session, base, second_token, (connector, second_start, second_start + SLOT)
        )
        queues.append(colliding(first_token, first, start, True, rng))
        queues.append(colliding(second_token, second, start, False, rng))
    samples, elapsed, _, cpu = await measured_bookings(
        session, harness, queues, args.phase_seconds, outcome
    )
    label = f"changes, contention: 2 drivers x {len(connectors)} connectors into one gap each"
    print_phase(label, samples, elapsed)
    print_outcomes(samples)
    print("  " + cpu)
    connection = await asyncpg.connect(harness.database_url)
    try:
        overlaps = await connection.fetchval(HELD_OVERLAPS_SQL)
    finally:
        await connection.close()
    print(f"  database: {overlaps} pairs of live bookings holding overlapping time")


async def run_changes(args: argparse.Namespace, harness: Harness) -> None:
    spec = seed_spec(args)
    now = datetime.now(UTC)
    seeded = await seed(harness.database_url, spec, now)
    print_seed(spec, seeded)
    await start_server(args, harness, CROWD_LIMITS)
    pairs = min(args.contention_connectors, args.drivers // 2)
    contended, rest = seeded.connectors[:pairs], seeded.connectors[pairs:]
    start = band_start(now)
    async with new_session(args.drivers) as session:
        tokens = await driver_tokens(session, base_url(harness), "change-driver", args.drivers)
        await uncontended(session, args, harness, tokens, rest, start)
        await contention(session, args, harness, tokens, contended, start)
