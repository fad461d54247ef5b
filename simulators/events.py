"""What a simulated charger reports: one :class:`Event` per thing that happened.

Each event has a plain ``text`` a person can read (the interactive mode prints exactly that) and
structured fields that tests match on, e.g. ``e.kind is EventKind.STATUS and e.connector == 1
and e.status == "Reserved"``, or ``e.kind is EventKind.SENT and e.action == "StartTransaction"``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any


class EventKind(enum.StrEnum):
    STATUS = "status"  # a connector's status changed (the StatusNotification is queued)
    SENT = "sent"  # we sent a CALL
    RESULT = "result"  # the CSMS answered one of our CALLs with a CALLRESULT
    CALL_ERROR = "call-error"  # the CSMS answered one of our CALLs with a CALLERROR
    RECEIVED = "received"  # the CSMS sent us a CALL
    ANSWERED = "answered"  # we answered the CSMS's CALL (payload) or refused it (error)
    REFUSED = "refused"  # a driver's idTag or request was refused locally
    AUTHORIZED = "authorized"  # a driver's idTag was accepted
    RESERVATION = "reservation"  # a reservation was made, replaced, cancelled, used or expired
    TRANSACTION = "transaction"  # a transaction started or stopped
    BOOT = "boot"  # BootNotification answered
    CONNECTION = "connection"  # connecting, connected, disconnected, refused
    CONFIG = "config"  # a configuration key changed
    SECURITY = "security"  # a security event (SEC), its ``status`` is the event type
    FILE = "file"  # firmware update, diagnostics or log upload progress (``status``)
    CERTIFICATE = "certificate"  # a certificate requested, installed, refused or deleted
    INFO = "info"  # anything else worth a line
    ERROR = "error"  # something went wrong (bad frame, timeout, dropped message)


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened; ``text`` is the human-readable line."""

    kind: EventKind
    text: str
    connector: int | None = None
    status: str | None = None
    action: str | None = None
    payload: dict[str, Any] | None = None
    reservation_id: int | None = None
    transaction_id: int | None = None

    def __str__(self) -> str:
        return self.text


@dataclasses.dataclass(slots=True)
class Watch:
    """Which events of a history a waiter may still match: those from ``baseline`` (the last
    action) on that no earlier wait matched. So the waits after an action may come in any
    order, and the same wait twice matches two events."""

    baseline: int = 0
    matched: set[int] = dataclasses.field(default_factory=set)

    def find(self, history: list[Event], test: Callable[[Event], bool]) -> int | None:
        for index in range(self.baseline, len(history)):
            if index not in self.matched and test(history[index]):
                return index
        return None

    def recent(self, history: list[Event], count: int = 25) -> str:
        """The last ``count`` events since the baseline, one per line, for error messages."""
        return "\n  ".join(e.text for e in history[self.baseline:][-count:]) or "(nothing)"

    def action(self, history: list[Event]) -> None:
        """An action is about to happen: later waits look from here on."""
        self.baseline = len(history)
        self.matched = set()
