"""The OCPP-J session of one charger, sans-I/O (J 4).

:class:`Session` sits between the model and whatever moves text: feed it what arrives with
:meth:`Session.receive`, send what :meth:`Session.data_to_send` returns, call
:meth:`Session.tick` at :meth:`Session.next_deadline`, and report the connection with
:meth:`Session.connection_made` / :meth:`Session.connection_lost`. It numbers our CALLs, keeps
at most one of them outstanding (J 4.1.1), matches answers to them, times them out, validates
the CSMS's CALLs against the 1.6 schemas and answers them through :mod:`simulators.handlers`.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta

from simulators import handlers
from simulators.calls import Answer, OutgoingCall
from simulators.events import EventKind
from simulators.model import ChargePointModel
from simulators.protocol import (
    Call,
    CallError,
    CallResult,
    FrameError,
    Payload,
    decode,
    dumps,
    encode,
)
from simulators.schemas import SchemaViolation, has_schema, validate_request, validate_response

LATENCY_SAMPLES = 20_000
#: How long an answer held back for the results of the charger's own CALLs waits at most
#: (authorize-before-answer): well inside any CSMS's timeout for its CALL, so a CSMS that
#: does not answer the charger's CALL while its own is outstanding gets a late answer, not none.
ANSWER_HOLD_SECONDS = 3.0


@dataclasses.dataclass(slots=True)
class Stats:
    """Counters that one session or a whole fleet of them adds to."""

    sent: int = 0  # frames we wrote
    received: int = 0  # frames we read
    call_errors: int = 0  # CALLERRORs answering our CALLs
    timeouts: int = 0  # our CALLs left unanswered
    bad_frames: int = 0  # text that was not a frame, or answers matching nothing
    connect_failures: int = 0  # handshakes that failed (refused, HTTP 401/404, timeout, TLS)
    disconnects: int = 0  # established connections that ended
    failure_reasons: dict[str, int] = dataclasses.field(default_factory=dict)
    latencies: list[float] = dataclasses.field(default_factory=list)
    _seen: int = 0

    @property
    def errors(self) -> int:
        return self.call_errors + self.timeouts + self.bad_frames + self.connect_failures

    def connect_failed(self, reason: str) -> None:
        self.connect_failures += 1
        self.failure_reasons[reason] = self.failure_reasons.get(reason, 0) + 1

    def observe_latency(self, seconds: float) -> None:
        """Keep a uniform sample (reservoir) of CALL round-trip times."""
        self._seen += 1
        if len(self.latencies) < LATENCY_SAMPLES:
            self.latencies.append(seconds)
        else:
            slot = random.randrange(self._seen)
            if slot < LATENCY_SAMPLES:
                self.latencies[slot] = seconds


@dataclasses.dataclass(slots=True)
class _InFlight:
    message_id: str
    call: OutgoingCall
    sent_at: datetime


@dataclasses.dataclass(slots=True)
class _Held:
    """An answer to the CSMS held back until ``calls`` more of our CALLs are sent (and, with
    ``await_results``, the last of them is answered), or until ``deadline``."""

    frame: str
    event: tuple[str, dict[str, object]]  # the ANSWERED event, emitted when the frame goes
    calls: int
    await_results: bool
    deadline: datetime


class Session:
    """OCPP-J framing and flow control for one :class:`ChargePointModel`."""

    __slots__ = ("_frames", "_held", "_ids", "_in_flight", "answer_hold", "call_timeout",
                 "connected", "model", "stats", "strict")

    def __init__(
        self, model: ChargePointModel, *, call_timeout: float = 30.0,
        stats: Stats | None = None, strict: bool = False,
        answer_hold: float = ANSWER_HOLD_SECONDS,
    ) -> None:
        """``strict`` checks every frame we send against the 1.6 schemas (for tests);
        ``answer_hold`` bounds how long an answer waits for our own CALLs' results."""
        self.model = model
        self.call_timeout = timedelta(seconds=call_timeout)
        self.answer_hold = timedelta(seconds=answer_hold)
        self.stats = stats if stats is not None else Stats()
        self.strict = strict
        self.connected = False
        self._in_flight: _InFlight | None = None
        self._frames: list[str] = []
        self._held: _Held | None = None
        self._ids = 0

    # ---- connection ----------------------------------------------------------------------

    def connection_made(self, now: datetime) -> None:
        self.connected = True
        self.model.connection_opened(now)

    def connection_lost(self, now: datetime) -> None:
        """Unsent answers are lost; the unanswered CALL goes back to the model."""
        self.connected = False
        self._frames, self._held = [], None
        unanswered = self._in_flight.call if self._in_flight is not None else None
        self._in_flight = None
        self.model.connection_closed(now, unanswered)

    def power_loss(self, now: datetime) -> None:
        """The charger loses power (see :meth:`ChargePointModel.power_loss`) and reboots:
        nothing more goes out on this connection, which the caller then cuts."""
        self.connected = False
        self._frames, self._held = [], None
        unanswered = self._in_flight.call if self._in_flight is not None else None
        self._in_flight = None
        self.model.power_loss(now, unanswered)

    @property
    def waiting_for_answer(self) -> bool:
        return self._in_flight is not None

    def ready_to_reboot(self) -> bool:
        """A reboot (Reset, installed firmware) is pending and its StopTransactions and
        status notifications are delivered (or we are offline)."""
        if self.model.reboot_pending is None:
            return False
        if not self.connected:
            return True
        return self._in_flight is None and not any(c.kept_offline for c in self.model.outbox)

    # ---- input ---------------------------------------------------------------------------

    def receive(self, text: str | bytes, now: datetime) -> None:
        """Handle one frame from the CSMS (J 4.1.3: junk is logged and dropped)."""
        self.stats.received += 1
        try:
            frame = decode(text)
        except FrameError as exc:
            self.stats.bad_frames += 1
            self._emit(EventKind.ERROR, f"dropped a bad frame: {exc}")
            return
        if isinstance(frame, Call):
            self._on_call(frame, now)
        else:
            self._on_answer(frame, now)

    def _on_call(self, frame: Call, now: datetime) -> None:
        if self.model.record_events:
            self._emit(EventKind.RECEIVED, f"<- {frame.action} {dumps(frame.payload)}",
                       action=frame.action, payload=frame.payload)
        answer = self._answer(frame, now)
        if answer.error_code is not None:
            reply: CallResult | CallError = CallError(
                frame.message_id, answer.error_code, answer.description)
            text = f"-> {frame.action} error {answer.error_code} ({answer.description})"
        else:
            payload = answer.payload or {}
            if self.strict:
                validate_response(frame.action, payload)
            reply = CallResult(frame.message_id, payload)
            text = f"-> {frame.action} result {dumps(payload)}"
        fields: dict[str, object] = {"action": frame.action, "payload": answer.payload,
                                     "status": answer.error_code or _status_of(answer.payload)}
        event = (text, fields)
        if answer.calls_first > 0:
            if self._held is not None:  # a CSMS that did not wait for our answer gets it now
                self._frames.append(self._release_held())
            self._held = _Held(encode(reply), event, answer.calls_first, answer.await_results,
                               now + self.answer_hold)
        else:
            self._emit(EventKind.ANSWERED, event[0], **event[1])
            self._frames.append(encode(reply))

    def _answer(self, frame: Call, now: datetime) -> Answer:
        if set(frame.payload) == {"_"}:
            return Answer(error_code="FormationViolation", description="payload is not an object")
        if not has_schema(frame.action):
            return Answer(error_code="NotImplemented", description=f"unknown action {frame.action}")
        try:
            validate_request(frame.action, frame.payload)
        except SchemaViolation as exc:
            return Answer(error_code=exc.error_code, description=exc.description)
        return handlers.answer(self.model, frame.action, frame.payload, now)

    def _on_answer(self, frame: CallResult | CallError, now: datetime) -> None:
        flight = self._in_flight
        if flight is None or flight.message_id != frame.message_id:
            self.stats.bad_frames += 1
            self._emit(EventKind.ERROR, f"ignored an answer to unknown message {frame.message_id}")
            return
        self._in_flight = None
        self.stats.observe_latency((now - flight.sent_at).total_seconds())
        call = flight.call
        if isinstance(frame, CallResult):
            if self.model.record_events:
                self._emit(EventKind.RESULT, f"<- {call.action} result {dumps(frame.payload)}",
                           action=call.action, payload=frame.payload,
                           connector=call.connector_id, status=_status_of(frame.payload))
            self.model.call_result(call, frame.payload, now)
        else:
            self.stats.call_errors += 1
            self._emit(EventKind.CALL_ERROR, f"<- {call.action} error {frame.error_code} "
                       f"({frame.description})", action=call.action, status=frame.error_code,
                       connector=call.connector_id)
            self.model.call_failed(call, now, error_code=frame.error_code)

    # ---- time ----------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Time out an unanswered CALL, then let the model do what is due."""
        held = self._held
        if held is not None and held.deadline <= now and (held.calls or held.await_results):
            self._emit(EventKind.ERROR, f"answering without waiting any longer for our own "
                       f"CALL ({self.answer_hold.total_seconds():g} s)")
            held.calls, held.await_results = 0, False  # goes out with the next data_to_send
        flight = self._in_flight
        if flight is not None and flight.sent_at + self.call_timeout <= now:
            self._in_flight = None
            self.stats.timeouts += 1
            self._emit(EventKind.ERROR, f"no answer to {flight.call.action} "
                       f"within {self.call_timeout.total_seconds():g} s",
                       action=flight.call.action)
            self.model.call_failed(flight.call, now, error_code=None)
        self.model.tick(now)

    def next_deadline(self) -> datetime | None:
        """When :meth:`tick` should next run."""
        due = [d for d in (self.model.next_deadline(),) if d is not None]
        if self._held is not None and (self._held.calls or self._held.await_results):
            due.append(self._held.deadline)
        if self._in_flight is not None:
            due.append(self._in_flight.sent_at + self.call_timeout)
        elif (self.connected and self.model.booted and self.model.outbox
              and self.model.outbox[0].not_before is not None):
            due.append(self.model.outbox[0].not_before)  # a transaction message waiting to retry
        return min(due) if due else None

    # ---- output --------------------------------------------------------------------------

    def data_to_send(self, now: datetime) -> list[str]:
        """Frames to write now, in order: answers, then at most one new CALL.

        A held-back answer (reserved-before-answer, authorize-before-answer) goes right after
        the CALLs it waits for, or after the last one's result when it awaits results; at once
        when nothing is queued to go before it.
        """
        if not self.connected:
            return []
        out, self._frames = self._frames, []
        held = self._held
        if held is not None and held.calls == 0 and (
                not held.await_results or self._in_flight is None):
            out.append(self._release_held())
        call = self._take_call(now) if self._in_flight is None else None
        if call is not None:
            out.append(call)
        held = self._held
        if held is not None:
            if call is not None:
                held.calls -= 1
            if (held.calls <= 0 and not held.await_results) or (
                    call is None and self._in_flight is None):
                out.append(self._release_held())
        self.stats.sent += len(out)
        return out

    def _release_held(self) -> str:
        """The held-back answer's frame, to be sent now (its ANSWERED event is recorded)."""
        held, self._held = self._held, None
        assert held is not None
        self._emit(EventKind.ANSWERED, held.event[0], **held.event[1])
        return held.frame

    def _take_call(self, now: datetime) -> str | None:
        call = self.model.next_call(now)
        if call is None:
            return None
        self._ids += 1
        message_id = str(self._ids)
        payload = call.final_payload()
        if self.strict:
            validate_request(call.action, payload)
        self._in_flight = _InFlight(message_id, call, now)
        if self.model.record_events:
            self._emit(EventKind.SENT, f"-> {call.action} {dumps(payload)}", action=call.action,
                       payload=payload, connector=call.connector_id)
        return encode(Call(message_id, call.action, payload))

    def _emit(self, kind: EventKind, text: str, **fields: object) -> None:
        self.model.emit(kind, text, **fields)


def _status_of(payload: Payload | None) -> str | None:
    if not payload:
        return None
    status = payload.get("status")
    if status is None and isinstance(payload.get("idTagInfo"), dict):
        status = payload["idTagInfo"].get("status")
    return str(status) if status is not None else None
