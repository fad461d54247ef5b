"""The client side of the gateway benchmark: one process driving thousands of chargers.

A worker (started by ``gateway_load.py`` with ``multiprocessing``) runs uvloop and the lean
WebSocket client of :mod:`wsclient` over 127.0.0.1. Each charger opens ``ws://…/ocpp/{id}``
with subprotocol ``ocpp1.6``, sends BootNotification and StatusNotification for connectors
0..2, then — when told to go — either sends one message every ``interval`` seconds
(alternating Heartbeat and StatusNotification, random phase) or, in flood mode, the next one
as soon as the previous one is answered (J 4.1.1 allows one outstanding CALL). Every answer is
checked (a CALLRESULT with the CALL's id, BootNotification ``Accepted``); round trips inside
the load window are timed.

The parent talks to the worker over a pipe: ``ready`` → ``go`` → ``done`` → ``close`` →
``closed``. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import random
import resource
import time
from array import array
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from wsclient import CallFailed, Charger

STATUSES = ("Available", "Preparing", "Charging")
#: Upper bound on the messages one charger sends in one load window (keeps every loop bounded).
MAX_MESSAGES_PER_CHARGER = 10_000_000
HEARTBEAT: dict[str, Any] = {}
CALL_ERRORS = (CallFailed, TimeoutError, ConnectionError)


@dataclass(frozen=True)
class WorkerSpec:
    host: str
    port: int
    #: URL path up to the charger id, e.g. ``/ocpp/``.
    path: str
    ids: list[str]
    flood: bool
    interval: float
    connect_concurrency: int
    call_timeout: float
    setup_timeout: float
    control_timeout: float


@dataclass
class Tally:
    """What one worker saw: answers, errors by kind, round trips (seconds)."""

    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))

    def report(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "errors": dict(self.errors),
            "latencies": self.latencies.tobytes(),
        }


_stamp: list[Any] = [0, ""]


def status_payload(connector_id: int, status: str) -> dict[str, Any]:
    second = int(time.time())
    if _stamp[0] != second:  # One strftime a second, not one per message.
        _stamp[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))]
    return {
        "connectorId": connector_id,
        "errorCode": "NoError",
        "status": status,
        "timestamp": _stamp[1],
    }


def boot_payload(cp_id: str) -> dict[str, Any]:
    return {
        "chargePointVendor": "csms-bench",
        "chargePointModel": "LoadGen-1",
        "chargePointSerialNumber": cp_id,
        "firmwareVersion": "1.0.0",
    }


def load_message(n: int) -> tuple[str, dict[str, Any]]:
    """Message ``n`` of a charger's load: even → Heartbeat, odd → StatusNotification 1 or 2."""
    if n % 2 == 0:
        return "Heartbeat", HEARTBEAT
    return "StatusNotification", status_payload(1 + (n // 2) % 2, STATUSES[(n // 4) % 3])


async def open_charger(spec: WorkerSpec, cp_id: str, tally: Tally) -> Charger | None:
    """Connect, boot, report connectors 0..2; ``None`` (and an error counted) on failure."""
    loop = asyncio.get_running_loop()
    charger: Charger | None = None
    host_header, path = f"{spec.host}:{spec.port}", spec.path + cp_id
    try:
        async with asyncio.timeout(spec.call_timeout):
            _, charger = await loop.create_connection(
                lambda: Charger(cp_id, host_header, path), spec.host, spec.port
            )
            await charger.upgraded
    except (OSError, TimeoutError) as error:
        tally.errors[f"connect: {error or type(error).__name__}"[:120]] += 1
        if charger is not None and charger.transport is not None:
            charger.transport.abort()
        return None
    calls = [("BootNotification", boot_payload(cp_id))]
    calls += [("StatusNotification", status_payload(c, "Available")) for c in range(3)]
    try:
        for action, payload in calls:
            tally.latencies.append(await charger.call(action, payload, spec.call_timeout))
    except CALL_ERRORS as error:
        tally.errors[f"setup: {error or type(error).__name__}"[:120]] += 1
        await charger.close()
        return None
    return charger


async def open_all(spec: WorkerSpec, tally: Tally) -> list[Charger]:
    """Open every charger of ``spec`` with at most ``connect_concurrency`` handshakes at once."""
    pending: Iterator[str] = iter(spec.ids)
    opened: list[Charger] = []

    async def opener() -> None:
        for cp_id in pending:  # Shared iterator: each id is taken by exactly one opener.
            charger = await open_charger(spec, cp_id, tally)
            if charger is not None:
                opened.append(charger)

    tasks = [asyncio.create_task(opener()) for _ in range(spec.connect_concurrency)]
    try:
        async with asyncio.timeout(spec.setup_timeout):
            await asyncio.gather(*tasks)
    except TimeoutError:
        tally.errors["setup: phase timed out"] += 1
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return opened


class Flood:
    """Drives chargers callback-style: each answer sends the next CALL, until ``end``."""

    def __init__(self, tally: Tally, end: float) -> None:
        self.tally = tally
        self.end = end
        self.running = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def start(self, chargers: list[Charger]) -> None:
        for charger in chargers:
            charger.on_answer = self.on_answer
            self.running += 1
            charger.send_call(*load_message(charger.seq))
        if not self.running:
            self.done.set_result(None)

    def on_answer(self, charger: Charger, answer: bytes | None) -> None:
        received = time.perf_counter()
        if answer is None:
            self.tally.errors["load: connection lost"] += 1
            return self._stop(charger)
        now = time.monotonic()
        try:
            charger.check(answer)
        except CallFailed as error:
            self.tally.errors[f"load: {error}"] += 1
        else:
            if now <= self.end:
                self.tally.answered += 1
                self.tally.latencies.append(received - charger.sent_at)
        if now >= self.end or charger.seq >= MAX_MESSAGES_PER_CHARGER:
            return self._stop(charger)
        charger.send_call(*load_message(charger.seq))

    def _stop(self, charger: Charger) -> None:
        charger.on_answer = None
        self.running -= 1
        if self.running == 0 and not self.done.done():
            self.done.set_result(None)


async def flood(chargers: list[Charger], spec: WorkerSpec, start: float, end: float) -> Tally:
    """All chargers as fast as answered from ``start`` to ``end``; late answers time out."""
    tally = Tally()
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    driver = Flood(tally, end)
    driver.start(chargers)
    try:
        async with asyncio.timeout(end - time.monotonic() + spec.call_timeout):
            await driver.done
    except TimeoutError:
        tally.errors["load: no answer within the call timeout"] += driver.running
    return tally


async def paced(charger: Charger, spec: WorkerSpec, start: float, end: float, tally: Tally) -> None:
    """One message every ``interval`` seconds (random phase), until ``end``."""
    due = start + random.random() * spec.interval
    for _ in range(MAX_MESSAGES_PER_CHARGER):
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if due >= end:
            return
        due += spec.interval
        try:
            elapsed = await charger.call(*load_message(charger.seq), spec.call_timeout)
        except CALL_ERRORS as error:
            tally.errors[f"load: {error or type(error).__name__}"[:120]] += 1
            if not charger.is_open:
                return
            continue
        if time.monotonic() <= end:
            tally.answered += 1
            tally.latencies.append(elapsed)


async def all_paced(chargers: list[Charger], spec: WorkerSpec, start: float, end: float) -> Tally:
    tally = Tally()
    tasks = [asyncio.create_task(paced(c, spec, start, end, tally)) for c in chargers]
    try:
        async with asyncio.timeout(end - time.monotonic() + spec.call_timeout + 10):
            await asyncio.gather(*tasks)
    except TimeoutError:
        tally.errors["load: window overran"] += 1
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return tally


async def run_load(
    chargers: list[Charger], spec: WorkerSpec, start: float, duration: float
) -> dict[str, Any]:
    """Drive every charger from ``start`` for ``duration`` seconds; the worker's report."""
    cpu_before = time.process_time()
    drive = flood if spec.flood else all_paced
    tally = await drive(chargers, spec, start, start + duration)
    report = tally.report()
    report["cpu_seconds"] = time.process_time() - cpu_before
    report["open"] = sum(1 for c in chargers if c.is_open)
    report["server_calls"] = sum(c.server_calls for c in chargers)
    return report


async def close_all(chargers: list[Charger]) -> None:
    """Closing handshakes, 500 at a time, each bounded (5 s, then the socket is dropped)."""
    for first in range(0, len(chargers), 500):
        batch = chargers[first : first + 500]
        await asyncio.gather(*(c.close() for c in batch), return_exceptions=True)


async def receive(conn: Connection, timeout: float) -> tuple[Any, ...]:
    """The parent's next message, or ``("timeout",)`` after ``timeout`` seconds."""

    def poll() -> tuple[Any, ...]:
        message: tuple[Any, ...] = conn.recv() if conn.poll(timeout) else ("timeout",)
        return message

    try:
        return await asyncio.to_thread(poll)
    except EOFError:
        return ("eof",)


async def work(spec: WorkerSpec, conn: Connection) -> None:
    """The worker's whole life: open, report, load if told, close."""
    tally = Tally()
    started = time.monotonic()
    chargers = await open_all(spec, tally)
    setup = tally.report()
    setup.update(opened=len(chargers), seconds=time.monotonic() - started)
    conn.send(("ready", setup))
    message = await receive(conn, spec.control_timeout)
    if message[0] == "go":
        start, duration = message[1], message[2]
        conn.send(("done", await run_load(chargers, spec, start, duration)))
        message = await receive(conn, spec.control_timeout)
    await close_all(chargers)
    conn.send(("closed", len(chargers)))


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """Process entry point: lift the open-file limit, run :func:`work` on uvloop."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        _run(work(spec, conn))
    finally:
        conn.close()


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
        return
    uvloop.run(coroutine)
