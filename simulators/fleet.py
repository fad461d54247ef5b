"""``csms-sim fleet``: thousands of chargers in one process, for load and soak tests.

Chargers are started at ``ramp`` per second (0: all at once, a boot storm), each boots,
reports its connectors and heartbeats at the interval its CSMS gives; with ``sessions_per_hour``
drivers plug in, tap a card and charge for a while. One task per charger reads its socket and
one scheduler task drives all sessions; timers are ``loop.call_at`` handles, events are not
recorded and compression is off, so 10,000 chargers fit in one process on two cores. A progress
line (connected, booted, messages/s, errors) is printed while it runs, and a summary at the end.
Chargers that have not booted ``boot_timeout`` seconds after the ramp stop the fleet (an
unknown id, nothing listening: waiting longer will not help a load test).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import os
import random
import resource
import signal
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from simulators.charge_point import UNKNOWN_ID_ATTEMPTS, Backoff, SimulatedChargePoint
from simulators.configuration import DEFAULT_PROFILES
from simulators.session import Stats

#: Concurrent WebSocket handshakes (a storm beyond this just queues, as a real network would).
HANDSHAKE_GATE = 500


@dataclasses.dataclass
class FleetOptions:
    url: str
    count: int
    prefix: str = "FLEET-"
    first: int = 1
    keys: Mapping[str, str] = dataclasses.field(default_factory=dict)
    default_key: str | None = None
    connectors: int = 2
    power_kw: float = 22.0
    profiles: str = DEFAULT_PROFILES
    ramp: float = 100.0  # chargers started per second; 0 = all at once
    duration: float | None = None  # seconds after the last charger started; None = until ^C
    sessions_per_hour: float = 0.0  # per charger
    session_minutes: tuple[float, float] = (15.0, 45.0)
    id_tags: Sequence[str] = ("FLEET-TAG",)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    progress_interval: float | None = None  # default: 1 s on a terminal, else 10 s
    backoff: Backoff = dataclasses.field(default_factory=lambda: Backoff(1.0, 60.0))
    security_events: str = "all"  # all, critical, off (SEC; see simulators.security_events)
    boot_timeout: float | None = 60.0  # seconds after the ramp every charger has to boot
    unknown_id_attempts: int = UNKNOWN_ID_ATTEMPTS  # HTTP 404s in a row before a charger gives up

    def charger_id(self, index: int) -> str:
        return f"{self.prefix}{self.first + index:05d}"


def read_id_tags(path: Path) -> list[str]:
    """idTags, one per line (``#`` comments, blank lines ignored)."""
    lines = (raw.split("#", 1)[0].strip() for raw in path.read_text().splitlines())
    return [line for line in lines if line]


def read_key_file(path: Path) -> tuple[dict[str, str], str | None]:
    """Keys per charger from lines ``ID KEY`` (or ``ID,KEY`` / ``ID:KEY``); a line holding only
    a key is the key of every charger not listed. ``#`` starts a comment."""
    keys: dict[str, str] = {}
    default = None
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        for separator in (",", ":", None):
            parts = line.split(separator, 1)
            if len(parts) == 2:
                keys[parts[0].strip()] = parts[1].strip()
                break
        else:
            default = line
    return keys, default


@dataclasses.dataclass
class Summary:
    chargers: int
    connected: int
    booted: int
    never_booted: int
    seconds: float
    sent: int
    received: int
    messages_per_second: float
    connect_failures: int
    failure_reasons: dict[str, int]
    disconnects: int
    call_errors: int
    timeouts: int
    bad_frames: int
    sessions_started: int
    sessions_charged: int
    sessions_without_tag: int
    connect_seconds: dict[str, float]
    boot_seconds: dict[str, float]
    call_latency_ms: dict[str, float]
    rss_mb: float
    rss_kb_per_charger: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_text(self) -> str:
        lines = [
            f"chargers        {self.chargers} ({self.booted} booted, {self.connected} connected"
            f" at the end, {self.never_booted} never booted)",
            f"duration        {self.seconds:.1f} s",
            f"messages        {self.sent} sent, {self.received} received, "
            f"{self.messages_per_second:.0f}/s",
            f"connect time    {_percentiles_text(self.connect_seconds, 's')}",
            f"boot time       {_percentiles_text(self.boot_seconds, 's')}",
            f"call latency    {_percentiles_text(self.call_latency_ms, 'ms')}",
            f"errors          {self.connect_failures} connect failures{_reasons(self)}, "
            f"{self.disconnects} disconnects, "
            f"{self.call_errors} CALLERRORs, {self.timeouts} timeouts, {self.bad_frames} bad",
            f"sessions        {self.sessions_started} started, {self.sessions_charged} charged "
            f"(ended with a transaction), {self.sessions_without_tag} skipped (no free idTag)",
            f"memory          {self.rss_mb:.0f} MB RSS, {self.rss_kb_per_charger:.1f} KB/charger",
        ]
        return "\n".join(lines)

    def never_booted_line(self) -> str:
        """``N of M chargers never booted``, with the connection failures seen."""
        return f"{self.never_booted} of {self.chargers} chargers never booted{_reasons(self)}"


def _reasons(summary: Summary) -> str:
    if not summary.failure_reasons:
        return ""
    return " (" + ", ".join(f"{k}: {v}" for k, v in summary.failure_reasons.items()) + ")"


def _percentiles(values: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(v * scale for v in values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 3),
            "mean": round(statistics.fmean(ordered), 3)}


def _percentiles_text(values: dict[str, float], unit: str) -> str:
    if not values:
        return "-"
    return " ".join(f"{name} {value:g}{unit}" for name, value in values.items())


def _rss_kb() -> float:
    """Resident memory now (Linux), else the peak."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024


class Fleet:
    """Runs many :class:`SimulatedChargePoint` s and reports on them."""

    def __init__(self, options: FleetOptions, progress: TextIO = sys.stderr) -> None:
        self.options = options
        self.progress = progress
        self.tty = progress.isatty()
        self.stats = Stats()
        self.chargers: list[SimulatedChargePoint] = []
        self.sessions_started = 0
        self.sessions_charged = 0
        self.sessions_without_tag = 0
        self._tags_in_use: set[str] = set()
        self._ends: list[tuple[float, int, int, int, str]] = []  # due, seq, charger, conn, tag
        self._stop = asyncio.Event()
        self._baseline_kb = _rss_kb()

    def stop(self) -> None:
        """Finish early (what ^C does)."""
        self._stop.set()

    async def run(self) -> Summary:
        """Ramp up, run for ``duration`` (or until :meth:`stop`), shut down, summarise."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        started = loop.time()
        helpers = [loop.create_task(self._report(started))]
        if self.options.sessions_per_hour > 0:
            helpers.append(loop.create_task(self._drive_sessions()))
        try:
            await self._ramp()
            if self.options.boot_timeout is not None:
                helpers.append(loop.create_task(self._boot_deadline(self.options.boot_timeout)))
            if self.options.duration is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.options.duration)
            else:
                await self._stop.wait()
            summary = self.summary(loop.time() - started)
        finally:
            for helper in helpers:
                helper.cancel()
            await self._shutdown()
        self._line(self._progress_text(loop.time() - started, 0.0), final=True)
        return summary

    async def _boot_deadline(self, timeout: float) -> None:
        """Stop the fleet when chargers have not booted ``timeout`` s from now (at once when
        every one of them has given up), so a fleet that cannot boot ends instead of running."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            waiting = [cp for cp in self.chargers if cp.booted_after is None]
            if not waiting:
                return
            if loop.time() >= deadline or all(cp.gave_up is not None for cp in waiting):
                break
            await asyncio.sleep(min(0.2, max(deadline - loop.time(), 0.0)))
        why = ("gave up (ids unknown to the CSMS)" if all(cp.gave_up for cp in waiting)
               else f"not booted {timeout:g} s after the ramp")
        self._line(f"{len(waiting)} of {len(self.chargers)} chargers {why}: stopping",
                   final=True)
        self.stop()

    async def _ramp(self) -> None:
        gate = asyncio.Semaphore(HANDSHAKE_GATE)
        loop = asyncio.get_running_loop()
        begin = loop.time()
        for index in range(self.options.count):
            if self._stop.is_set():
                return
            cp = self._make(index, gate)
            self.chargers.append(cp)
            await cp.start(wait_boot=False)
            if self.options.ramp > 0:
                delay = begin + (index + 1) / self.options.ramp - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif index % 500 == 499:
                await asyncio.sleep(0)

    def _make(self, index: int, gate: asyncio.Semaphore) -> SimulatedChargePoint:
        options = self.options
        cp_id = options.charger_id(index)
        return SimulatedChargePoint(
            options.url, cp_id, connectors=options.connectors, power_kw=options.power_kw,
            key=options.keys.get(cp_id, options.default_key), profiles=options.profiles,
            ca_file=options.ca_file, cert_file=options.cert_file, key_file=options.key_file,
            backoff=options.backoff, record_events=False, stats=self.stats, gate=gate,
            meter_start_wh=random.uniform(0, 50_000), security_events=options.security_events,
            unknown_id_attempts=options.unknown_id_attempts)

    async def _shutdown(self) -> None:
        """Stop running sessions cleanly and disconnect everyone, in parallel."""
        await asyncio.gather(*(cp.close(timeout=10.0) for cp in self.chargers),
                             return_exceptions=True)

    # ---- sessions ------------------------------------------------------------------------

    async def _drive_sessions(self) -> None:
        """Start sessions as a Poisson process over the booted chargers; end them on time."""
        tick = 1.0
        loop = asyncio.get_running_loop()
        sequence = 0
        while True:
            await asyncio.sleep(tick)
            booted = [i for i, cp in enumerate(self.chargers) if cp.model.booted and cp.connected]
            expected = len(booted) * self.options.sessions_per_hour / 3600 * tick
            for _ in range(_poisson(expected)):
                sequence += 1
                await self._begin_session(random.choice(booted), loop.time(), sequence)
            while self._ends and self._ends[0][0] <= loop.time():
                _, _, index, connector, tag = heapq.heappop(self._ends)
                await self._end_session(self.chargers[index], connector, tag)

    async def _begin_session(self, index: int, now: float, sequence: int) -> None:
        """A driver arrives: plug into a free connector, tap a card nobody is using (a card in
        use elsewhere would rightly be refused as ConcurrentTx)."""
        cp = self.chargers[index]
        free = [c.connector_id for c in cp.model.connectors[1:]
                if c.status == "Available" and not c.plugged]
        tags = [tag for tag in self.options.id_tags if tag not in self._tags_in_use]
        if not free:
            return
        if not tags:
            self.sessions_without_tag += 1
            return
        connector, tag = random.choice(free), random.choice(tags)
        self._tags_in_use.add(tag)
        await cp.plug(connector)
        await cp.tap(connector, tag)
        self.sessions_started += 1
        low, high = self.options.session_minutes
        due = now + random.uniform(low, high) * 60
        heapq.heappush(self._ends, (due, sequence, index, connector, tag))

    async def _end_session(self, cp: SimulatedChargePoint, connector: int, tag: str) -> None:
        self._tags_in_use.discard(tag)
        if cp.model.connectors[connector].transaction is not None:
            self.sessions_charged += 1
            await cp.stop(connector)
        await cp.unplug(connector)

    # ---- reporting -----------------------------------------------------------------------

    async def _report(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        last_count, last_time = 0, loop.time()
        interval = self.options.progress_interval or (1.0 if self.tty else 10.0)
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            count = self.stats.sent + self.stats.received
            rate = (count - last_count) / max(now - last_time, 1e-9)
            last_count, last_time = count, now
            self._line(self._progress_text(now - started, rate))

    def _progress_text(self, elapsed: float, rate: float) -> str:
        connected = sum(cp.connected for cp in self.chargers)
        booted = sum(cp.model.booted for cp in self.chargers)
        charging = sum(c.transaction is not None for cp in self.chargers
                       for c in cp.model.connectors)
        return (f"[{elapsed:6.0f}s] started {len(self.chargers)}/{self.options.count}  "
                f"connected {connected}  booted {booted}  msgs/s {rate:.0f}  "
                f"errors {self.stats.errors}  charging {charging}")

    def _line(self, text: str, final: bool = False) -> None:
        if self.tty:
            self.progress.write(f"\r\x1b[K{text}" + ("\n" if final else ""))
        else:
            self.progress.write(text + "\n")
        self.progress.flush()

    def summary(self, seconds: float) -> Summary:
        stats = self.stats
        booted_times = [cp.booted_after for cp in self.chargers if cp.booted_after is not None]
        connect_times = [cp.connected_after for cp in self.chargers
                         if cp.connected_after is not None]
        rss = _rss_kb()
        count = max(len(self.chargers), 1)
        return Summary(
            chargers=len(self.chargers), connected=sum(cp.connected for cp in self.chargers),
            booted=len(booted_times), never_booted=len(self.chargers) - len(booted_times),
            seconds=round(seconds, 3), sent=stats.sent, received=stats.received,
            messages_per_second=round((stats.sent + stats.received) / max(seconds, 1e-9), 1),
            connect_failures=stats.connect_failures, failure_reasons=dict(stats.failure_reasons),
            disconnects=stats.disconnects, call_errors=stats.call_errors,
            timeouts=stats.timeouts, bad_frames=stats.bad_frames,
            sessions_started=self.sessions_started, sessions_charged=self.sessions_charged,
            sessions_without_tag=self.sessions_without_tag,
            connect_seconds=_percentiles(connect_times), boot_seconds=_percentiles(booted_times),
            call_latency_ms=_percentiles(stats.latencies, 1000.0),
            rss_mb=round(rss / 1024, 1),
            rss_kb_per_charger=round(max(rss - self._baseline_kb, 0.0) / count, 2))


def _poisson(mean: float) -> int:
    """A Poisson-distributed count (Knuth; means here are small)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(random.gauss(mean, mean**0.5)))
    limit, k, product = 2.718281828459045 ** -mean, 0, random.random()
    while product > limit:
        k += 1
        product *= random.random()
    return k
