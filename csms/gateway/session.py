"""One charger's connection: dispatch of its CALLs, and our CALLs to it (J 4).

A :class:`Session` knows nothing of the socket library: the transport hands it each text
message (:meth:`Session.receive`) and gives it a ``send`` coroutine. It answers every CALL it
can parse, never closes the connection over bad input, and keeps at most one CALL of ours
outstanding at a time (J 4.1.1).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from csms import metrics
from csms.errors import ChargePointCallError, ChargePointNotConnected, ChargePointTimeout, CsmsError
from csms.gateway import frames, schemas
from csms.gateway.frames import ErrorCode
from csms.store.errors import is_unavailable, is_unstorable

log = logging.getLogger(__name__)


class LogThrottle:
    """At most ``limit`` log lines per ``period`` seconds; counts what it held back."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self._window_start = -period
        self._in_window = 0
        self.suppressed = 0

    def allow(self, now: float) -> bool:
        if now - self._window_start >= self.period:
            self._window_start, self._in_window = now, 0
        self._in_window += 1
        if self._in_window > self.limit:
            self.suppressed += 1
            return False
        return True

    def suppressed_note(self) -> str:
        """A note of the lines held back since the last note (and resets the count)."""
        held, self.suppressed = self.suppressed, 0
        return f" ({held} more like it not logged)" if held else ""


#: A charger (or an attacker) sending garbage must not flood the log.
_UNPARSABLE_LOG = LogThrottle(limit=10, period=60.0)
#: While the database is away every charger's transaction message fails alike.
_DATABASE_LOG = LogThrottle(limit=10, period=10.0)

#: Every CALLERROR is logged with its charger and action; a flood of bad frames is throttled.
_CALL_ERROR_LOG = LogThrottle(limit=50, period=10.0)

#: CALLs received per action, for ``/metrics``.
CALLS_RECEIVED: Counter[str] = Counter()
#: CALLERRORs sent to chargers and received from them, by error code (J 4.2.3), for ``/metrics``.
CALL_ERRORS_SENT: Counter[str] = Counter()
CALL_ERRORS_RECEIVED: Counter[str] = Counter()
_ERROR_CODES = frozenset(code.value for code in ErrorCode)
#: Our CALLs' round trips (waiting for an earlier call of ours included), by how they ended.
OCPP_CALL_SECONDS = metrics.histogram(
    "csms_ocpp_call_duration_seconds",
    "OCPP CALLs this node sent to charge points, from the call until its answer, by action and "
    "outcome (result, call_error, timeout, not_connected, error).",
    ("action", "outcome"),
)
_CALL_OUTCOMES: dict[type[CsmsError], str] = {
    ChargePointCallError: "call_error", ChargePointNotConnected: "not_connected",
}

Payload = dict[str, Any]
Handler = Callable[[str, Payload], Awaitable[Payload]]
Send = Callable[[str], Awaitable[None]]
Disconnect = Callable[[str], Awaitable[None]]

#: What a frame is, as the message log records it (``INVALID``: dropped unparsed, J 4.1.3).
CALL_TYPE, RESULT_TYPE, ERROR_TYPE, INVALID_TYPE = "CALL", "CALLRESULT", "CALLERROR", "INVALID"
IN, OUT = "in", "out"


class FrameTap(Protocol):
    """Sees every frame of a session, in and out, as it passes (the OCPP message log).

    Called on the event loop for each frame: it must only take note (no I/O, no waiting).
    ``action`` is the CALL's action, also for the answer to it when known; ``None`` otherwise.
    """

    def __call__(
        self, charge_point_id: str, direction: str, message_type: str,
        action: str | None, message_id: str, text: str,
    ) -> None: ...


class CallRefused(Exception):
    """Raised by a handler to answer a CALL with a CALLERROR of its choosing."""

    def __init__(self, error_code: ErrorCode, description: str) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description


