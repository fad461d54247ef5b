"""Flood throughput of ``csms serve --workers N`` for several N in one invocation.

For each N of ``--compare-workers`` (default ``1,2``; ``--rounds`` times, alternating) it starts
a fresh harness (an embedded PostgreSQL in a new temp directory, free loopback ports) and a real
``csms serve`` with ``CSMS_WORKERS=N`` — N=1 is the plain single process; above 1 a parent and N
workers sharing the OCPP and HTTP ports with ``SO_REUSEPORT``, the database the harness's —
registers ``--chargers`` chargers (COPY), connects and boots them from ``chargers.py`` client
processes as ``gateway_load.py --flood`` does, and floods for ``--duration`` s: every charger
sends its next CALL as soon as the previous one is answered. Nothing is pinned (the point is
to use every core), so the server's processes, PostgreSQL and the clients share the machine.

Per run it prints messages/s answered (the clients' count, and the servers' own
``csms_ocpp_calls`` counters summed over the nodes), CALL round trip p50/p99/max, errors, CPU of
the server's processes (parent and each worker, from ``/proc``) and of PostgreSQL and the
clients, whole-CPU busy time (``/proc/stat``) and what other processes took, and how the
chargers spread over the workers (each node's ``csms_connected_charge_points``, scraped on new
connections until every node has answered, and ``charge_points.connected_node`` in the
database); then one line per run for comparison. Every process it starts is stopped at the end
of its run (the server's whole process tree, PostgreSQL, the client processes), and the run
checks that none is left.

``.venv/bin/python benchmarks/workers_flood.py --compare-workers 1,2 --chargers 1000``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import shlex
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil  # type: ignore[import-untyped]
from gateway_load import (
    Workers,
    describe_machine,
    merged_errors,
    merged_latencies,
    milliseconds,
    percentile,
    raise_open_file_limit,
    worker_specs,
)
from harness import (
    CLOCK_TICK,
    Harness,
    ServerOptions,
    charger_ids,
    cpu_seconds,
    cpu_times,
    register_chargers,
)

#: Seconds between "go" and the start of the flood: the per-node counters are read meanwhile.
LEAD_IN = 1.5
#: Seconds given to the live-state writer (flush every 0.25 s) before reading the database.
PERSIST_WAIT = 2.0
CALLS_PREFIX = "csms_ocpp_calls"
CONNECTED = "csms_connected_charge_points"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare-workers", default="1,2", metavar="N,M,...",
                        help="CSMS_WORKERS of each run, in order (default 1,2)")
    parser.add_argument("--rounds", type=int, default=1, help="run the whole list this often")
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20.0, help="flood window, s")
    parser.add_argument("--clients", type=int, help="client processes (1 per 9,000 chargers)")
    # csms closes upgrades beyond CSMS_MAX_PENDING_PER_ADDRESS (100) pending from one address,
    # and every client here is 127.0.0.1: gateway_load.py's 200 loses ~100 chargers on one node.
    parser.add_argument("--connect-concurrency", type=int, default=50,
                        help="handshakes at once (default 50, below csms's 100 per address)")
    parser.add_argument("--call-timeout", type=float, default=30.0)
    parser.add_argument("--setup-timeout", type=float, default=300.0, help="connect+boot phase")
    parser.add_argument("--scrapes", type=int, default=60,
                        help="most /metrics requests to reach every worker once")
    parser.add_argument("--server-env", action="append", default=[], metavar="CSMS_X=VALUE",
                        help="extra environment for csms serve (repeatable)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:CSMS_X=V[,…]",
                        help="also compare server settings: each round runs every worker count "
                        "once per variant (repeatable; e.g. 'log-off:CSMS_MESSAGE_LOG=false')")
    parser.add_argument("--server-log-dir", type=Path, help="keep each run's server log here")
    parser.add_argument("--source", type=Path, help="run csms from this tree (PYTHONPATH)")
    args = parser.parse_args(argv)
    try:
        args.counts = [int(n) for n in args.compare_workers.split(",")]
    except ValueError:
        parser.error("--compare-workers: numbers separated by commas, e.g. 1,2")
    if not args.counts or not all(1 <= n <= 16 for n in args.counts):
        parser.error("--compare-workers: each between 1 and 16")
    if args.clients is None:
        args.clients = max(1, math.ceil(args.chargers / 9000))
    if not 1 <= args.chargers <= 19_000 or not 1 <= args.clients <= 16:
        parser.error("need 1 <= --chargers <= 19000 and 1 <= --clients <= 16")
    if not 0 < args.duration <= 600 or not 1 <= args.rounds <= 10:
        parser.error("need 0 < --duration <= 600 and 1 <= --rounds <= 10")
    args.variants = [_variant(parser, text) for text in args.variant] or [("", {})]
    # What gateway_load.worker_specs reads.
    args.workers, args.flood, args.interval = args.clients, True, 1.0
    return args


def _variant(parser: argparse.ArgumentParser, text: str) -> tuple[str, dict[str, str]]:
    name, _, settings = text.partition(":")
    pairs = [item.split("=", 1) for item in settings.split(",") if item]
    if not name or not pairs or any(len(p) != 2 or not p[0].startswith("CSMS_") for p in pairs):
        parser.error(f"--variant {text!r}: NAME:CSMS_X=VALUE[,CSMS_Y=VALUE]")
    return name, dict(pairs)


@dataclass
class Run:
    """What one run measured."""

    workers: int
    label: str
    setups: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    #: CPU seconds in the window: per server process ("parent", node ids), PostgreSQL, clients.
    server_cpu: dict[str, float] = field(default_factory=dict)
    postgres_cpu: float = 0.0
    clients_cpu: float = 0.0
    #: System (kernel) CPU seconds in the window of: the server's processes, PostgreSQL, clients.
    kernel: dict[str, float] = field(default_factory=dict)
    #: Busy share of each CPU in the window (/proc/stat, kernel time included).
    cores: dict[int, float] = field(default_factory=dict)
    #: Share of the machine's CPU time the hypervisor gave to other guests (steal).
    steal: float = 0.0
    server_calls: float = 0.0
    #: Transactions PostgreSQL committed in the window (pg_stat_database, flushed ~1/s).
    transactions: int = 0
    nodes_counted: int = 0
    connected_metrics: dict[str, float] = field(default_factory=dict)
    scrapes_needed: int = 0
    connected_db: Counter[str] = field(default_factory=Counter)
    errors_in_log: int = 0
    restarts: int = 0
    left_over: list[str] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(int(r["answered"]) for r in self.reports)


def process_name(process: psutil.Process, root: int, workers: int) -> str:
    """"parent", the worker's node id (its CSMS_NODE_ID), or "server" for a single process."""
    if workers == 1 and process.pid == root:
        return "server"
    if process.pid == root:
        return "parent"
    with contextlib.suppress(psutil.Error):
        node = process.environ().get("CSMS_NODE_ID")
        if node:
            return str(node)
    return f"pid {process.pid}"


