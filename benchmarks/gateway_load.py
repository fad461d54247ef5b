"""Load benchmark of the csms OCPP gateway: connections, messages/s, latency, memory.

What it measures, and how:

* It starts a real ``csms serve`` subprocess (an embedded PostgreSQL in a fresh temp directory,
  free loopback ports; schema validation and live-state persistence on, as deployed), registers
  ``--chargers`` charge points in bulk (COPY), and connects them from one or more client
  worker processes (uvloop and the lean RFC 6455 client of ``wsclient.py``, real sockets over
  127.0.0.1).
* With two or more CPUs the server is pinned to CPU 0 and everything else (client workers,
  PostgreSQL, this process) to CPU 1, so the server has one core to itself.
* Every charger sends BootNotification and StatusNotification for connectors 0..2; then
  - default mode: one message every ``--interval`` s per charger (Heartbeat and
    StatusNotification alternately) for ``--duration`` s;
  - ``--flood``: the next message as soon as the previous one is answered — the ceiling;
  - ``--idle-memory``: nothing; server memory per idle connection is the figure.
* It prints connections held (client side and the server's registry), CALLs answered per
  second (client count, and the server's own ``/metrics`` counter), p50/p99 round trips,
  CPU used by server / clients / PostgreSQL, the server's VmRSS before and after and per
  connection, errors, and what the server persisted (``last_seen_at``, boots, connector status).

Run ``.venv/bin/python benchmarks/gateway_load.py --help``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import platform
import resource
import signal
import sys
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from chargers import WorkerSpec, worker_main
from harness import (
    Harness,
    ServerOptions,
    charger_ids,
    cpu_seconds,
    cpu_times,
    open_files,
    persisted_state,
    register_chargers,
    rss_kib,
)

#: Seconds given to the server's live-state writer (flush every 0.25 s) before checking it.
PERSIST_WAIT = 2.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--flood", action="store_true", help="send as fast as answered")
    mode.add_argument("--idle-memory", action="store_true", help="connect, boot, stay idle")
    parser.add_argument("--chargers", type=int, default=5000)
    parser.add_argument("--duration", type=float, help="load window, s (30; flood 20)")
    parser.add_argument("--interval", type=float, default=1.0, help="s between messages")
    parser.add_argument("--workers", type=int, help="client processes (1 per 9,000 chargers)")
    parser.add_argument("--connect-concurrency", type=int, default=200, help="handshakes at once")
    parser.add_argument("--call-timeout", type=float, default=30.0)
    parser.add_argument("--setup-timeout", type=float, default=600.0, help="connect+boot phase")
    parser.add_argument("--settle", type=float, default=5.0, help="idle wait before reading RSS")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="CSMS_X=VALUE",
        help="extra environment for csms serve (repeatable)",
    )
    parser.add_argument("--source", type=Path, help="run csms from this tree (PYTHONPATH)")
    parser.add_argument("--server-command", help="instead of 'python -m csms serve'")
    parser.add_argument(
        "--py-spy", type=Path, metavar="FILE", help="profile the server during the load (raw)"
    )
    parser.add_argument("--server-log", type=Path, help="keep the server's log in this file")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and clients")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 20.0 if args.flood else 30.0
    if args.workers is None:
        args.workers = max(1, math.ceil(args.chargers / 9000))
    if not 1 <= args.chargers <= 100_000 or not 1 <= args.workers <= 16:
        parser.error("need 1 <= --chargers <= 100000 and 1 <= --workers <= 16")
    if not 0 < args.duration <= 3600 or args.interval <= 0:
        parser.error("need 0 < --duration <= 3600 and --interval > 0")
    return args


@dataclass
class Workers:
    """The client worker processes and their pipes."""

    processes: list[BaseProcess] = field(default_factory=list)
    pipes: list[Connection] = field(default_factory=list)

    def start(self, specs: list[WorkerSpec]) -> None:
        context = multiprocessing.get_context("spawn")
        for spec in specs:
            parent, child = context.Pipe()
            process = context.Process(target=worker_main, args=(spec, child), daemon=True)
            process.start()
            child.close()
            self.processes.append(process)
            self.pipes.append(parent)

    def send(self, *message: Any) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def collect(self, expected: str, timeout: float) -> list[Any]:
        """One ``expected`` message from every worker, within ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        results = []
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"a client worker sent no {expected!r} in {timeout:g} s")
            message = pipe.recv()
            if message[0] != expected:
                raise RuntimeError(f"a client worker sent {message[0]!r}, not {expected!r}")
            results.append(message[1])
        return results

    def stop(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for process in self.processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)


