"""Reservations (bookings): their states, what a booking code is worth at a charger, and what
to do with each answer a charger gives to ReserveNow (S 5.13, 6.37).

States: ``booked → active → charging → completed``, and ``cancelled``, ``expired``, ``failed``.
``booked`` waits for its window; ``active`` is reserved on the charger (or, for a charger without
the Reservation profile, enforced by the CSMS alone); a booking moved to another connector goes
back to ``booked`` until that one is reserved.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from enum import StrEnum

from csms.domain.authorization import AuthorizationStatus, IdTagInfo
from csms.errors import Conflict


class ReservationStatus(StrEnum):
    BOOKED = "booked"
    ACTIVE = "active"
    CHARGING = "charging"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"


S = ReservationStatus
#: States in which a booking holds its connector (the exclusion constraint's predicate too).
LIVE = frozenset({S.BOOKED, S.ACTIVE, S.CHARGING})
_TRANSITIONS: dict[ReservationStatus, frozenset[ReservationStatus]] = {
    S.BOOKED: frozenset({S.BOOKED, S.ACTIVE, S.CHARGING, S.CANCELLED, S.EXPIRED, S.FAILED}),
    S.ACTIVE: frozenset({S.BOOKED, S.CHARGING, S.CANCELLED, S.EXPIRED, S.FAILED}),
    S.CHARGING: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
    S.FAILED: frozenset(),
}


class InvalidTransition(Conflict):
    """The booking cannot go to that state from the one it is in."""

    code = "invalid_transition"


def can_become(current: ReservationStatus, target: ReservationStatus) -> bool:
    return target in _TRANSITIONS[current]


def check_transition(current: ReservationStatus, target: ReservationStatus) -> None:
    if not can_become(current, target):
        raise InvalidTransition(f"a {current} reservation cannot become {target}")


def can_cancel(status: ReservationStatus) -> bool:
    """Drivers may cancel until charging starts."""
    return status in (S.BOOKED, S.ACTIVE)


@dataclasses.dataclass(frozen=True, slots=True)
class BookedCode:
    """What verification needs to know of the reservation a code belongs to."""

    reservation_id: int
    charge_point_id: str
    connector_id: int
    start: datetime
    end: datetime
    status: ReservationStatus
    #: When ReserveNow was sent (or the CSMS took over enforcement); None before.
    dispatched_at: datetime | None
    parent_id_tag: str | None = None


def verify_code(
    booking: BookedCode, charge_point_id: str, connector_id: int | None, now: datetime
) -> IdTagInfo:
    """The ``idTagInfo`` for a booking code presented at a charger (OCPP-NOTES: Authorization).

    ``connector_id`` is None for Authorize, which names no connector. The code is good from
    the window's start — or earlier, from the moment ReserveNow is sent ahead of it (chargers
    may Authorize it right away) — until the window ends.
    """
    expired = IdTagInfo(AuthorizationStatus.EXPIRED, booking.end, booking.parent_id_tag)
    if booking.status in (S.CANCELLED, S.FAILED):
        return IdTagInfo(AuthorizationStatus.BLOCKED, booking.end, booking.parent_id_tag)
    if booking.status in (S.COMPLETED, S.EXPIRED):
        return expired
    if booking.charge_point_id != charge_point_id:
        return IdTagInfo(AuthorizationStatus.INVALID)
    same_connector = connector_id in (None, 0, booking.connector_id) or booking.connector_id == 0
    if booking.status is S.CHARGING:
        # The same code may stop its own session; anywhere else it is already in use.
        status = (
            AuthorizationStatus.ACCEPTED if same_connector else AuthorizationStatus.CONCURRENT_TX
        )
        return IdTagInfo(status, booking.end, booking.parent_id_tag)
    if now >= booking.end:
        return expired
    valid_from = min(booking.start, booking.dispatched_at or booking.start)
    if not same_connector or now < valid_from:
        return IdTagInfo(AuthorizationStatus.INVALID)
    return IdTagInfo(AuthorizationStatus.ACCEPTED, booking.end, booking.parent_id_tag)


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


_LOCAL = "the charger takes no reservations; the CSMS holds the booking"
_CONNECTOR_TROUBLE = frozenset(
    {DispatchOutcome.OCCUPIED, DispatchOutcome.FAULTED, DispatchOutcome.UNAVAILABLE}
)


def decide_dispatch(
    outcome: DispatchOutcome, now: datetime, window_end: datetime, retry_interval: timedelta
) -> DispatchDecision:
    """What to do after ``outcome`` (DESIGN: the booking flow, step 3).

    Busy or broken connectors: move the booking if another connector is free, else retry.
    A charger that refuses reservations: move, else the CSMS enforces the booking alone.
    An offline or silent charger: retry until the window ends, then fail.
    """
    if outcome is DispatchOutcome.ACCEPTED:
        return DispatchDecision(NextStep.ACTIVATE, "reserved on the charger")
    if outcome is DispatchOutcome.NO_RESERVATION_PROFILE:
        return DispatchDecision(
            NextStep.ENFORCE_LOCALLY,
            "the charger takes no reservations; the CSMS holds the booking",
        )
    reason = _REASONS[outcome]
    if outcome in (DispatchOutcome.REJECTED, DispatchOutcome.CALL_ERROR):
        return DispatchDecision(
            NextStep.ENFORCE_LOCALLY, f"{reason}; the CSMS holds the booking", move_first=True
        )
    retry_at = now + retry_interval
    move = outcome in _CONNECTOR_TROUBLE
    if retry_at >= window_end:
        return DispatchDecision(NextStep.FAIL, f"{reason} until the window ended", move_first=move)
    return DispatchDecision(
        NextStep.RETRY, f"{reason}; trying again", move_first=move, retry_at=retry_at
    )
