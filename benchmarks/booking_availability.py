"""The availability mode of the booking benchmark (see ``booking_load.py``)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from booking_common import base_url, print_phase, print_seed, rfc3339, seed_spec, server_options
from booking_http import Request, Sample, driver_token, new_session, run_workers
from booking_seed import SeedSpec, floor_quarter, random_place, seed
from booking_stats import CpuMeter, percentile
from harness import Harness

from csms.booking.search import (
    BY_SITE_SQL,
    NEAR_CONNECTORS_SQL,
    NEAR_SITES_SQL,
    Near,
    Search,
    by_site_arguments,
    near_connectors_arguments,
    near_sites_arguments,
)
from csms.domain.geo import Point

#: The core query before paging and the search near a place (``free_connectors`` of commit
#: 842aea4, copied), to compare with what csms asks now (imported: never out of step).
BEFORE_SQL = """
SELECT c.charge_point_id, c.connector_id, c.connector_type, c.max_power_kw,
       s.id AS site_id, s.name AS site_name, s.timezone,
       t.currency, t.reservation_fee_per_hour, t.session_fee, t.periods
FROM connectors c
JOIN charge_points cp ON cp.id = c.charge_point_id
JOIN sites s ON s.id = cp.site_id
JOIN tariffs t ON t.site_id = s.id
WHERE cp.registration_status = 'accepted' AND c.connector_type IS NOT NULL
  AND NOT c.out_of_service
 AND ($3::bigint IS NULL OR s.id = $3)
              AND ($4::text IS NULL OR lower(c.connector_type) = lower($4))
              AND ($5::numeric IS NULL OR c.max_power_kw >= $5)
              AND NOT EXISTS (
                  SELECT 1 FROM reservations r
                  WHERE r.charge_point_id = c.charge_point_id AND r.connector_id = c.connector_id
                    AND r.status IN ('booked', 'active', 'charging')
                    AND r.during && tstzrange($1, $2))
              AND ($1 > $7::timestamptz + interval '15 minutes'
                   OR (cp.connected_node IS NOT NULL AND c.status IN ('Available', 'Reserved')))
            ORDER BY s.id, c.charge_point_id, c.connector_id
            LIMIT $6"""
BEFORE_LIMIT = 500  # The cap before paging (csms.booking.service.MAX_RESULTS then).
NEAR_RADIUS_KM = 25.0
NAMES = ("Relation Name", "Index Name")
EXPLAIN_TIMEOUT = "60s"
GENERIC_SAMPLES = 3


def random_window(rng: random.Random, now: datetime, days: int) -> tuple[datetime, datetime]:
    """1-3 h, on quarter hours, starting between now + 30 min and the end of the horizon."""
    latest = days * 24 * 60 - 4 * 60  # Room for the clock to move on during the run.
    start = floor_quarter(now + timedelta(minutes=rng.randint(30, latest)))
    return start, start + timedelta(minutes=15 * rng.randint(4, 12))


@dataclass(frozen=True)
class Phase:
    """One kind of request: a label and what it adds to the window's query parameters."""

    label: str
    extra: Callable[[random.Random], dict[str, str]]


def phases(spec: SeedSpec, site_ids: Sequence[int]) -> list[Phase]:
    def near(rng: random.Random) -> dict[str, str]:
        latitude, longitude = random_place(rng, spec.region, spec.region_km)
        return {"near": f"{latitude:.5f},{longitude:.5f}", "radius_km": str(NEAR_RADIUS_KM)}

    return [
        Phase("no site filter, limit=500", lambda rng: {"limit": "500"}),
        Phase("no site filter, default page (50)", lambda rng: {}),
        Phase("with site_id", lambda rng: {"site_id": str(rng.choice(site_ids))}),
        Phase(f"near, radius_km={NEAR_RADIUS_KM:g}, default page (50)", near),
        Phase(
            f"near, radius_km={NEAR_RADIUS_KM:g}, limit=500", lambda r: {**near(r), "limit": "500"}
        ),
    ]


def window_requests(token: str, rng: random.Random, phase: Phase, count: int) -> list[Request]:
    requests = []
    for _ in range(count):
        start, end = random_window(rng, datetime.now(UTC), 30)
        params = {"start": rfc3339(start), "end": rfc3339(end), **phase.extra(rng)}
        requests.append(Request("GET", "/api/v1/availability", token, params=params))
    return requests


def count_connectors(sample: Sample, body: bytes) -> int:
    """Connectors in an answer (each item has one ``charge_point_id``); -1 if not a 200."""
    return body.count(b'"charge_point_id"') if sample.status == 200 else -1


