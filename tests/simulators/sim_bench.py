"""A test bench for the pure charger model: a fake clock and a scripted CSMS, no event loop.

``Bench`` owns a :class:`ChargePointModel` and its :class:`Session` (strict: every frame the
charger sends is checked against the OCPP 1.6 schemas) and plays the central system: it answers
the charger's CALLs (auto-answer on by default), sends CALLs of its own with :meth:`Bench.call`,
and moves time with :meth:`Bench.advance`, ticking at every deadline on the way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.model import ChargePointModel
from simulators.protocol import Call, CallError, CallResult, decode, encode, format_time
from simulators.session import Session

T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)

Payload = dict[str, Any]


class Bench:
    """A charger on a fake clock talking to a scripted central system."""

    def __init__(
        self,
        *,
        connectors: int = 2,
        quirks: Iterable[str] = (),
        config: Mapping[str, str] | None = None,
        profiles: str = "Core,Reservation,RemoteTrigger,LocalAuthListManagement",
        heartbeat: int = 60,
        power_kw: float = 36.0,
        online: bool = True,
        security_events: str = "all",
        new_firmware_version: str | None = None,
        cp_id: str = "CP-T",
    ) -> None:
        self.now = T0
        self.model = ChargePointModel(
            cp_id,
            connectors=connectors,
            power_kw=power_kw,
            quirks=quirks,
            config=config,
            profiles=profiles,
            security_events=security_events,
            new_firmware_version=new_firmware_version,
        )
        self.session = Session(self.model, strict=True, call_timeout=30)
        self.frames: list[Call | CallResult | CallError] = []  # everything the charger sent
        self.auto = True
        self.heartbeat = heartbeat
        self.tags: dict[str, Payload] = {}  # idTag → idTagInfo the CSMS answers
        self.start_info: dict[str, Payload] = {}  # idTag → idTagInfo in StartTransaction
        self.boot_status = "Accepted"
        self.fail_next: dict[str, str] = {}  # action → CALLERROR code, once
        self._tx_ids = itertools.count(100)
        self._ids = itertools.count(1)
        self.pending: Call | None = None  # a charger CALL we have not answered (auto off)
        if online:
            self.connect()

    # ---- plumbing ------------------------------------------------------------------------

    def connect(self) -> None:
        self.session.connection_made(self.now)
        self.pump()

    def disconnect(self) -> None:
        self.pending = None
        self.session.connection_lost(self.now)

    def pump(self) -> None:
        """Deliver the charger's frames, auto-answering its CALLs, until it has nothing left."""
        while True:
            frames = self.session.data_to_send(self.now)
            if not frames:
                return
            for text in frames:
                frame = decode(text)
                self.frames.append(frame)
                if isinstance(frame, Call):
                    self.pending = frame
                    if self.auto:
                        self.reply()

    def reply(self, payload: Payload | None = None) -> None:
        """Answer the charger's pending CALL (default: what a happy CSMS would say)."""
        call = self.pending
        assert call is not None, "the charger has no CALL waiting for an answer"
        self.pending = None
        code = self.fail_next.pop(call.action, None)
        if code is not None:
            self.session.receive(encode(CallError(call.message_id, code, "scripted")), self.now)
        else:
            answer = payload if payload is not None else self._default_answer(call)
            self.session.receive(encode(CallResult(call.message_id, answer)), self.now)
        self.pump()

    def reply_error(self, code: str = "InternalError") -> None:
        call = self.pending
        assert call is not None
        self.pending = None
        self.session.receive(encode(CallError(call.message_id, code, "scripted")), self.now)
        self.pump()

    def _default_answer(self, call: Call) -> Payload:
        time = format_time(self.now)
        tag = call.payload.get("idTag", "")
        info = self.tags.get(tag, {"status": "Accepted"})
        answers: dict[str, Callable[[], Payload]] = {
            "BootNotification": lambda: {
                "status": self.boot_status,
                "currentTime": time,
                "interval": self.heartbeat,
            },
            "Heartbeat": lambda: {"currentTime": time},
            "Authorize": lambda: {"idTagInfo": info},
            "StartTransaction": lambda: {
                "transactionId": next(self._tx_ids),
                "idTagInfo": self.start_info.get(tag, info),
            },
            "SignCertificate": lambda: {"status": "Accepted"},
        }
        return answers.get(call.action, dict)()

    def advance(self, seconds: float) -> None:
        """Move the clock, ticking at every deadline on the way; fail if a deadline does not
        move when ticked (the asyncio layer would spin on it)."""
        target = self.now + timedelta(seconds=seconds)
        previous = None
        for _ in range(100_000):
            deadline = self.session.next_deadline()
            if deadline is None or deadline > target:
                break
            assert not (deadline == previous and deadline <= self.now), "a deadline is stuck"
            previous = deadline
            self.now = max(self.now, deadline)
            self.session.tick(self.now)
            self.pump()
        else:
            raise AssertionError("too many deadlines")
        self.now = target
        self.session.tick(self.now)
        self.pump()

    def call(self, action: str, payload: Payload) -> CallResult | CallError:
        """Send a CALL as the CSMS and return the charger's answer."""
        message_id = f"csms-{next(self._ids)}"
        before = len(self.frames)
        self.session.receive(encode(Call(message_id, action, payload)), self.now)
        self.pump()
        for frame in self.frames[before:]:
            if not isinstance(frame, Call) and frame.message_id == message_id:
                return frame
        raise AssertionError(f"no answer to {action}")

    def ask(self, action: str, payload: Payload) -> Payload:
        """:meth:`call`, expecting a CALLRESULT; return its payload."""
        answer = self.call(action, payload)
        assert isinstance(answer, CallResult), answer
        return answer.payload

    # ---- driver ----------------------------------------------------------------------

    def plug(self, n: int) -> None:
        self.model.plug(n, self.now)
        self.pump()

    def unplug(self, n: int) -> None:
        self.model.unplug(n, self.now)
        self.pump()

    def tap(self, n: int, tag: str) -> None:
        self.model.present_id_tag(n, tag, self.now)
        self.pump()

    def stop(self, n: int) -> None:
        self.model.stop(n, self.now)
        self.pump()

    def fault(self, n: int) -> None:
        self.model.fault(n, self.now)
        self.pump()

    def clear(self, n: int) -> None:
        self.model.clear(n, self.now)
        self.pump()

    # ---- reading what happened -------------------------------------------------------

    def calls(self, action: str) -> list[Payload]:
        return [f.payload for f in self.frames if isinstance(f, Call) and f.action == action]

    def actions(self) -> list[str]:
        return [f.action for f in self.frames if isinstance(f, Call)]

    def statuses(self, connector: int) -> list[str]:
        """The statuses reported for ``connector``, in order."""
        return [
            p["status"] for p in self.calls("StatusNotification") if p["connectorId"] == connector
        ]

    def status(self, connector: int) -> str:
        return str(self.model.connectors[connector].status)

    def reserve(
        self,
        connector: int,
        tag: str,
        reservation_id: int = 7,
        minutes: float = 30,
        parent: str | None = None,
    ) -> str:
        payload: Payload = {
            "connectorId": connector,
            "idTag": tag,
            "reservationId": reservation_id,
            "expiryDate": format_time(self.now + timedelta(minutes=minutes)),
        }
        if parent is not None:
            payload["parentIdTag"] = parent
        return str(self.ask("ReserveNow", payload)["status"])

    def texts(self) -> list[str]:
        return [event.text for event in self.model.events]
