"""The availability mode of the booking benchmark (see ``booking_load.py``)."""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from booking_common import base_url, print_phase, print_seed, rfc3339, seed_spec, start_server
from booking_http import Request, Sample, driver_token, new_session, run_workers
from booking_seed import floor_quarter, seed
from booking_stats import CpuMeter, percentile
from harness import Harness

#: ``csms/store/reservations.py``: ``_BOOKABLE`` + the conditions of ``free_connectors``
#: (copied, so this benchmark shows what that code asks PostgreSQL; keep it in step).
CORE_SQL = """
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
                    AND r.status = ANY($7::text[]) AND r.during && tstzrange($1, $2))
              AND ($1 > $8::timestamptz + interval '15 minutes'
                   OR c.status IS NULL OR c.status IN ('Available', 'Reserved'))
            ORDER BY s.id, c.charge_point_id, c.connector_id
            LIMIT $6"""
PARAMETER_TYPES = "timestamptz, timestamptz, bigint, text, numeric, integer, text[], timestamptz"
LIMIT = 500  # csms.services.booking.MAX_RESULTS
NAMES = ("Relation Name", "Index Name")
EXPLAIN_TIMEOUT = "60s"
GENERIC_SAMPLES = 3


def random_window(rng: random.Random, now: datetime, days: int) -> tuple[datetime, datetime]:
    """1-3 h, on quarter hours, starting between now + 30 min and the end of the horizon."""
    latest = days * 24 * 60 - 4 * 60  # Room for the clock to move on during the run.
    start = floor_quarter(now + timedelta(minutes=rng.randint(30, latest)))
    return start, start + timedelta(minutes=15 * rng.randint(4, 12))


def window_requests(
    token: str, rng: random.Random, site_ids: Sequence[int] | None, count: int
) -> list[Request]:
    requests = []
    for _ in range(count):
        start, end = random_window(rng, datetime.now(UTC), 30)
        params = {"start": rfc3339(start), "end": rfc3339(end)}
        if site_ids:
            params["site_id"] = str(rng.choice(site_ids))
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


async def http_phases(args: argparse.Namespace, harness: Harness, site_ids: list[int]) -> None:
    rng = random.Random(args.seed)
    base = base_url(harness)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    async with new_session(max(concurrencies)) as session:
        token = await driver_token(session, base, "availability-driver@bench.invalid")
        for label, sites in (("no site filter", None), ("with site_id", site_ids)):
            for workers in concurrencies:
                warm = iter(window_requests(token, rng, sites, 2 * workers))
                await run_workers(session, base, [warm] * workers, 30.0)
                queue = iter(window_requests(token, rng, sites, args.requests))
                meter = CpuMeter(harness)
                before = meter.snapshot()
                samples, elapsed = await run_workers(
                    session, base, [queue] * workers, args.phase_seconds, count_connectors
                )
                print_phase(f"availability, {label}, concurrency {workers}", samples, elapsed)
                print_sizes(samples)
                print("  " + meter.describe(before, meter.snapshot()))


def literal_call(start: datetime, end: datetime, site: int | None, now: datetime) -> str:
    site_text = "NULL" if site is None else str(site)
    return (
        f"EXECUTE bench_free('{start.isoformat()}', '{end.isoformat()}', {site_text}, NULL, "
        f"NULL, {LIMIT}, '{{booked,active,charging}}', '{now.isoformat()}')"
    )


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


async def explain_samples(
    connection: asyncpg.Connection, rng: random.Random, site: int | None, count: int
) -> tuple[list[float], dict[str, Any] | None]:
    """Execution ms of ``count`` random windows, and the last plan (None after a timeout)."""
    executions, plan = [], None
    for _ in range(count):
        now = datetime.now(UTC)
        call = literal_call(*random_window(rng, now, 30), site, now)
        try:
            text = await connection.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {call}")
        except asyncpg.QueryCanceledError:
            return executions, None
        plan = orjson.loads(text)[0]
        executions.append(plan["Execution Time"])
    return executions, plan


async def explain_mode(
    connection: asyncpg.Connection, rng: random.Random, label: str, site: int | None, count: int
) -> None:
    """Estimated cost of the plan, then EXPLAIN ANALYZE of ``count`` windows."""
    now = datetime.now(UTC)
    call = literal_call(*random_window(rng, now, 30), site, now)
    estimate = orjson.loads(await connection.fetchval(f"EXPLAIN (FORMAT JSON) {call}"))[0]
    runs, plan = await explain_samples(connection, rng, site, count)
    timing = f"execution p50 {percentile(runs, 0.5):.1f} ms, max {max(runs):.1f} ms"
    if plan is None:
        timing = f"{len(runs)} done, then one exceeded statement_timeout {EXPLAIN_TIMEOUT}"
    print(f"EXPLAIN ANALYZE core query, {label}: estimated cost "
          f"{estimate['Plan']['Total Cost']:.0f}; {len(runs)} windows, {timing}")  # fmt: skip
    shown = plan["Plan"] if plan is not None else estimate["Plan"]
    print("\n".join("    " + line for line in plan_lines(shown)))


async def explain(args: argparse.Namespace, harness: Harness, site_ids: list[int]) -> None:
    """Timing of the core query in PostgreSQL alone: custom plans (values known), and the
    generic plan a prepared statement may switch to after five executions."""
    rng = random.Random(args.seed + 1)
    connection = await asyncpg.connect(harness.database_url)
    try:
        await connection.execute(f"SET statement_timeout = '{EXPLAIN_TIMEOUT}'")
        await connection.execute(f"PREPARE bench_free({PARAMETER_TYPES}) AS {CORE_SQL}")
        for plan_mode, count in (("custom", args.explain_samples), ("generic", GENERIC_SAMPLES)):
            await connection.execute(f"SET plan_cache_mode = force_{plan_mode}_plan")
            for label, site in (("no site filter", None), ("with site_id", site_ids[0])):
                await explain_mode(connection, rng, f"{label}, {plan_mode} plan", site, count)
    finally:
        await connection.close()


async def run_availability(args: argparse.Namespace, harness: Harness) -> None:
    spec = seed_spec(args)
    seeded = await seed(harness.database_url, spec)
    print_seed(spec, seeded)
    await start_server(args, harness)
    await http_phases(args, harness, seeded.site_ids)
    await explain(args, harness, seeded.site_ids)
