"""Changing a booking: a driver moves or stretches their window, an operator moves a booking to
another window or connector of its site (DESIGN: the booking lifecycle).

Every change goes through the one status writer (:func:`csms.booking.store.transition`), so the
exclusion constraint refuses a taken slot (409 ``slot_taken``) with the same guarantee as
booking, and history records the change. The window is priced again by the tariff the booking
was made at, and holds what its own terms say.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from asyncpg import Range

from csms.booking import store
from csms.booking.dispatch import charging_looked_at
from csms.booking.records import Reservation
from csms.booking.states import ReservationStatus as S
from csms.domain.pricing import quote, quote_to_json
from csms.domain.tariffs import parse_tariff
from csms.domain.terms import MINUTE, BookingTerms
from csms.domain.timestamps import format_timestamp
from csms.domain.windows import InvalidWindow, check_window
from csms.errors import Conflict, NotFound, ValidationFailed


class NotMovable(Conflict):
    """The booking can no longer be changed this way (charging or over, past the terms'
    cut-off), or is being sent to its charger right now."""

    code = "not_movable"


@dataclasses.dataclass(frozen=True, slots=True)
class MoveRequest:
    """Where a booking goes; None keeps what it has."""

    start: datetime | None = None
    end: datetime | None = None
    charge_point_id: str | None = None
    connector_id: int | None = None


def check_driver_change(
    booking: Reservation, start: datetime, end: datetime, now: datetime
) -> None:
    """Raise unless the booking's own terms let its driver change it to [start, end).

    The start may move until ``change_until_minutes`` before the window starts; after that,
    and while charging, only the end may move (extend or shorten), never into the past.
    """
    terms = booking.booking_terms
    if start != booking.start and (
        booking.status is S.CHARGING or not terms.may_move_start(booking.start, now)
    ):
        cut_off = terms.change_until_minutes
        when = f"until {cut_off} minutes before it starts" if cut_off else "until it starts"
        raise NotMovable(f"the window's start can be changed {when}; its end can still move")
    if end <= now:
        raise InvalidWindow("the window must end in the future")


async def apply_move(
    connection: asyncpg.Connection,
    booking: Reservation,
    to: MoveRequest,
    now: datetime,
    *,
    lead: timedelta,
    by_operator: bool,
) -> Reservation | None:
    """The booking as ``to`` makes it (None: nothing changes). Caller holds its row lock."""
    start, end = to.start or booking.start, to.end or booking.end
    cp_id = to.charge_point_id or booking.charge_point_id
    connector_id = booking.connector_id if to.connector_id is None else to.connector_id
    before = (booking.start, booking.end, booking.charge_point_id, booking.connector_id)
    if (start, end, cp_id, connector_id) == before:
        return None
    if not by_operator:
        check_driver_change(booking, start, end, now)
    terms = booking.booking_terms
    # A window already under way keeps its start: judged from now on.
    judged_from = start if start != booking.start else max(start, now)
    check_window(judged_from, end, now, terms.window_rules)
    connector = await store.lock_connector(connection, cp_id, connector_id)
    if connector is None:
        raise NotFound(f"no bookable connector {connector_id} at {cp_id!r}")
    if connector.site_id != booking.site_id:
        raise ValidationFailed("a booking moves only between chargers of its own site")
    price = quote(
        parse_tariff(booking.tariff), ZoneInfo(booking.timezone), start, end,
        connector.max_power_kw,
    )
    window = {
        "during": Range(start, end, lower_inc=True, upper_inc=False),
        "held": Range(*terms.held(start, end), lower_inc=True, upper_inc=False),
        "price": quote_to_json(price),
    }
    who = "an operator" if by_operator else "the driver"
    span = f"{format_timestamp(start)} to {format_timestamp(end)}"
    if booking.status is S.CHARGING:  # Only its end moved: the session goes on.
        return await store.transition(
            connection, booking.id, S.CHARGING, f"window changed by {who}: {span}", now,
            expect=(S.CHARGING,), **window,
            next_action_at=charging_looked_at(end, booking.late_stop, now),
        )
    return await store.transition(
        connection, booking.id, S.BOOKED,
        f"moved by {who} to {cp_id} connector {connector_id}, {span}", now,
        expect=(S.BOOKED, S.ACTIVE), charge_point_id=cp_id, connector_id=connector_id,
        on_charger=False, dispatched_at=None, dispatch_attempts=0, redispatches=0,
        next_action_at=first_dispatch_at(terms, start, now, lead), claimed_until=None,
        **window,
    )


def first_dispatch_at(
    terms: BookingTerms, start: datetime, now: datetime, lead: timedelta
) -> datetime:
    """When the scheduler first sends a booking to its charger: the lead before the window,
    or before the early start its terms allow, whichever is earlier (never before now)."""
    return max(start - max(lead, terms.early_start_minutes * MINUTE), now)