def system_seconds(pids: Sequence[int]) -> float:
    """System (kernel) CPU time so far of ``pids`` (``/proc/PID/stat`` stime; gone: 0)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            total += int(stat[stat.rindex(")") + 2 :].split()[12]) / CLOCK_TICK
    return total


def steal_ticks() -> tuple[int, int]:
    """(steal, total) clock ticks of all CPUs so far, from the ``cpu`` line of /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return ticks[7], sum(ticks)


def kernel_seconds(harness: Harness, clients: Workers) -> dict[str, float]:
    return {
        "server": system_seconds([p.pid for p in harness.server_processes()]),
        "PostgreSQL": system_seconds([p.pid for p in postgres_processes(harness)]),
        "clients": system_seconds([p.pid for p in clients.processes if p.pid is not None]),
    }


def server_cpu(harness: Harness, workers: int) -> dict[str, float]:
    """CPU seconds so far of each process of the server (user + system, all threads)."""
    seconds: dict[str, float] = {}
    for process in harness.server_processes():
        with contextlib.suppress(OSError, psutil.Error):
            name = process_name(process, harness.pid, workers)
            seconds[name] = seconds.get(name, 0.0) + cpu_seconds(process.pid)
    return seconds


def total_calls(per_node: dict[str, dict[str, float]]) -> float:
    return sum(
        value
        for series in per_node.values()
        for name, value in series.items()
        if name.startswith(CALLS_PREFIX)
    )


