"""How many chargers one ``csms-sim fleet`` process holds, at what memory and connection rate.

Starts a real ``csms serve`` (embedded PostgreSQL, free loopback ports) with the chargers
registered in bulk, then runs ``csms-sim fleet --count N`` as its own process: all chargers at
once (a boot storm, ``--ramp 0``) or at a given ramp, held for ``--hold`` seconds with their
heartbeats. While it runs, the fleet process's resident memory is sampled from /proc; at the end
its own summary (connect and boot times, messages, errors) is read as JSON. Prints chargers
connected and booted, the connection rate, the fleet's peak RSS and per charger, and errors.

    .venv/bin/python benchmarks/fleet_load.py --chargers 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from harness import Harness, ServerOptions, register_chargers, rss_kib

PREFIX = "FLEET-"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="chargers per second; 0 = all at once"
    )
    parser.add_argument(
        "--hold", type=float, default=30.0, help="seconds to hold them after the ramp"
    )
    parser.add_argument("--heartbeat", type=int, default=60, help="HeartbeatInterval given at boot")
    return parser.parse_args(argv)


def fleet_command(args: argparse.Namespace, url: str) -> list[str]:
    simulator = shutil.which("csms-sim") or os.path.join(
        os.path.dirname(sys.executable), "csms-sim"
    )
    return [
        simulator,
        "fleet",
        "--url",
        url,
        "--count",
        str(args.chargers),
        "--prefix",
        PREFIX,
        "--first",
        "1",
        "--ramp",
        str(args.ramp),
        "--duration",
        str(args.hold),
        "--json",
    ]


class PeakRss:
    """Samples a process's VmRSS every 0.2 s in a thread; keeps the peak (KiB)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except (OSError, RuntimeError):
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=2)
        return self.peak


def run_fleet(args: argparse.Namespace, url: str) -> tuple[dict[str, Any], int, float]:
    """Run the fleet to its end; its JSON summary, peak RSS (KiB) and wall time."""
    started = time.monotonic()
    fleet = subprocess.Popen(
        fleet_command(args, url), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    sampler = PeakRss(fleet.pid)
    limit = args.hold + args.chargers / max(args.ramp, 1) + 300
    try:
        out, _ = fleet.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        fleet.kill()
        out, _ = fleet.communicate()
    peak = sampler.stop()
    text = out.decode()
    summary = json.loads(text[text.index("{") :]) if "{" in text else {"error": text[-500:]}
    return summary, peak, time.monotonic() - started


def report(args: argparse.Namespace, summary: dict[str, Any], peak_kib: int, wall: float) -> None:
    connect = summary.get("connect_seconds", {})
    chargers = summary.get("chargers", 0)
    rate = chargers / connect["max"] if connect.get("max") else float("nan")
    print(f"command      {' '.join(sys.argv)}")
    print(f"machine      {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(
        f"fleet        {chargers} chargers, ramp {args.ramp or 'all at once'}, held {args.hold:g} s"
    )
    print(
        f"connected    {summary.get('connected')} at the end, {summary.get('booted')} booted, "
        f"{summary.get('never_booted')} never booted"
    )
    print(
        f"connect time p50 {connect.get('p50')} s, p99 {connect.get('p99')} s, "
        f"max {connect.get('max')} s"
        f"  -> {rate:.0f} connections/s"
    )
    print(f"boot time    {summary.get('boot_seconds')}")
    print(
        f"messages     {summary.get('sent')} sent, {summary.get('received')} received, "
        f"{summary.get('messages_per_second')}/s over {summary.get('seconds')} s"
    )
    print(
        f"errors       {summary.get('connect_failures')} connect failures "
        f"{summary.get('failure_reasons')}, {summary.get('call_errors')} CALLERRORs, "
        f"{summary.get('timeouts')} timeouts, {summary.get('disconnects')} disconnects"
    )
    print(
        f"fleet memory peak RSS {peak_kib / 1024:.0f} MB = "
        f"{peak_kib / max(chargers, 1):.1f} KB/charger "
        f"(fleet's own reading at the end: {summary.get('rss_mb')} MB, "
        f"{summary.get('rss_kb_per_charger')} KB/charger above its start)"
    )
    print(f"wall time    {wall:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # Inherited by the fleet and server.
    harness = Harness.create()
    try:
        harness.start_server(ServerOptions(env={"CSMS_HEARTBEAT_INTERVAL": str(args.heartbeat)}))
        ids = [f"{PREFIX}{n:05d}" for n in range(1, args.chargers + 1)]
        asyncio.run(register_chargers(harness.database_url, ids))  # The server has migrated.
        summary, peak, wall = run_fleet(args, f"ws://127.0.0.1:{harness.ocpp_port}/ocpp")
        report(args, summary, peak, wall)
    finally:
        harness.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