def worker_specs(args: argparse.Namespace, port: int, ids: list[str]) -> list[WorkerSpec]:
    share = math.ceil(len(ids) / args.workers)
    concurrency = max(1, args.connect_concurrency // args.workers)
    return [
        WorkerSpec(
            host="127.0.0.1",
            port=port,
            path="/ocpp/",
            ids=ids[first : first + share],
            flood=args.flood,
            interval=args.interval,
            connect_concurrency=concurrency,
            call_timeout=args.call_timeout,
            setup_timeout=args.setup_timeout,
            control_timeout=args.setup_timeout + args.duration + 120,
        )
        for first in range(0, len(ids), share)
    ]


def pin_cpus(enabled: bool) -> tuple[set[int] | None, str]:
    """Pin this process (and so PostgreSQL and the clients) to the last CPU; server gets CPU 0."""
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2:
        return None, f"cpu: not pinned ({len(cpus)} CPUs available)"
    server, others = {cpus[0]}, set(cpus[1:])
    os.sched_setaffinity(0, others)
    return server, f"cpu: server pinned to CPU {cpus[0]}; clients, PostgreSQL on CPU {cpus[1:]}"


def raise_open_file_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass
class Readings:
    """Server-side figures taken around the load window."""

    rss_start: int = 0
    rss_connected: int = 0
    rss_end: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    calls: float = 0.0
    window: float = 0.0
    held: float = 0.0
    fds: int = 0
    cores: dict[int, float] = field(default_factory=dict)
    server_cpus: set[int] = field(default_factory=set)


def sample(harness: Harness, workers: Workers) -> tuple[float, float, float, float]:
    """(server CPU s, clients CPU s, PostgreSQL CPU s, server CALL count) right now."""
    clients = sum(cpu_seconds(p.pid) for p in workers.processes if p.pid is not None)
    return (
        cpu_seconds(harness.pid),
        clients,
        harness.postgres_cpu_seconds(),
        harness.calls_received(),
    )


def load_window(
    harness: Harness, workers: Workers, args: argparse.Namespace, readings: Readings
) -> tuple[list[dict[str, Any]], float]:
    """Run the load window; returns the workers' reports and the wall-clock start."""
    wall_start = time.time()
    started = time.monotonic() + 1.0
    workers.send("go", started, args.duration)
    time.sleep(max(0.0, started - time.monotonic()))
    profiler = harness.start_profiler(args.py_spy, args.duration) if args.py_spy else None
    before, cores_before = sample(harness, workers), cpu_times()
    reports = workers.collect("done", args.duration + args.call_timeout + 60)
    if profiler is not None:
        profiler.wait(60)
    after, cores_after = sample(harness, workers), cpu_times()
    readings.held = harness.metrics().get("csms_connected_charge_points", 0.0)
    readings.cores = {
        cpu: (busy - cores_before[cpu][0]) / max(1, total - cores_before[cpu][1])
        for cpu, (busy, total) in cores_after.items()
    }
    readings.window = args.duration
    names = ("server", "clients", "postgres")
    readings.cpu = {n: (after[i] - before[i]) / args.duration for i, n in enumerate(names)}
    readings.calls = after[3] - before[3]
    return reports, wall_start


def run_benchmark(harness: Harness, args: argparse.Namespace) -> dict[str, Any]:
    """Register, connect, load (or idle), measure; returns everything the report prints."""
    ids = charger_ids(args.chargers)
    asyncio.run(register_chargers(harness.database_url, ids))
    workers = Workers()
    readings = Readings(rss_start=rss_kib(harness.pid), server_cpus=harness.cpus or set())
    try:
        workers.start(worker_specs(args, harness.ocpp_port, ids))
        setups = workers.collect("ready", args.setup_timeout + 120)
        readings.rss_connected = rss_kib(harness.pid)
        reports: list[dict[str, Any]] = []
        wall_start = time.time()
        if args.idle_memory:
            time.sleep(args.settle)
            readings.held = harness.metrics().get("csms_connected_charge_points", 0.0)
        else:
            reports, wall_start = load_window(harness, workers, args, readings)
        readings.rss_end, readings.fds = rss_kib(harness.pid), open_files(harness.pid)
        time.sleep(PERSIST_WAIT)
        persisted = asyncio.run(persisted_state(harness.database_url, wall_start))
        workers.send("close")
        workers.collect("closed", 120)
    finally:
        workers.stop()
    return {"setups": setups, "reports": reports, "readings": readings, "persisted": persisted}


def percentile(values: array[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else math.nan


def merged_latencies(reports: list[dict[str, Any]]) -> array[float]:
    merged: array[float] = array("d")
    for report in reports:
        part: array[float] = array("d")
        part.frombytes(report["latencies"])
        merged.extend(part)
    return merged


def merged_errors(*groups: list[dict[str, Any]]) -> Counter[str]:
    errors: Counter[str] = Counter()
    for group in groups:
        for report in group:
            errors.update(report["errors"])
    return errors


def describe_machine(context: list[str]) -> list[str]:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"machine: {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.release()}, "
        f"load average at the end {load}",
        f"open-file limit: {resource.getrlimit(resource.RLIMIT_NOFILE)[1]} per process "
        "(one server process tops out near 19,900 connections)",
        *context,
    ]


def milliseconds(latencies: array[float]) -> str:
    p50, p99 = percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(latencies, default=0) * 1e3:.1f} ms"


def describe_setup(args: argparse.Namespace, setups: list[dict[str, Any]]) -> list[str]:
    opened = sum(s["opened"] for s in setups)
    seconds = max(s["seconds"] for s in setups)
    return [
        f"setup: {opened}/{args.chargers} connected and booted in {seconds:.1f} s "
        f"({args.workers} client process(es) of benchmarks/wsclient.py on uvloop; "
        "BootNotification + StatusNotification 0..2 each; "
        f"{opened * 4 / seconds:,.0f} CALLs/s; "
        f"round trip {milliseconds(merged_latencies(setups))})",
    ]


def describe_load(args: argparse.Namespace, result: dict[str, Any]) -> list[str]:
    reports, readings = result["reports"], result["readings"]
    answered = sum(r["answered"] for r in reports)
    per_second, server_per_second = answered / readings.window, readings.calls / readings.window
    mode = "flood (as fast as answered)" if args.flood else f"1 message / {args.interval:g} s each"
    return [
        f"load: {mode}, Heartbeat and StatusNotification alternately, {args.duration:g} s",
        f"answered: {answered:,} CALLs = {per_second:,.0f} messages/s "
        f"(server's own counter: {readings.calls:,.0f} = {server_per_second:,.0f}/s)",
        f"round trip: {milliseconds(merged_latencies(reports))}",
        f"cpu during load (share of one core): server {readings.cpu['server']:.0%}, "
        f"clients {readings.cpu['clients']:.0%}, PostgreSQL {readings.cpu['postgres']:.0%}",
        "cpu busy, whole core incl. kernel (/proc/stat): "
        + ", ".join(f"CPU {cpu} {busy:.0%}" for cpu, busy in sorted(readings.cores.items())),
        *describe_contention(readings, answered),
        f"client connections still open at the end: {sum(r['open'] for r in reports)}"
        + f"; CALLs from the server: {sum(r['server_calls'] for r in reports)}",
    ]


def describe_contention(readings: Readings, answered: int) -> list[str]:
    """CPU taken by other processes (the machine may be shared), and CALLs per server CPU-s."""
    server_cpu = readings.cpu["server"] * readings.window
    lines = [
        f"server efficiency: {answered / max(server_cpu, 1e-9):,.0f} CALLs per server "
        "CPU-second (what one dedicated core would answer)"
    ]
    if readings.server_cpus and readings.cores:
        ours = {c: readings.cpu["server"] for c in readings.server_cpus}
        others = {
            cpu: busy - ours.get(cpu, readings.cpu["clients"] + readings.cpu["postgres"])
            for cpu, busy in readings.cores.items()
        }
        lines.append(
            "cpu busy outside this benchmark (other processes, kernel): "
            + ", ".join(f"CPU {cpu} {max(0.0, v):.0%}" for cpu, v in sorted(others.items()))
        )
    return lines


def describe_memory(args: argparse.Namespace, result: dict[str, Any]) -> list[str]:
    readings: Readings = result["readings"]
    opened = sum(s["opened"] for s in result["setups"])
    per = (readings.rss_end - readings.rss_start) * 1024 / max(1, opened)
    return [
        f"connections held: {readings.held:,.0f} in the server's registry "
        f"(server open files: {readings.fds:,})",
        f"server VmRSS: {readings.rss_start / 1024:.1f} MiB before connections, "
        f"{readings.rss_connected / 1024:.1f} MiB connected, {readings.rss_end / 1024:.1f} MiB at "
        f"the end → {per / 1000:.1f} KB ({per / 1024:.1f} KiB) per connection",
    ]


def describe_persisted(args: argparse.Namespace, result: dict[str, Any]) -> list[str]:
    p = result["persisted"]
    window = "" if args.idle_memory else f", {p['seen_during_load']:,} updated during the load"
    return [
        f"persisted (read back from PostgreSQL {PERSIST_WAIT:g} s later): last_seen_at set for "
        f"{p['last_seen']:,}/{args.chargers:,}{window}; booted_at {p['booted']:,}; "
        f"connector-0 status {p['connector0_status']:,}; connector status rows "
        f"{p['connector_status']:,}; connected_node set {p['connected']:,}",
    ]


def print_report(args: argparse.Namespace, context: list[str], result: dict[str, Any]) -> None:
    mode = "flood" if args.flood else "idle-memory" if args.idle_memory else "rate"
    lines = [f"csms gateway benchmark: {mode}, {args.chargers:,} chargers"]
    lines += describe_machine(context)
    lines += describe_setup(args, result["setups"])
    if not args.idle_memory:
        lines += describe_load(args, result)
    lines += describe_memory(args, result)
    lines += describe_persisted(args, result)
    errors = merged_errors(result["setups"], result["reports"])
    lines.append("errors: " + (", ".join(f"{k} ×{v}" for k, v in errors.items()) or "none"))
    print("\n".join(lines), flush=True)


def server_options(args: argparse.Namespace, cpus: set[int] | None) -> ServerOptions:
    options = ServerOptions(
        cpus=cpus,
        env=dict(item.split("=", 1) for item in args.server_env),
        source=args.source,
    )
    if args.server_command:
        options.command = args.server_command.split()
    return options


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # Run the ``finally`` blocks: stop server and PostgreSQL.


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    server_cpus, pinning = pin_cpus(not args.no_pin)
    raise_open_file_limit()
    options = server_options(args, server_cpus)
    harness = Harness.create()
    try:
        harness.start_server(options)
        result = run_benchmark(harness, args)
        print_report(args, [pinning, options.describe()], result)
        errors_in_log = harness.server_log_count(" ERROR ")
        if errors_in_log:
            tail = harness.server_log_tail()
            print(f"server log: {errors_in_log} ERROR lines; the last lines:\n{tail}")
    finally:
        harness.close(args.server_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