async def committed(database_url: str) -> int:
    """Transactions committed in this database so far (pg_stat_database.xact_commit)."""
    connection = await asyncpg.connect(database_url)
    try:
        value = await connection.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    return int(value)


async def connected_nodes(database_url: str) -> Counter[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT connected_node, count(*) FROM charge_points WHERE id LIKE 'BENCH-%' "
            "GROUP BY 1"
        )
    finally:
        await connection.close()
    return Counter({str(row[0]): int(row[1]) for row in rows})


def scrape_until_all(harness: Harness, workers: int, attempts: int) -> tuple[dict[str, Any], int]:
    """Every node's metrics and the number of scrapes it took."""
    seen: dict[str, Any] = {}
    for scrape in range(1, attempts + 1):
        for node, series in harness.node_metrics(1, attempts=1).items():
            seen.setdefault(node, series)
        if len(seen) >= workers:
            return seen, scrape
    return seen, attempts


def flood_window(harness: Harness, clients: Workers, args: argparse.Namespace, run: Run) -> None:
    started = time.monotonic() + LEAD_IN
    clients.send("go", started, args.duration)
    # Before the flood: the counters of every node (a busy node answers /metrics slowly).
    before_calls = harness.node_metrics(run.workers, args.scrapes)
    transactions_before = asyncio.run(committed(harness.database_url))
    time.sleep(max(0.0, started - time.monotonic()))
    cpu_before, cores_before = server_cpu(harness, run.workers), cpu_times()
    steal_before = steal_ticks()
    pg_before, kernel_before = harness.postgres_cpu_seconds(), kernel_seconds(harness, clients)
    clients_before = sum(cpu_seconds(p.pid) for p in clients.processes if p.pid is not None)
    run.reports = clients.collect("done", args.duration + args.call_timeout + 60)
    # Clients stop sending at the window's end: the window is the duration, as in gateway_load.
    cpu_after, cores_after = server_cpu(harness, run.workers), cpu_times()
    steal_after = steal_ticks()
    run.steal = (steal_after[0] - steal_before[0]) / max(1, steal_after[1] - steal_before[1])
    run.postgres_cpu = harness.postgres_cpu_seconds() - pg_before
    kernel_after = kernel_seconds(harness, clients)
    run.kernel = {name: kernel_after[name] - kernel_before[name] for name in kernel_after}
    clients_after = sum(cpu_seconds(p.pid) for p in clients.processes if p.pid is not None)
    run.clients_cpu = clients_after - clients_before
    run.server_cpu = {
        name: seconds - cpu_before.get(name, 0.0) for name, seconds in cpu_after.items()
    }
    run.cores = {
        cpu: (busy - cores_before[cpu][0]) / max(1, total - cores_before[cpu][1])
        for cpu, (busy, total) in cores_after.items()
    }
    after_calls = harness.node_metrics(run.workers, args.scrapes)
    run.transactions = asyncio.run(committed(harness.database_url)) - transactions_before
    run.nodes_counted = len(set(before_calls) & set(after_calls))
    run.server_calls = total_calls(after_calls) - total_calls(before_calls)


def measure(harness: Harness, args: argparse.Namespace, run: Run) -> None:
    ids = charger_ids(args.chargers)
    asyncio.run(register_chargers(harness.database_url, ids))
    clients = Workers()
    try:
        clients.start(worker_specs(args, harness.ocpp_port, ids))
        run.setups = clients.collect("ready", args.setup_timeout + 120)
        flood_window(harness, clients, args, run)
        per_node, run.scrapes_needed = scrape_until_all(harness, run.workers, args.scrapes)
        run.connected_metrics = {node: m.get(CONNECTED, 0.0) for node, m in per_node.items()}
        time.sleep(PERSIST_WAIT)
        run.connected_db = asyncio.run(connected_nodes(harness.database_url))
        clients.send("close")
        clients.collect("closed", 120)
    finally:
        clients.stop()


