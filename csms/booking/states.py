"""The states of a booking and the transitions between them (DESIGN: the booking lifecycle).

``booked → active → charging → completed``, and ``cancelled``, ``expired``, ``failed``.
``booked`` waits for its window (or to be sent again); ``active`` is reserved on the charger,
or enforced by the CSMS alone for a charger without the Reservation profile; a booking moved to
another connector, or dropped by its charger, goes back to ``booked`` until it is reserved again.
:func:`csms.booking.store.transition` performs every change and consults :data:`TRANSITIONS`.
"""

from __future__ import annotations

from enum import StrEnum

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
#: States in which a booking holds its connector: the exclusion constraint's predicate too.
LIVE = frozenset({S.BOOKED, S.ACTIVE, S.CHARGING})
#: From each state, the states it may become. A state may become itself: a move to another
#: connector, a booking the CSMS takes over, charging that follows a new transaction, or a
#: completed session settled again when the charger's own StopTransaction arrives late.
TRANSITIONS: dict[ReservationStatus, frozenset[ReservationStatus]] = {
    S.BOOKED: frozenset({S.BOOKED, S.ACTIVE, S.CHARGING, S.CANCELLED, S.EXPIRED, S.FAILED}),
    S.ACTIVE: frozenset({S.BOOKED, S.ACTIVE, S.CHARGING, S.CANCELLED, S.EXPIRED, S.FAILED}),
    S.CHARGING: frozenset({S.CHARGING, S.COMPLETED}),
    S.COMPLETED: frozenset({S.COMPLETED}),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
    S.FAILED: frozenset(),
}
#: Drivers (and operators) may cancel until charging starts.
CANCELLABLE = frozenset(s for s in TRANSITIONS if S.CANCELLED in TRANSITIONS[s])


class InvalidTransition(Conflict):
    """The booking is not in a state from which it may go to the one asked for."""

    code = "invalid_transition"

    def __init__(self, reservation_id: int, current: str | None, target: ReservationStatus):
        where = "does not exist" if current is None else f"is {current}"
        super().__init__(f"reservation {reservation_id} {where}; it cannot become {target}")
        self.current = None if current is None else ReservationStatus(current)
        self.target = target


def can_become(current: ReservationStatus, target: ReservationStatus) -> bool:
    return target in TRANSITIONS[current]


def allowed_from(target: ReservationStatus) -> frozenset[ReservationStatus]:
    """The states from which a booking may become ``target``."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)
