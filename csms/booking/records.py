"""The typed rows of bookings that the rest of csms sees (the store converts to them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from csms.booking.codes import BookedCode
from csms.booking.states import ReservationStatus
from csms.domain.terms import MINUTE, BookingTerms


@dataclasses.dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    user_id: int
    site_id: int
    charge_point_id: str
    connector_id: int
    start: datetime
    end: datetime
    code: str
    status: ReservationStatus
    status_reason: str | None
    #: The quote booked at (API.md ``price``) and the tariff it came from.
    price: dict[str, Any]
    tariff: dict[str, Any]
    timezone: str
    parent_id_tag: str | None
    idempotency_key: str | None
    #: When ReserveNow was sent to the current connector (the code works from then).
    dispatched_at: datetime | None
    #: Reserved on the charger itself (cancelling must send CancelReservation).
    on_charger: bool
    dispatch_attempts: int
    redispatches: int
    transaction_id: int | None
    energy_kwh: Decimal | None
    cost: Decimal | None
    cost_breakdown: dict[str, Any] | None
    created_at: datetime
    #: The booking terms it was made under, every term, as stored (:attr:`booking_terms`).
    terms: dict[str, Any]

    @property
    def booking_terms(self) -> BookingTerms:
        return BookingTerms.merged(BookingTerms(), self.terms)

    @property
    def late_stop(self) -> timedelta:
        """How long its session may go on after the window (its terms' late stop)."""
        return self.booking_terms.late_stop_minutes * MINUTE

    @property
    def booked_code(self) -> BookedCode:
        return BookedCode(
            reservation_id=self.id,
            charge_point_id=self.charge_point_id,
            connector_id=self.connector_id,
            start=self.start,
            end=self.end,
            status=self.status,
            dispatched_at=self.dispatched_at,
            parent_id_tag=self.parent_id_tag,
            early_start=self.booking_terms.early_start_minutes * MINUTE,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    status: ReservationStatus
    reason: str
    charge_point_id: str
    connector_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class BookableConnector:
    charge_point_id: str
    connector_id: int
    connector_type: str
    max_power_kw: Decimal
    site_id: int
    site_name: str
    timezone: str
    #: The terms the site sets (only those; the installation's defaults fill in the rest).
    site_terms: dict[str, Any]
    #: The site's tariff as stored (``csms.store.tariffs.from_row`` reads it).
    tariff: Any


#: What settles a booking whose session ended without a StopTransaction; True when it did.
Settle = Callable[[Reservation, datetime, bool], Awaitable[bool]]
