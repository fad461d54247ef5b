"""Putting a booking on its charger: what each answer to ReserveNow leads to (S 5.13, 6.37).

Pure decisions: the scheduler asks the charger, then asks these functions what to do next.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from enum import StrEnum


class DispatchOutcome(StrEnum):
    """What came of trying to put a booking onto its charger."""

    ACCEPTED = "Accepted"
    OCCUPIED = "Occupied"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"
    REJECTED = "Rejected"
    CALL_ERROR = "CallError"
    TIMEOUT = "Timeout"
    NOT_CONNECTED = "NotConnected"
    NO_RESERVATION_PROFILE = "NoReservationProfile"


class NextStep(StrEnum):
    ACTIVATE = "activate"
    ENFORCE_LOCALLY = "enforce_locally"
    RETRY = "retry"
    FAIL = "fail"


@dataclasses.dataclass(frozen=True, slots=True)
class DispatchDecision:
    step: NextStep
    reason: str
    #: Try another free compatible connector at the site first; ``step`` is the fallback.
    move_first: bool = False
    #: The whole charger said no (not one connector): prefer a connector of another charger.
    charger_refused: bool = False
    retry_at: datetime | None = None


_REASONS = {
    DispatchOutcome.OCCUPIED: "the connector is occupied",
    DispatchOutcome.FAULTED: "the connector is faulted",
    DispatchOutcome.UNAVAILABLE: "the connector is unavailable",
    DispatchOutcome.REJECTED: "the charger refused the reservation",
    DispatchOutcome.CALL_ERROR: "the charger answered the reservation with an error",
    DispatchOutcome.TIMEOUT: "the charger did not answer",
    DispatchOutcome.NOT_CONNECTED: "the charger is offline",
}
_CONNECTOR_TROUBLE = frozenset(
    {DispatchOutcome.OCCUPIED, DispatchOutcome.FAULTED, DispatchOutcome.UNAVAILABLE}
)
_CHARGER_REFUSED = frozenset({DispatchOutcome.REJECTED, DispatchOutcome.CALL_ERROR})
HELD_BY_CSMS = "the CSMS holds the booking"


def decide_dispatch(
    outcome: DispatchOutcome, now: datetime, window_end: datetime, retry_interval: timedelta
) -> DispatchDecision:
    """What to do after ``outcome`` (DESIGN: the booking flow, step 3).

    Busy or broken connectors: move the booking if another connector is free, else retry.
    A charger that refuses reservations: move (to another charger first), else the CSMS
    enforces the booking alone. An offline or silent charger: retry until the window ends,
    then fail.
    """
    if outcome is DispatchOutcome.ACCEPTED:
        return DispatchDecision(NextStep.ACTIVATE, "reserved on the charger")
    if outcome is DispatchOutcome.NO_RESERVATION_PROFILE:
        return DispatchDecision(
            NextStep.ENFORCE_LOCALLY, f"the charger takes no reservations; {HELD_BY_CSMS}"
        )
    reason = _REASONS[outcome]
    if outcome in _CHARGER_REFUSED:
        return DispatchDecision(
            NextStep.ENFORCE_LOCALLY,
            f"{reason}; {HELD_BY_CSMS}",
            move_first=True,
            charger_refused=True,
        )
    retry_at = now + retry_interval
    move = outcome in _CONNECTOR_TROUBLE
    if retry_at >= window_end:
        return DispatchDecision(NextStep.FAIL, f"{reason} until the window ended", move_first=move)
    return DispatchDecision(
        NextStep.RETRY, f"{reason}; trying again", move_first=move, retry_at=retry_at
    )


#: A booking still charging this long after its window is looked at (S 4.10: Stops get lost).
CHARGING_GRACE = timedelta(minutes=30)


class OverdueStep(StrEnum):
    """What a booking still charging at a given time needs (see :func:`overdue_step`)."""

    WAIT = "wait"  # Within the window or its late-stop allowance: nothing.
    STOP = "stop"  # The allowance is over: ask the charger to end the session.
    SETTLE = "settle"  # Long after: the Stop may be lost; settle from the last readings.


def charging_looked_at(end: datetime, late_stop: timedelta, now: datetime) -> datetime:
    """When a booking charging at ``now`` (window ending at ``end``) is next looked at: when
    its :func:`overdue_step` changes, or after a grace once it is to be settled."""
    step, stop_at = overdue_step(end, late_stop, now), end + late_stop
    if step is OverdueStep.WAIT:
        return stop_at
    if step is OverdueStep.STOP:
        return stop_at + CHARGING_GRACE
    return now + CHARGING_GRACE


def overdue_step(end: datetime, late_stop: timedelta, now: datetime) -> OverdueStep:
    """A charging booking's window ended at ``end``; its terms let the session go on for
    ``late_stop`` (held for the driver, and the next booking may start right after it and the
    buffer), then the session is stopped (RemoteStopTransaction, OCPP 1.6 S 5.12). A session
    still open ``CHARGING_GRACE`` after that lost its Stop or ignored the request."""
    stop_at = end + late_stop
    if now < stop_at:
        return OverdueStep.WAIT
    if now < stop_at + CHARGING_GRACE:
        return OverdueStep.STOP
    return OverdueStep.SETTLE
#: How often a reservation the charger dropped is sent again before the CSMS holds it alone.
MAX_REDISPATCHES = 3


@dataclasses.dataclass(frozen=True, slots=True)
class DroppedDecision:
    """What to do when an ``active`` booking's connector reports Available (S 5.13: the charger
    no longer holds the reservation — a remote start, a code typed elsewhere, a reboot)."""

    send_again: bool
    reason: str


def decide_dropped(on_charger: bool, redispatches: int) -> DroppedDecision | None:
    """None: nothing to do (the CSMS already holds the booking alone)."""
    if not on_charger:
        return None
    if redispatches < MAX_REDISPATCHES:
        return DroppedDecision(True, "the charger dropped the reservation; sending it again")
    return DroppedDecision(False, f"the charger keeps dropping the reservation; {HELD_BY_CSMS}")