class Session:
    """The live connection of one charge point."""

    __slots__ = (
        "_call_lock",
        "_closed",
        "_disconnect",
        "_handlers",
        "_pending",
        "_send",
        "_tap",
        "charge_point_id",
        "connected_at",
        "last_heard",
    )

    def __init__(
        self,
        charge_point_id: str,
        send: Send,
        handlers: Mapping[str, Handler],
        disconnect: Disconnect,
        tap: FrameTap | None = None,
    ) -> None:
        self.charge_point_id = charge_point_id
        self._send = send
        self._tap = tap
        self._disconnect = disconnect
        self._handlers = handlers
        self._pending: tuple[str, str, asyncio.Future[Payload]] | None = None
        self._call_lock: asyncio.Lock | None = None  # Created on first use: most never need it.
        self._closed = False
        #: ``time.monotonic()`` when the charger last sent anything (the idle rule reads it).
        self.last_heard = time.monotonic()
        #: When the connection opened (the transport sets it): of two connections of one
        #: charger, on any nodes, the newer one wins.
        self.connected_at: datetime | None = None

    async def receive(self, data: str | bytes) -> None:
        """Handle one text message from the charger.

        Raises :class:`ChargePointNotConnected` when the answer cannot be written.
        """
        self.last_heard = time.monotonic()
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s <- %.2000s", self.charge_point_id, text)
        try:
            frame = frames.parse_frame(data)
        except frames.FrameError as error:
            self._note(IN, CALL_TYPE, None, error.message_id, text)
            await self._send_error(error.message_id, error.error_code, error.description, None)
            return
        self._note_received(frame, text)
        if frame is None:
            if _UNPARSABLE_LOG.allow(self.last_heard):
                log.warning(
                    "%s: dropped unparsable message %.200r%s",
                    self.charge_point_id, data, _UNPARSABLE_LOG.suppressed_note(),
                )
        elif isinstance(frame, frames.Call):
            await self._answer(frame)
        else:
            self._resolve(frame)

    def _note_received(self, frame: frames.Frame | None, text: str) -> None:
        if self._tap is None:
            return
        if frame is None:
            self._note(IN, INVALID_TYPE, None, "", text)
        elif isinstance(frame, frames.Call):
            self._note(IN, CALL_TYPE, frame.action, frame.message_id, text)
        else:
            pending = self._pending
            action = pending[1] if pending is not None and pending[0] == frame.message_id else None
            kind = RESULT_TYPE if isinstance(frame, frames.CallResult) else ERROR_TYPE
            self._note(IN, kind, action, frame.message_id, text)

    def _note(
        self, direction: str, kind: str, action: str | None, message_id: str, text: str
    ) -> None:
        if self._tap is not None:
            self._tap(self.charge_point_id, direction, kind, action, message_id, text)

    async def _write(
        self, kind: str, action: str | None, message_id: str, text: str,
        shown: str | None = None,
    ) -> None:
        """Send one frame; the tap sees it first (a frame that cannot be written was meant).
        ``shown`` replaces ``text`` in the log and the tap (a secret taken out)."""
        self._note(OUT, kind, action, message_id, shown or text)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %.2000s", self.charge_point_id, shown or text)
        await self._send(text)

    async def _answer(self, call: frames.Call) -> None:
        handler = self._handlers.get(call.action)
        # Made-up action names are counted together: the counter stays bounded.
        CALLS_RECEIVED[call.action if handler is not None else "(unhandled)"] += 1
        if handler is None:
            code = (
                ErrorCode.NOT_SUPPORTED
                if schemas.is_known_action(call.action)
                else ErrorCode.NOT_IMPLEMENTED
            )
            description = f"{call.action} is not handled"
            await self._send_error(call.message_id, code, description, call.action)
            return
        try:
            schemas.request_validator(call.action)(call.payload)
            result = await handler(self.charge_point_id, call.payload)
            schemas.response_validator(call.action)(result)
        except (schemas.PayloadError, CallRefused) as error:
            await self._send_error(
                call.message_id, error.error_code, error.description, call.action
            )
        except CsmsError as error:
            await self._send_error(
                call.message_id, ErrorCode.GENERIC_ERROR, error.message, call.action
            )
        except Exception as error:
            code, description = self._failure(call.action, error)
            await self._send_error(call.message_id, code, description, call.action)
        else:
            text = frames.encode_call_result(call.message_id, result)
            await self._write(RESULT_TYPE, call.action, call.message_id, text)

    def _failure(self, action: str, error: Exception) -> tuple[ErrorCode, str]:
        """The CALLERROR for a handler's unexpected failure, logged as it deserves."""
        if is_unstorable(error):
            # J 4.2.3 PropertyConstraintViolation: a field holds a value that cannot be kept
            # (a NUL character, a number out of range) — refused, not an internal error.
            return (ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    f"a field holds a value that cannot be stored: {error}")
        if not is_unavailable(error):
            log.exception("%s: %s failed", self.charge_point_id, action)
            return ErrorCode.INTERNAL_ERROR, "internal error"
        # The charger sends transaction messages again after a CALLERROR (S 4.10,
        # TransactionMessageAttempts); nothing was stored, so nothing is doubled.
        if _DATABASE_LOG.allow(time.monotonic()):
            log.warning("%s: %s not handled, database unavailable: %r%s", self.charge_point_id,
                        action, error, _DATABASE_LOG.suppressed_note())
        return ErrorCode.INTERNAL_ERROR, "database unavailable; send it again"

    async def _send_error(
        self, message_id: str, code: ErrorCode, description: str, action: str | None
    ) -> None:
        CALL_ERRORS_SENT[code] += 1
        if _CALL_ERROR_LOG.allow(time.monotonic()):
            log.warning(
                "%s: CALLERROR %s sent for %s (message %.36r): %s%s", self.charge_point_id,
                code, action or "(unparsed call)", message_id, description,
                _CALL_ERROR_LOG.suppressed_note(),
            )
        text = frames.encode_call_error(message_id, code, description)
        await self._write(ERROR_TYPE, action, message_id, text)

    def _resolve(self, frame: frames.CallResult | frames.CallError) -> None:
        pending = self._pending
        if pending is None or pending[0] != frame.message_id or pending[2].done():
            log.warning(
                "%s: answer to no call of ours (%s)", self.charge_point_id, frame.message_id
            )
            return
        _, action, future = pending
        if isinstance(frame, frames.CallError):
            self._count_received_error(action, frame)
            future.set_exception(
                ChargePointCallError(frame.error_code, frame.description, frame.details)
            )
            return
        try:
            schemas.response_validator(action)(frame.payload)
        except schemas.PayloadError as error:
            future.set_exception(
                ChargePointCallError(
                    error.error_code, f"invalid {action} answer: {error.description}"
                )
            )
            return
        future.set_result(frame.payload)

    def _count_received_error(self, action: str, frame: frames.CallError) -> None:
        # Made-up codes are counted together: the counter stays bounded.
        known = frame.error_code in _ERROR_CODES
        CALL_ERRORS_RECEIVED[frame.error_code if known else "(other)"] += 1
        if _CALL_ERROR_LOG.allow(time.monotonic()):
            log.warning(
                "%s: CALLERROR %.40s received for %s: %.255s%s", self.charge_point_id,
                frame.error_code, action, frame.description, _CALL_ERROR_LOG.suppressed_note(),
            )

    async def call(self, action: str, payload: Payload, timeout: float) -> Payload:
        """Send a CALL and return the charger's CALLRESULT payload.

        Raises :class:`ChargePointTimeout` when no answer comes within ``timeout`` seconds
        (waiting for an earlier call of ours counts), :class:`ChargePointCallError` for a
        CALLERROR, and :class:`ChargePointNotConnected` when the connection is gone.
        """
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()
        started, outcome = time.monotonic(), "error"
        try:
            async with asyncio.timeout(timeout):
                async with self._call_lock:
                    answer = await self._call_now(action, payload)
                    outcome = "result"
                    return answer
        except TimeoutError:
            outcome = "timeout"
            raise ChargePointTimeout(
                f"{self.charge_point_id} did not answer {action} within {timeout:g} s"
            ) from None
        except (ChargePointCallError, ChargePointNotConnected) as error:
            outcome = _CALL_OUTCOMES.get(type(error), "error")
            raise
        finally:
            OCPP_CALL_SECONDS.observe(time.monotonic() - started, action, outcome)

    async def _call_now(self, action: str, payload: Payload) -> Payload:
        if self._closed:
            raise ChargePointNotConnected(f"{self.charge_point_id} is not connected")
        message_id = secrets.token_hex(8)
        future: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
        self._pending = (message_id, action, future)
        try:
            text = frames.encode_call(message_id, action, payload)
            shown = _redacted(message_id, action, payload)
            await self._write(CALL_TYPE, action, message_id, text, shown)
            return await future
        finally:
            self._pending = None

    async def disconnect(self, reason: str) -> None:
        """Close the connection from our side (replaced by a newer one, or shutting down)."""
        self.close()
        await self._disconnect(reason)

    def close(self) -> None:
        """The connection is gone: fail the outstanding call, refuse new ones."""
        self._closed = True
        if self._pending is not None and not self._pending[2].done():
            self._pending[2].set_exception(
                ChargePointNotConnected(f"{self.charge_point_id} disconnected")
            )


def _redacted(message_id: str, action: str, payload: Payload) -> str | None:
    """The CALL as logged when it carries a secret: the AuthorizationKey (SEC profile 1 and 2,
    A01) set by ChangeConfiguration is never written to a log or the message log."""
    if action == "ChangeConfiguration" and payload.get("key") == "AuthorizationKey":
        return frames.encode_call(message_id, action, {**payload, "value": "(redacted)"})
    return None
