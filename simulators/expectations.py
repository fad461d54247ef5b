"""Scenario expectations: ``expect [no] WHAT … [within SECONDS]`` and ``check WHAT …``.

``expect`` waits for an event that happened since the last action (command or ``http`` step)
and that no earlier expectation matched; ``expect no`` watches the same events through the whole
window and fails if such an event happens; ``check`` looks at the charger's state right now.

Event forms: ``status N STATUS``, ``sent ACTION [field=value …]``, ``received ACTION
[field=value …]``, ``answered ACTION [STATUS|ERRORCODE]``, ``result ACTION [STATUS]``,
``refused [N]``, ``authorized [N]``, ``reservation [N] [made|replaced|cancelled|used|expired]``,
``transaction [N] [started|stopped|REASON|STATUS]``, ``text "SUBSTRING"``, ``connected``,
``disconnected``, ``booted``. State forms: ``status N STATUS``, ``reservation N ID|none``,
``transaction N running|none``, ``connected``, ``offline``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
from collections.abc import Callable

from simulators.charge_point import SimulatedChargePoint
from simulators.events import Event, EventKind

EventTest = Callable[[Event], bool]
StateTest = Callable[[SimulatedChargePoint], bool]


@dataclasses.dataclass(frozen=True, slots=True)
class Expectation:
    description: str
    negative: bool = False
    within: float | None = None
    event_test: EventTest | None = None
    state_test: StateTest | None = None

    async def verify(self, cp: SimulatedChargePoint, timeout: float) -> str | None:
        """None when the expectation holds, else what went wrong."""
        if self.state_test is not None:
            return None if self.state_test(cp) else f"not so: {_state(cp)}"
        assert self.event_test is not None
        if not self.negative:
            try:
                await cp.wait_for(self.event_test, timeout)
            except TimeoutError as exc:
                return str(exc).split(": ", 1)[-1]
            return None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            event = cp.seen(self.event_test)
            if event is not None:
                return f"it happened: {event.text}"
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            await cp.next_event(remaining)


def parse_expectation(text: str, keyword: str = "expect") -> Expectation:
    """Parse what follows ``expect``/``check``; raise ValueError with a usage message."""
    words = shlex.split(text)
    within = None
    if len(words) >= 2 and words[-2].lower() == "within":
        within = _number(words[-1], "within SECONDS")
        words = words[:-2]
    if keyword == "check":
        return Expectation(text, within=within, state_test=_state_test(words))
    negative = bool(words) and words[0].lower() == "no"
    if negative:
        words = words[1:]
    return Expectation(text, negative, within, event_test=_event_test(words))


def _number(word: str, usage: str) -> float:
    try:
        return float(word)
    except ValueError:
        raise ValueError(f"usage: {usage}") from None


def _connector(words: list[str], index: int) -> int | None:
    if len(words) > index and words[index].isdigit():
        return int(words[index])
    return None


def _event_test(words: list[str]) -> EventTest:
    if not words:
        raise ValueError("expect what? (status, sent, received, answered, result, refused, "
                         "authorized, reservation, transaction, security, file, certificate, "
                         "text, connected, booted)")
    what, args = words[0].lower(), words[1:]
    builders: dict[str, Callable[[list[str]], EventTest]] = {
        "status": _status, "sent": _frame(EventKind.SENT), "received": _frame(EventKind.RECEIVED),
        "answered": _answer(EventKind.ANSWERED), "result": _answer(EventKind.RESULT),
        "refused": _simple(EventKind.REFUSED), "authorized": _simple(EventKind.AUTHORIZED),
        "reservation": _tagged(EventKind.RESERVATION),
        "transaction": _tagged(EventKind.TRANSACTION), "text": _text,
        "security": _tagged(EventKind.SECURITY), "file": _tagged(EventKind.FILE),
        "certificate": _tagged(EventKind.CERTIFICATE),
        "connected": lambda a: lambda e: e.kind is EventKind.CONNECTION
        and e.text.startswith("connected"),
        "disconnected": lambda a: lambda e: e.kind is EventKind.CONNECTION
        and e.text.startswith("disconnected"),
        "booted": lambda a: lambda e: e.kind is EventKind.BOOT and e.status == "Accepted",
    }
    if what not in builders:
        raise ValueError(f"cannot expect {words[0]!r}")
    return builders[what](args)


def _status(args: list[str]) -> EventTest:
    if len(args) != 2 or not args[0].isdigit():
        raise ValueError("usage: expect status N STATUS")
    connector, status = int(args[0]), args[1].lower()
    return lambda e: (e.kind is EventKind.STATUS and e.connector == connector
                      and (e.status or "").lower() == status)


def _frame(kind: EventKind) -> Callable[[list[str]], EventTest]:
    def build(args: list[str]) -> EventTest:
        if not args:
            raise ValueError(f"usage: expect {kind} ACTION [field=value ...]")
        action, fields = args[0], [_field(arg) for arg in args[1:]]

        def test(e: Event) -> bool:
            return (e.kind is kind and e.action == action
                    and all(_lookup(e.payload, path) == value for path, value in fields))

        return test

    return build


def _field(arg: str) -> tuple[list[str], str]:
    path, sep, value = arg.partition("=")
    if not sep:
        raise ValueError(f"fields are written field=value, not {arg!r}")
    return path.split("."), value


def _lookup(payload: object, path: list[str]) -> str | None:
    for key in path:
        if not isinstance(payload, dict) or key not in payload:
            return None
        payload = payload[key]
    if isinstance(payload, bool):
        return "true" if payload else "false"
    return str(payload)


def _answer(kind: EventKind) -> Callable[[list[str]], EventTest]:
    def build(args: list[str]) -> EventTest:
        if not 1 <= len(args) <= 2:
            word = "answered" if kind is EventKind.ANSWERED else "result"
            raise ValueError(f"usage: expect {word} ACTION [STATUS]")
        action, status = args[0], (args[1] if len(args) > 1 else None)
        return lambda e: (e.kind is kind and e.action == action
                          and (status is None or e.status == status))

    return build


def _simple(kind: EventKind) -> Callable[[list[str]], EventTest]:
    def build(args: list[str]) -> EventTest:
        connector = _connector(args, 0)
        return lambda e: e.kind is kind and (connector is None or e.connector == connector)

    return build


def _tagged(kind: EventKind) -> Callable[[list[str]], EventTest]:
    def build(args: list[str]) -> EventTest:
        connector = _connector(args, 0)
        rest = args[1:] if connector is not None else args
        word = rest[0].lower() if rest else None
        return lambda e: (e.kind is kind and (connector is None or e.connector == connector)
                          and (word is None or (e.status or "").lower() == word
                               or word in e.text.lower()))

    return build


def _text(args: list[str]) -> EventTest:
    if len(args) != 1:
        raise ValueError('usage: expect text "SUBSTRING"')
    needle = args[0]
    return lambda e: needle in e.text


def _state_test(words: list[str]) -> StateTest:
    what = words[0].lower() if words else ""
    if what == "status" and len(words) == 3 and words[1].isdigit():
        n, status = int(words[1]), words[2].lower()
        return lambda cp: cp.status(n).lower() == status
    if what == "reservation" and len(words) == 3 and words[1].isdigit():
        n, wanted = int(words[1]), words[2]
        return lambda cp: _reservation_of(cp, n) == (None if wanted == "none" else wanted)
    if what == "transaction" and len(words) == 3 and words[1].isdigit():
        n, running = int(words[1]), words[2].lower() == "running"
        return lambda cp: (cp.model.connectors[n].transaction is not None) == running
    if what in ("connected", "offline") and len(words) == 1:
        return lambda cp: cp.connected == (what == "connected")
    raise ValueError("usage: check status N STATUS | reservation N ID|none | "
                     "transaction N running|none | connected | offline")


def _reservation_of(cp: SimulatedChargePoint, n: int) -> str | None:
    reservation = cp.model.connectors[n].reservation
    return str(reservation.reservation_id) if reservation is not None else None


def _state(cp: SimulatedChargePoint) -> str:
    parts = [f"connector {c.connector_id} {c.status}" for c in cp.model.connectors]
    return ", ".join(parts) + (", online" if cp.connected else ", offline")
