"""Figures for the booking benchmark: percentiles, CPU accounting, the machine it ran on."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]
from harness import Harness, cpu_seconds, cpu_times


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (``fraction`` in 0..1); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_line(seconds: Sequence[float], unit: str = "ms") -> str:
    """``p50 / p90 / p95 / p99 / max`` of ``seconds``, shown in ms (or s)."""
    scale = 1000.0 if unit == "ms" else 1.0
    parts = [
        f"{name} {percentile(seconds, q) * scale:.1f}"
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99))
    ]
    top = max(seconds) * scale if seconds else math.nan
    return " / ".join([*parts, f"max {top:.1f}"]) + f" {unit}"


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: nproc {len(os.sched_getaffinity(0))}, python {platform.python_version()}, "
        f"{platform.platform()}, load average {load}"
    )


def other_benchmarks() -> list[str]:
    """Command lines of other benchmark processes running now (they spoil the figures)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if "gateway_load.py" in cmdline and process.info["pid"] != os.getpid():
            found.append(cmdline)
    return found


@dataclass
class CpuSnapshot:
    wall: float
    server: float
    postgres: float
    client: float
    machine_busy: float


@dataclass
class CpuMeter:
    """CPU seconds used by the server, PostgreSQL, this benchmark and the whole machine."""

    harness: Harness
    extra_pids: tuple[int, ...] = ()

    def snapshot(self) -> CpuSnapshot:
        busy = sum(b for b, _ in cpu_times().values()) / os.sysconf("SC_CLK_TCK")
        client = time.process_time() + sum(_pid_cpu(pid) for pid in self.extra_pids)
        return CpuSnapshot(
            wall=time.monotonic(),
            server=cpu_seconds(self.harness.pid),
            postgres=self.harness.postgres_cpu_seconds(),
            client=client,
            machine_busy=busy,
        )

    @staticmethod
    def describe(before: CpuSnapshot, after: CpuSnapshot) -> str:
        """CPU use between two snapshots, as seconds and share of the wall time."""
        wall = max(after.wall - before.wall, 1e-9)
        used = {
            "server": after.server - before.server,
            "postgres": after.postgres - before.postgres,
            "bench client": after.client - before.client,
        }
        other = (after.machine_busy - before.machine_busy) - sum(used.values())
        parts = [f"{name} {secs:.1f} s ({secs / wall:.0%})" for name, secs in used.items()]
        parts.append(f"rest of machine {max(other, 0.0):.1f} s ({max(other, 0.0) / wall:.0%})")
        return f"cpu over {wall:.1f} s wall: " + ", ".join(parts)


def _pid_cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
