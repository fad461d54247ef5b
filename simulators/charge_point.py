"""A simulated charger on a real WebSocket: the asyncio layer and the library API.

:class:`SimulatedChargePoint` moves the frames of a :class:`~simulators.session.Session` over a
``websockets`` client connection (subprotocol ``ocpp1.6``, no compression), reconnects with
exponential backoff, authenticates with HTTP Basic (SEC profile 1: username = charger id,
password = AuthorizationKey) and speaks TLS for profiles 2 and 3 (with a client certificate for
3); :mod:`simulators.transport` picks the URL and TLS context for the SecurityProfile in force.
The model's effects (downloads, uploads, certificate files, the reconnection a new security
profile needs) are carried out by :mod:`simulators.effect_runner`. One task per charger reads
the socket; timers are plain ``loop.call_at`` handles, so thousands fit in one process.

Usage::

    async with SimulatedChargePoint("ws://127.0.0.1:9000/ocpp", "CP-1") as cp:
        await cp.plug(1)
        await cp.code(1, "123456")
        event = await cp.wait_for(lambda e: e.status == "Charging", timeout=5)
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from simulators.configuration import DEFAULT_PROFILES
from simulators.core import FIRMWARE_VERSION
from simulators.effect_runner import EffectRunner, load_cert_dir
from simulators.events import Event, EventKind, Watch
from simulators.model import ChargePointModel
from simulators.security_events import EventMode
from simulators.session import Session, Stats
from simulators.transport import Transport, describe_failure, failure_kind, initial_profile

Predicate = Callable[[Event], bool]
SUBPROTOCOL = Subprotocol("ocpp1.6")
#: websockets ≥ 15 would route through a proxy named in the environment; a charger talks to its
#: CSMS directly. (Older versions have no proxy support and no such parameter.)
_NO_PROXY: dict[str, Any] = (
    {"proxy": None} if "proxy" in inspect.signature(connect.__init__).parameters else {})


#: HTTP 404 answers in a row after which a charger stops trying: the CSMS does not know its id
#: (OCPP-J 1.6 §3.1), and retrying will not make it known.
UNKNOWN_ID_ATTEMPTS = 3


def utc_now() -> datetime:
    return datetime.now(UTC)


class GaveUp(TimeoutError):
    """The charger stopped connecting for good (its id is unknown to the CSMS), so it will not
    boot within any timeout: a TimeoutError to whoever waits for its boot."""


class Backoff:
    """Reconnect delays: ``low`` doubling up to ``high``, with jitter (never a thundering herd)."""

    __slots__ = ("high", "low")

    def __init__(self, low: float = 1.0, high: float = 60.0) -> None:
        self.low, self.high = low, high

    def delay(self, attempt: int) -> float:
        return float(min(self.high, self.low * 2 ** min(attempt, 30)) * random.uniform(0.5, 1.0))


class SimulatedChargePoint:
    """One OCPP 1.6J charger: the model, its session, and a reconnecting WebSocket."""

    def __init__(
        self, url: str, cp_id: str, *, connectors: int = 2, power_kw: float = 22.0,
        key: str | None = None, profiles: str | Iterable[str] = DEFAULT_PROFILES,
        quirks: Iterable[str] = (), config: Mapping[str, str] | None = None,
        ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
        backoff: Backoff | None = None, call_timeout: float = 30.0, open_timeout: float = 10.0,
        record_events: bool = True, on_event: Callable[[Event], None] | None = None,
        stats: Stats | None = None, strict: bool = False, meter_start_wh: float = 0.0,
        gate: asyncio.Semaphore | None = None, tls_url: str | None = None,
        cert_dir: str | Path | None = None, security_events: str = EventMode.ALL,
        firmware_version: str = FIRMWARE_VERSION, new_firmware_version: str | None = None,
        manufacturer_roots: Iterable[str] = (), unknown_id_attempts: int = UNKNOWN_ID_ATTEMPTS,
    ) -> None:
        """Build the charger (ValueError/OSError for impossible settings); :meth:`start` runs it.

        ``key`` becomes the AuthorizationKey; ``config`` sets keys as a factory would;
        ``record_events`` off keeps no history (fleets); ``strict`` checks every frame we send
        against the 1.6 schemas; ``gate`` bounds concurrent handshakes (fleets); ``tls_url`` is
        the endpoint of security profiles 2 and 3 (default: ``url`` as wss://); ``cert_dir``
        keeps certificates; ``manufacturer_roots``: PEM files installed as
        ManufacturerRootCertificate (SignedUpdateFirmware); after ``unknown_id_attempts``
        HTTP 404 answers in a row the charger gives up (:attr:`gave_up`; 0: it never does).
        """
        self.url, self.cp_id = url.rstrip("/"), cp_id
        self.model = ChargePointModel(
            cp_id, connectors=connectors, power_kw=power_kw, profiles=profiles, quirks=quirks,
            config=_factory(config, url, key, cert_file), record_events=record_events,
            meter_start_wh=meter_start_wh, security_events=security_events,
            firmware_version=firmware_version, new_firmware_version=new_firmware_version)
        self.session = Session(self.model, call_timeout=call_timeout, stats=stats, strict=strict)
        self.history: list[Event] = []
        self.on_event = on_event
        self._prepare_certificates(cert_file, cert_dir, manufacturer_roots)
        self.transport = Transport(url, cp_id, tls_url=tls_url, ca_file=ca_file,
                                   cert_file=cert_file, key_file=key_file)
        self.transport.target(self.model)  # unusable TLS files fail here, not at connect time
        self._effects = EffectRunner(self, Path(cert_dir) if cert_dir is not None else None)
        self._backoff, self._open_timeout, self._gate = backoff or Backoff(), open_timeout, gate
        self._unknown_limit = unknown_id_attempts
        self._init_loop_state()

    def _init_loop_state(self) -> None:
        """What the asyncio side keeps: the socket, its task, timers, waiters, counters."""
        self._watch = Watch()
        self._waiters: list[asyncio.Future[None]] = []
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._wake: asyncio.Event | None = None
        self._want_online, self._closing, self._flushing, self._again = True, False, False, False
        self._fell_back = False
        self.last_error: str | None = None
        self.gave_up: str | None = None  # why the charger stopped connecting for good
        self._unknown = 0  # HTTP 404 answers in a row
        self.connects = 0
        self.started_at: float | None = None  # loop time of start()
        self.connected_after: float | None = None  # seconds from start() to the first connection
        self.booted_after: float | None = None  # seconds from start() to the first Accepted boot

    def _prepare_certificates(self, cert_file: str | None, cert_dir: str | Path | None,
                              manufacturer_roots: Iterable[str]) -> None:
        store = self.model.certs
        store.external_client = bool(cert_file)
        if cert_dir is not None and Path(cert_dir).is_dir():
            load_cert_dir(Path(cert_dir), store)
        for path in manufacturer_roots:
            status, _ = store.install("ManufacturerRootCertificate", Path(path).read_text(),
                                      utc_now(), 1000)
            if status != "Accepted":
                raise ValueError(f"{path}: not a CA certificate valid now")

    @property
    def websocket(self) -> ClientConnection | None:
        """The open connection, if any."""
        return self._ws

    # ---- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> SimulatedChargePoint:
        try:
            await self.start()
        except BaseException:
            await self.close(stop_sessions=False)
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self, *, wait_boot: bool = True, timeout: float = 10.0) -> None:
        """Start connecting; with ``wait_boot``, return once BootNotification is Accepted
        (TimeoutError, naming the last connection error, if not within ``timeout``)."""
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.started_at = loop.time()
        self._task = loop.create_task(self._run(), name=self.cp_id)
        if wait_boot:
            await self.wait_booted(timeout)

    async def wait_booted(self, timeout: float = 10.0) -> None:
        """Return once booted and connected; TimeoutError (naming the last connection error)
        after ``timeout``, :class:`GaveUp` as soon as the charger stops trying."""
        try:
            await self._until(lambda: self.gave_up is not None or (
                self.model.booted and self.session.connected), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.cp_id} did not boot within {timeout:g} s "
                               f"(last error: {self.last_error})") from None
        if self.gave_up is not None:
            raise GaveUp(f"{self.cp_id} will not boot: {self.gave_up}")

    async def close(self, *, stop_sessions: bool = True, timeout: float = 5.0) -> None:
        """Stop running transactions (reason Local) and deliver them, then disconnect."""
        if stop_sessions and self.session.connected:
            for connector in self.model.connectors[1:]:
                if connector.transaction is not None:
                    self.model.stop(connector.connector_id, utc_now())
            await self._after()
            with contextlib.suppress(TimeoutError):
                await self._until(self._delivered, timeout)
        self._closing = True
        self._cancel_timer()
        await self._effects.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._wake_up()
            try:
                await asyncio.wait_for(self._task, timeout)
            except (TimeoutError, ConnectionClosed):
                self._task.cancel()
        self._publish()

    def _delivered(self) -> bool:
        return not self.session.waiting_for_answer and not any(
            call.transactional for call in self.model.outbox)

    # ---- what a driver (or the network) does ---------------------------------------------

    async def plug(self, connector: int) -> None:
        await self._do(lambda now: self.model.plug(connector, now))

    async def unplug(self, connector: int) -> None:
        await self._do(lambda now: self.model.unplug(connector, now))

    async def code(self, connector: int, code: str) -> None:
        """A driver types ``code`` on the keypad of ``connector``."""
        self.mark()
        self.model.emit(EventKind.INFO, f"connector {connector}: code {code} typed",
                        connector=connector)
        await self._do(lambda now: self.model.present_id_tag(connector, code, now))

    async def tap(self, connector: int, tag: str) -> None:
        """A driver taps card ``tag`` on the reader of ``connector``."""
        self.mark()
        self.model.emit(EventKind.INFO, f"connector {connector}: card {tag} tapped",
                        connector=connector)
        await self._do(lambda now: self.model.present_id_tag(connector, tag, now))

    async def stop(self, connector: int) -> None:
        await self._do(lambda now: self.model.stop(connector, now))

    async def fault(self, connector: int, error_code: str = "OtherError") -> None:
        await self._do(lambda now: self.model.fault(connector, now, error_code))

    async def clear(self, connector: int) -> None:
        await self._do(lambda now: self.model.clear(connector, now))

    async def suspend(self, connector: int, suspended: bool = True) -> None:
        """The car pauses (SuspendedEV) or, with ``suspended=False``, resumes charging."""
        await self._do(lambda now: self.model.suspend(connector, now, suspended=suspended))

    async def go_offline(self, timeout: float = 5.0) -> None:
        """The network drops (no close handshake) and stays down until :meth:`go_online`."""
        self.mark()
        self._want_online = False
        if self._ws is not None:
            self._ws.transport.abort()
        await self._until(lambda: not self.session.connected, timeout)

    async def go_online(self, *, wait: bool = True, timeout: float = 10.0) -> None:
        """The network returns; with ``wait``, return once connected and booted."""
        self.mark()
        self._want_online = True
        self._wake_up()
        if wait:
            await self.wait_booted(timeout)

    async def reboot(self, *, wait: bool = True, timeout: float = 10.0) -> None:
        """The power fails and comes back (see :meth:`ChargePointModel.power_loss`): running
        transactions are forgotten (no StopTransaction is ever sent for them), reservations are
        lost, plugs stay; the link is cut without a close handshake, and the charger reconnects
        and boots again (BootNotification, then a StatusNotification for every connector).
        With ``wait``, return once booted again (if the network is up)."""
        self.mark()
        self.session.power_loss(utc_now())
        self._publish()
        if self._ws is not None:
            self._ws.transport.abort()
        if wait and self._want_online:
            await self.wait_booted(timeout)

    async def flush(self) -> None:
        """Send what the model has queued (after driving ``cp.model`` directly)."""
        await self._after()

    async def tamper(self) -> None:
        """Someone opens the enclosure: the tamper sensor fires (SEC security event
        TamperDetectionActivated, critical)."""
        self.mark()
        await self._do(lambda now: self.model.security.report(
            "TamperDetectionActivated", now, "enclosure opened"))

    async def request_certificate(self) -> None:
        """Make a key pair and a CSR and send SignCertificate (SEC A03); the CSMS answers with
        CertificateSigned, used from the next TLS connection on."""
        await self._do(self.model.request_certificate)

    async def _do(self, action: Callable[[datetime], None]) -> None:
        self.mark()
        action(utc_now())
        await self._after()

    # ---- reading state -------------------------------------------------------------------

    def status(self, connector: int) -> str:
        return str(self.model.connectors[connector].status)

    def transaction_id(self, connector: int) -> int | None:
        tx = self.model.connectors[connector].transaction
        return tx.transaction_id if tx is not None else None

    @property
    def connected(self) -> bool:
        return self.session.connected

    # ---- events --------------------------------------------------------------------------

    async def wait_for(self, predicate: Predicate, timeout: float = 5.0) -> Event:
        """An event since the last action (plug, code, … or :meth:`mark`) that satisfies
        ``predicate`` and that no earlier ``wait_for`` returned, waiting up to ``timeout``.

        Waits after one action may come in any order; the same wait twice returns two events.
        TimeoutError lists what did happen.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            index = self._watch.find(self.history, predicate)
            if index is not None:
                self._watch.matched.add(index)
                return self.history[index]
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{self.cp_id}: no matching event within {timeout:g} s; "
                                   f"saw:\n  {self._watch.recent(self.history)}")
            await self.next_event(remaining)

    def seen(self, predicate: Predicate) -> Event | None:
        """Like :meth:`wait_for` without waiting and without using the event up."""
        index = self._watch.find(self.history, predicate)
        return self.history[index] if index is not None else None

    async def next_event(self, timeout: float) -> bool:
        """Wait until a new event is published (True) or ``timeout`` passes (False)."""
        try:
            await asyncio.wait_for(self._next_publish(), max(timeout, 0.0))
        except TimeoutError:
            return False
        return True

    def mark(self) -> None:
        """Start a new action: later waits only look at events from now on."""
        self._watch.action(self.history)

    def events(self) -> AsyncIterator[Event]:
        """Every event from the moment of this call on, as it happens."""
        return self._stream(len(self.history))

    async def _stream(self, index: int) -> AsyncIterator[Event]:
        while not self._closing or index < len(self.history):
            while index < len(self.history):
                yield self.history[index]
                index += 1
            await self._next_publish()

    def _next_publish(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return future

    async def _until(self, condition: Callable[[], bool], timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._next_publish(), min(remaining, 0.5))

    def _publish(self) -> None:
        """Move the model's new events to the history and wake whoever waits."""
        events = self.model.drain_events()
        if self.model.record_events:
            self.history.extend(events)
        if self.on_event is not None:
            for event in events:
                self.on_event(event)
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    # ---- the I/O loop --------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, read until the connection ends, reconnect with backoff; until closed."""
        attempt = 0
        while not self._closing:
            if not self._want_online:
                await self._sleep(None)
                continue
            ws = await self._connect()
            if ws is None and self.gave_up is not None:
                return
            if ws is None:
                attempt = 0 if self._fell_back else attempt
                await self._sleep(self._backoff.delay(attempt))
                attempt += 1
                continue
            attempt = 0
            if self._closing or not self._want_online:  # closed or cut during the handshake
                await ws.close()
                continue
            await self._serve(ws)
            if self.model.reboot_pending is not None:
                self.model.reboot(utc_now())
                self._publish()
            elif self._effects.reconnect:  # a new security profile: at once (SEC A05)
                self._effects.reconnect = False
            elif not self._closing and self._want_online:
                await self._sleep(self._backoff.delay(0))

    async def _connect(self) -> ClientConnection | None:
        self._fell_back = False
        try:
            target = self.transport.target(self.model)
        except OSError as exc:  # a client certificate TLS cannot use
            self._handshake_failed("tls", f"client certificate: {exc}")
            return None
        self._emit(EventKind.CONNECTION, f"connecting to {target.url}")
        ping = self.model.config.get_int("WebSocketPingInterval")
        try:
            async with self._gate or contextlib.nullcontext():
                ws = await connect(
                    target.url, subprotocols=[SUBPROTOCOL], compression=None,
                    additional_headers=target.headers, ssl=target.ssl,
                    open_timeout=self._open_timeout, ping_interval=ping or None,
                    ping_timeout=ping or None, user_agent_header="csms-sim/0.1", max_queue=64,
                    **_NO_PROXY)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            self.session.stats.connect_failed(describe_failure(exc))
            self._emit(EventKind.CONNECTION, f"connection failed: {describe_failure(exc)}")
            self._count_unknown(exc, target.url)
            self._handshake_failed(failure_kind(exc), describe_failure(exc))
            return None
        if ws.subprotocol != SUBPROTOCOL:
            self._emit(EventKind.CONNECTION, f"connection refused: the server did not agree "
                       f"to {SUBPROTOCOL}")
            self._handshake_failed("network", f"the server did not agree to {SUBPROTOCOL}")
            await ws.close(1002, "ocpp1.6 required")
            return None
        self._unknown = 0
        return ws

    def _count_unknown(self, exc: BaseException, url: str) -> None:
        """Count HTTP 404 answers in a row; give up at the limit. Any other failure may pass
        (a server starting, a network down) and is retried with backoff for ever."""
        if not (isinstance(exc, InvalidStatus) and exc.response.status_code == 404):
            self._unknown = 0
            return
        self._unknown += 1
        if self._unknown_limit and self._unknown >= self._unknown_limit:
            self.gave_up = (f"the CSMS does not know charger {self.cp_id!r} (HTTP 404 from "
                            f"{url}, {self._unknown} times); register it there first")
            self._emit(EventKind.CONNECTION, f"giving up: {self.gave_up}")

    def _handshake_failed(self, kind: str, reason: str) -> None:
        """Tell the model (security events, the profile fallback of SEC A05)."""
        self.last_error = reason
        self._fell_back = self.model.security_profiles.handshake_failed(utc_now(), kind, reason)
        self._publish()

    async def _serve(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.connects += 1
        if self.connected_after is None:
            self.connected_after = self._elapsed()
        self.model.security_profiles.handshake_succeeded(utc_now())
        self.session.connection_made(utc_now())
        self._emit(EventKind.CONNECTION, f"connected ({ws.subprotocol})")
        try:
            await self._after()
            async for message in ws:
                if not self.session.connected:  # the power went (reboot): read no more
                    break
                self.session.receive(message, utc_now())
                await self._after()
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            self.session.stats.disconnects += 1
            self.session.connection_lost(utc_now())
            code = ws.close_code or 1006
            reason = ws.close_reason or ("connection lost" if code == 1006 else "closed")
            self._emit(EventKind.CONNECTION, f"disconnected ({code} {reason})")
            self._reschedule()

    async def _after(self) -> None:
        """After any step: publish events, send what is ready, re-arm the timer, reboot."""
        if self.booted_after is None and self.model.booted:
            self.booted_after = self._elapsed()
        self._publish()
        await self._flush()
        effects = self.model.take_effects()
        if effects:
            await self._effects.run(effects)
            self._publish()
        self._reschedule()

    async def _flush(self) -> None:
        """Send everything the session has; one writer at a time keeps frames in order."""
        if self._flushing:
            self._again = True
            return
        self._flushing = True
        try:
            while self._ws is not None:
                self._again = False
                frames = self.session.data_to_send(utc_now())
                self._publish()
                for frame in frames:
                    await self._ws.send(frame)
                if not frames and not self._again:
                    break
            if self._ws is not None and self.session.ready_to_reboot():
                self._emit(EventKind.INFO, "resetting")
                await self._ws.close(1000, "reset")
        except ConnectionClosed:
            pass
        finally:
            self._flushing = False

    def _reschedule(self) -> None:
        self._cancel_timer()
        deadline = self.session.next_deadline()
        if deadline is None or self._closing:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, (deadline - utc_now()).total_seconds())
        self._timer = loop.call_at(loop.time() + delay + 0.001, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.session.tick(utc_now())
        self._publish()
        task = asyncio.get_running_loop().create_task(self._after())
        task.add_done_callback(_consume)

    def _elapsed(self) -> float:
        return asyncio.get_running_loop().time() - (self.started_at or 0.0)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _sleep(self, seconds: float | None) -> None:
        """Wait ``seconds`` (None: forever) or until woken by go_online/close."""
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _emit(self, kind: EventKind, text: str) -> None:
        self.model.emit(kind, text)
        self._publish()


def _factory(config: Mapping[str, str] | None, url: str, key: str | None,
             cert_file: str | None) -> dict[str, str]:
    """The configuration the charger leaves the factory with: ``config``, the key, and the
    SecurityProfile the connection options amount to unless ``config`` names one."""
    factory = dict(config or {})
    if key:
        factory["AuthorizationKey"] = key
    if not any(name.lower() == "securityprofile" for name in factory):
        factory["SecurityProfile"] = str(initial_profile(url, key, cert_file))
    return factory


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        task.get_loop().call_exception_handler(
            {"message": "csms-sim step failed", "exception": task.exception()})