def postgres_processes(harness: Harness) -> list[psutil.Process]:
    """The harness's PostgreSQL postmaster and its children alive now."""
    pid = harness.pg_server.get_pid()
    processes: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        if pid is not None:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
    return processes


def processes_left(known: list[psutil.Process], workdir: Path) -> list[str]:
    """Processes of this run still alive after cleanup: those of the server's tree and of
    PostgreSQL seen before it (psutil also tells a reused pid apart), or any process whose
    command line names the run's temp directory."""
    left = {p.pid: p for p in known if p.is_running() and p.status() != psutil.STATUS_ZOMBIE}
    for process in psutil.process_iter(["pid", "cmdline"]):
        if str(workdir) in " ".join(process.info["cmdline"] or []):
            left[process.pid] = process
    lines = []
    for pid, process in sorted(left.items()):
        with contextlib.suppress(psutil.Error):
            lines.append(f"{pid} {' '.join(process.cmdline())[:100]}")
    return lines


def run_one(
    args: argparse.Namespace, workers: int, label: str, variant: dict[str, str] | None = None
) -> Run:
    run = Run(workers=workers, label=label)
    env = {**dict(item.split("=", 1) for item in args.server_env), **(variant or {})}
    options = ServerOptions(env=env, workers=workers, source=args.source)
    harness = Harness.create()
    name = label.replace(" ", "-")
    keep = args.server_log_dir / f"server-w{workers}-{name}.log" if args.server_log_dir else None
    known: list[psutil.Process] = []
    try:
        harness.start_server(options)
        measure(harness, args, run)
        run.errors_in_log = harness.server_log_count(" ERROR ")
        run.restarts = max(0, harness.server_log_count(" started (pid ") - workers)
    finally:
        known = [*harness.server_processes(), *harness.seen.values(), *postgres_processes(harness)]
        harness.close(keep)
    run.left_over = processes_left(known, harness.workdir)
    return run


def cpu_line(run: Run, window: float) -> str:
    share = {name: seconds / window for name, seconds in sorted(run.server_cpu.items())}
    total = sum(share.values())
    parts = ", ".join(f"{name} {value:.0%}" for name, value in share.items())
    detail = f" ({parts})" if len(share) > 1 else ""
    pg, clients = run.postgres_cpu / window, run.clients_cpu / window
    return (
        f"cpu (share of one core): server processes {total:.0%}{detail} + PostgreSQL {pg:.0%} "
        f"= {total + pg:.0%}; clients {clients:.0%}; all {total + pg + clients:.0%} of "
        f"{len(run.cores) * 100}%"
    )


def outside(run: Run, window: float) -> float:
    """CPU (cores) busy in the window beyond this run's processes: others' work, the kernel's
    softirq time not charged to a process, this benchmark's parent."""
    ours = (sum(run.server_cpu.values()) + run.postgres_cpu + run.clients_cpu) / window
    return max(0.0, sum(run.cores.values()) - ours)


def spread_line(run: Run) -> str:
    metrics = ", ".join(f"{n} {v:,.0f}" for n, v in sorted(run.connected_metrics.items()))
    db = ", ".join(f"{n} {v:,}" for n, v in sorted(run.connected_db.items()))
    return (
        f"chargers per node: {CONNECTED} {metrics} ({len(run.connected_metrics)}/{run.workers} "
        f"nodes in {run.scrapes_needed} scrape(s)); connected_node in the database: {db}"
    )