def print_sizes(samples: Sequence[Sample]) -> None:
    counts = [s.info for s in samples if s.info is not None and s.info >= 0]
    sizes = [s.size for s in samples if s.status == 200]
    if not counts:
        print("  no 200 answers")
        return
    print(f"  answer: connectors p50 {percentile(counts, 0.5):.0f} (min {min(counts)}, max "
          f"{max(counts)}), bytes p50 {percentile(sizes, 0.5) / 1024:.0f} KiB "
          f"(max {max(sizes) / 1024:.0f} KiB)")  # fmt: skip


async def run_phase(
    args: argparse.Namespace, harness: Harness, token: str, phase: Phase, workers: int, seed: int
) -> None:
    """A warm-up, then ``args.requests`` requests of ``phase`` by ``workers`` closed loops."""
    rng = random.Random(seed)
    base = base_url(harness)
    async with new_session(workers) as session:
        warm = iter(window_requests(token, rng, phase, 2 * workers))
        await run_workers(session, base, [warm] * workers, 30.0)
        queue = iter(window_requests(token, rng, phase, args.requests))
        meter = CpuMeter(harness)
        before = meter.snapshot()
        samples, elapsed = await run_workers(
            session, base, [queue] * workers, args.phase_seconds, count_connectors
        )
    print_phase(f"availability, {phase.label}, concurrency {workers}", samples, elapsed)
    print_sizes(samples)
    print("  " + meter.describe(before, meter.snapshot()))


async def serve(args: argparse.Namespace, harness: Harness, source: Path | None) -> str:
    """Start ``csms serve`` (from ``source`` when given); a signed-in driver's token."""
    options = server_options(args)
    if source is not None:
        options = dataclasses.replace(options, source=source)
    await asyncio.to_thread(harness.start_server, options)
    print(options.describe())
    print(f"server: pid {harness.pid}, http {harness.http_port}, ocpp {harness.ocpp_port}")
    async with new_session(1) as session:
        email = f"availability-driver-{harness.pid}@bench.invalid"
        return await driver_token(session, base_url(harness), email)


async def http_phases(
    args: argparse.Namespace, harness: Harness, spec: SeedSpec, site_ids: list[int]
) -> None:
    """With ``--before-source``: the search without a site filter by that tree first (the
    answer then was at most 500 connectors), on the same data; then every phase by this one."""
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    if args.before_source:
        token = await serve(args, harness, Path(args.before_source))
        before = Phase("BEFORE (--before-source), no site filter, at most 500", lambda rng: {})
        for workers in concurrencies:
            await run_phase(args, harness, token, before, workers, args.seed)
        await asyncio.to_thread(harness.stop_server)
    token = await serve(args, harness, None)
    for number, phase in enumerate(phases(spec, site_ids)):
        for workers in concurrencies:
            await run_phase(args, harness, token, phase, workers, args.seed + 10 * number)


