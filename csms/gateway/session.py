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
from typing import Any

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

#: CALLs received per action, for ``/metrics``.
CALLS_RECEIVED: Counter[str] = Counter()

Payload = dict[str, Any]
Handler = Callable[[str, Payload], Awaitable[Payload]]
Send = Callable[[str], Awaitable[None]]
Disconnect = Callable[[str], Awaitable[None]]


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
    ) -> None:
        self.charge_point_id = charge_point_id
        self._send = send
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
        try:
            frame = frames.parse_frame(data)
        except frames.FrameError as error:
            await self._send_error(error.message_id, error.error_code, error.description)
            return
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
            await self._send_error(call.message_id, code, f"{call.action} is not handled")
            return
        try:
            schemas.request_validator(call.action)(call.payload)
            result = await handler(self.charge_point_id, call.payload)
            schemas.response_validator(call.action)(result)
        except schemas.PayloadError as error:
            await self._send_error(call.message_id, error.error_code, error.description)
        except CallRefused as error:
            await self._send_error(call.message_id, error.error_code, error.description)
        except CsmsError as error:
            log.warning("%s: %s refused: %s", self.charge_point_id, call.action, error)
            await self._send_error(call.message_id, ErrorCode.GENERIC_ERROR, error.message)
        except Exception as error:
            await self._send_error(call.message_id, *self._failure(call.action, error))
        else:
            await self._send(frames.encode_call_result(call.message_id, result))

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

    async def _send_error(self, message_id: str, code: ErrorCode, description: str) -> None:
        await self._send(frames.encode_call_error(message_id, code, description))

    def _resolve(self, frame: frames.CallResult | frames.CallError) -> None:
        pending = self._pending
        if pending is None or pending[0] != frame.message_id or pending[2].done():
            log.warning(
                "%s: answer to no call of ours (%s)", self.charge_point_id, frame.message_id
            )
            return
        _, action, future = pending
        if isinstance(frame, frames.CallError):
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

    async def call(self, action: str, payload: Payload, timeout: float) -> Payload:
        """Send a CALL and return the charger's CALLRESULT payload.

        Raises :class:`ChargePointTimeout` when no answer comes within ``timeout`` seconds
        (waiting for an earlier call of ours counts), :class:`ChargePointCallError` for a
        CALLERROR, and :class:`ChargePointNotConnected` when the connection is gone.
        """
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()
        try:
            async with asyncio.timeout(timeout):
                async with self._call_lock:
                    return await self._call_now(action, payload)
        except TimeoutError:
            raise ChargePointTimeout(
                f"{self.charge_point_id} did not answer {action} within {timeout:g} s"
            ) from None

    async def _call_now(self, action: str, payload: Payload) -> Payload:
        if self._closed:
            raise ChargePointNotConnected(f"{self.charge_point_id} is not connected")
        message_id = secrets.token_hex(8)
        future: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
        self._pending = (message_id, action, future)
        try:
            await self._send(frames.encode_call(message_id, action, payload))
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