def report(args: argparse.Namespace, run: Run) -> list[str]:
    window = args.duration
    answered = run.answered
    setup_s = max(s["seconds"] for s in run.setups)
    opened = sum(s["opened"] for s in run.setups)
    latencies = merged_latencies(run.reports)
    errors = merged_errors(run.setups, run.reports)
    server_seconds = sum(run.server_cpu.values())
    workers_seconds = sum(v for k, v in run.server_cpu.items() if k != "parent")
    counted = f"{run.nodes_counted}/{run.workers} nodes"
    return [
        f"--workers {run.workers} ({run.label}): {opened}/{args.chargers} connected and booted "
        f"in {setup_s:.1f} s (setup round trip {milliseconds(merged_latencies(run.setups))})",
        f"  answered: {answered:,} CALLs = {answered / window:,.0f} messages/s (servers' own "
        f"counters, {counted}: {run.server_calls:,.0f} = {run.server_calls / window:,.0f}/s)",
        f"  round trip: {milliseconds(latencies)}",
        f"  errors: {', '.join(f'{k} ×{v}' for k, v in errors.items()) or 'none'}; "
        f"ERROR lines in the server log: {run.errors_in_log}; worker restarts: {run.restarts}",
        f"  {cpu_line(run, window)}",
        "  of which in the kernel (system time): "
        + ", ".join(f"{name} {value / window:.0%}" for name, value in run.kernel.items()),
        f"  PostgreSQL: {run.transactions:,} transactions committed in the window "
        f"({run.transactions / window:,.0f}/s, pg_stat_database; includes this benchmark's "
        "two counter reads)",
        "  cpu busy, whole CPU incl. kernel (/proc/stat): "
        + ", ".join(f"CPU {cpu} {busy:.0%}" for cpu, busy in sorted(run.cores.items()))
        + f"; not accounted to this run's processes: {outside(run, window):.0%} of a core; "
        f"steal (hypervisor): {run.steal:.0%}",
        f"  server efficiency: {answered / max(server_seconds, 1e-9):,.0f} CALLs per server "
        f"CPU-second ({answered / max(workers_seconds, 1e-9):,.0f} per worker CPU-second)",
        f"  {spread_line(run)}",
        f"  processes of this run left after cleanup: {len(run.left_over)}"
        + "".join(f"\n    {line}" for line in run.left_over),
    ]


def summary(args: argparse.Namespace, runs: list[Run]) -> list[str]:
    window = args.duration
    lines = [
        "summary (flood, "
        f"{args.chargers:,} chargers, {window:g} s, {args.clients} client process(es), unpinned):",
        "  workers  run           messages/s   p50 ms   p99 ms  errors  server cpu  PostgreSQL  "
        "clients  not ours  chargers per node",
    ]
    for run in runs:
        latencies = merged_latencies(run.reports)
        errors = sum(merged_errors(run.setups, run.reports).values())
        spread = "/".join(f"{v:,}" for _, v in sorted(run.connected_db.items()))
        lines.append(
            f"  {run.workers:>7}  {run.label:<12} {run.answered / window:>11,.0f} "
            f"{percentile(latencies, 0.5) * 1e3:>8.2f} {percentile(latencies, 0.99) * 1e3:>8.2f} "
            f"{errors:>7} {sum(run.server_cpu.values()) / window:>11.0%} "
            f"{run.postgres_cpu / window:>11.0%} {run.clients_cpu / window:>8.0%} "
            f"{outside(run, window):>9.0%}  {spread}"
        )
    return lines


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # Run the ``finally`` blocks: stop the server, PostgreSQL.


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    raise_open_file_limit()
    command = " ".join(shlex.quote(a) for a in ["benchmarks/workers_flood.py", *sys.argv[1:]])
    print(f"csms workers flood benchmark: {command}", flush=True)
    print(
        f"flood (as fast as answered, Heartbeat and StatusNotification alternately), "
        f"{args.chargers:,} chargers, {args.duration:g} s per run, {args.clients} client "
        f"process(es) of benchmarks/wsclient.py on uvloop; cpu: not pinned",
        flush=True,
    )
    described = ServerOptions(source=args.source).describe()
    print(f"{described}; CSMS_WORKERS per run: {args.compare_workers}", flush=True)
    runs: list[Run] = []
    for round_number in range(1, args.rounds + 1):
        for workers in args.counts:
            for name, variant in args.variants:
                label = f"{name} r{round_number}" if name else f"round {round_number}"
                run = run_one(args, workers, label, variant)
                runs.append(run)
                print("\n".join(report(args, run)), flush=True)
    print("\n".join(describe_machine([]) + summary(args, runs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