def literal(value: object) -> str:
    """``value`` as an SQL literal for ``EXECUTE`` (only the kinds these queries take)."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dict):  # The default booking terms: a jsonb literal.
        return "'" + orjson.dumps(value).decode().replace("'", "''") + "'"
    if isinstance(value, list):  # Of ids: an array literal.
        return "'{" + ",".join(str(v) for v in value) + "}'"
    return repr(value) if isinstance(value, float) else str(value)


Values = tuple[Any, ...]
#: A query's parameters for a window (start, end) at ``now``, random choices from ``rng``.
Arguments = Callable[[datetime, datetime, datetime, random.Random], Values]


@dataclass(frozen=True)
class Query:
    """One statement to explain: its SQL, and its parameters for a window at ``now``."""

    name: str
    sql: str
    arguments: Arguments


def queries(spec: SeedSpec, site_ids: Sequence[int]) -> list[Query]:
    def before(start: datetime, end: datetime, now: datetime, rng: random.Random) -> Values:
        return (start, end, None, None, None, BEFORE_LIMIT, now)

    def by_site(site: int | None, limit: int) -> Arguments:
        def arguments(start: datetime, end: datetime, now: datetime, _: random.Random) -> Values:
            return by_site_arguments(Search(start, end, site_id=site, limit=limit), now)

        return arguments

    def near_sites(start: datetime, end: datetime, now: datetime, rng: random.Random) -> Values:
        place = Near(Point(*random_place(rng, spec.region, spec.region_km)), NEAR_RADIUS_KM)
        return near_sites_arguments(Search(start, end, near=place), place)

    def near_connectors(
        start: datetime, end: datetime, now: datetime, rng: random.Random
    ) -> Values:
        # A page's first batch is typically one or two sites (100 connectors each).
        batch = rng.sample(list(site_ids), 2)
        return near_connectors_arguments(Search(start, end), now, batch)

    return [
        Query("BEFORE, no site filter, limit 500", BEFORE_SQL, before),
        Query("by site, no site filter, limit 500", BY_SITE_SQL, by_site(None, 500)),
        Query("by site, no site filter, default page", BY_SITE_SQL, by_site(None, 50)),
        Query("by site, with site_id", BY_SITE_SQL, by_site(site_ids[0], 50)),
        Query(f"near: sites within {NEAR_RADIUS_KM:g} km", NEAR_SITES_SQL, near_sites),
        Query("near: free connectors of 2 sites", NEAR_CONNECTORS_SQL, near_connectors),
    ]


def plan_lines(node: dict[str, Any], depth: int = 0) -> list[str]:
    """A JSON plan as indented lines: node, relation/index, actual rows x loops, time."""
    parts = [node["Node Type"]]
    parts += [f"{key.split()[0].lower()} {node[key]}" for key in NAMES if key in node]
    if "Actual Rows" in node:
        parts.append(f"rows={node['Actual Rows']} loops={node['Actual Loops']} "
                     f"time={node['Actual Total Time']} ms")  # fmt: skip
    else:
        parts.append(f"cost={node['Total Cost']} rows={node['Plan Rows']}")
    lines = ["  " * depth + " ".join(parts)]
    for child in node.get("Plans", []):
        lines += plan_lines(child, depth + 1)
    return lines


def call(query: Query, statement: str, rng: random.Random) -> str:
    now = datetime.now(UTC)
    values = query.arguments(*random_window(rng, now, 30), now, rng)
    return f"EXECUTE {statement}({', '.join(literal(v) for v in values)})"


async def explain_samples(
    connection: asyncpg.Connection, query: Query, statement: str, rng: random.Random, count: int
) -> tuple[list[float], dict[str, Any] | None]:
    """Execution ms of ``count`` random windows, and the last plan (None after a timeout)."""
    executions, plan = [], None
    for _ in range(count):
        explain = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {call(query, statement, rng)}"
        try:
            text = await connection.fetchval(explain)
        except asyncpg.QueryCanceledError:
            return executions, None
        plan = orjson.loads(text)[0]
        executions.append(plan["Execution Time"])
    return executions, plan


async def explain_one(
    connection: asyncpg.Connection, query: Query, statement: str, rng: random.Random, count: int,
    label: str,
) -> None:  # fmt: skip
    """Estimated cost of the plan, then EXPLAIN ANALYZE of ``count`` windows."""
    text = await connection.fetchval(f"EXPLAIN (FORMAT JSON) {call(query, statement, rng)}")
    estimate = orjson.loads(text)[0]
    runs, plan = await explain_samples(connection, query, statement, rng, count)
    timing = f"execution p50 {percentile(runs, 0.5):.1f} ms, max {max(runs):.1f} ms"
    if plan is None:
        timing = f"{len(runs)} done, then one exceeded statement_timeout {EXPLAIN_TIMEOUT}"
    print(f"EXPLAIN ANALYZE {query.name}, {label}: estimated cost "
          f"{estimate['Plan']['Total Cost']:.0f}; {len(runs)} windows, {timing}")  # fmt: skip
    shown = plan["Plan"] if plan is not None else estimate["Plan"]
    print("\n".join("    " + line for line in plan_lines(shown)))


async def explain(
    args: argparse.Namespace, harness: Harness, spec: SeedSpec, site_ids: list[int]
) -> None:
    """Timing of each query in PostgreSQL alone, before and now, on the same data: custom
    plans (values known), and the generic plan a prepared statement may switch to after
    five executions."""
    rng = random.Random(args.seed + 1)
    connection = await asyncpg.connect(harness.database_url)
    try:
        await connection.execute(f"SET statement_timeout = '{EXPLAIN_TIMEOUT}'")
        for number, query in enumerate(queries(spec, site_ids)):
            statement = f"bench_{number}"
            await connection.execute(f"PREPARE {statement} AS {query.sql}")
            for plan_mode, count in (
                ("custom", args.explain_samples),
                ("generic", GENERIC_SAMPLES),
            ):
                await connection.execute(f"SET plan_cache_mode = force_{plan_mode}_plan")
                await explain_one(connection, query, statement, rng, count, f"{plan_mode} plan")
    finally:
        await connection.close()


async def run_availability(args: argparse.Namespace, harness: Harness) -> None:
    spec = seed_spec(args)
    seeded = await seed(harness.database_url, spec)
    print_seed(spec, seeded)
    print(f"sites at random places within {spec.region_km:g} km of {spec.region}")
    await http_phases(args, harness, spec, seeded.site_ids)
    await explain(args, harness, spec, seeded.site_ids)
