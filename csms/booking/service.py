"""Booking: search a window with its price, book, look up, cancel (DESIGN: the booking flow),
and keeping operators' remote starts off booked connectors."""

from __future__ import annotations

import builtins
import dataclasses
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from csms.booking import store
from csms.booking.changes import MoveRequest, NotMovable, apply_move, first_dispatch_at
from csms.booking.codes import generate_code
from csms.booking.cost import SessionCost, cost_to_json, fees_only
from csms.booking.records import BookableConnector, Reservation
from csms.booking.search import Search, availability
from csms.booking.states import InvalidTransition
from csms.booking.states import ReservationStatus as S
from csms.booking.store import CodeCollision, ListFilter, NewBooking
from csms.clock import Clock
from csms.commands import CommandRouter
from csms.domain.authorization import driver_group_tag, normalize_id_tag
from csms.domain.identifiers import INT32_MAX
from csms.domain.pricing import Quote, quote, quote_to_json
from csms.domain.tariffs import tariff_to_json
from csms.domain.terms import LOOSEST, BookingTerms, terms_json
from csms.domain.windows import check_window
from csms.errors import Conflict, CsmsError, NotFound
from csms.store import id_tags, tariffs, transactions
from csms.store.users import User

log = logging.getLogger(__name__)

_CODE_ATTEMPTS = 20


@dataclasses.dataclass(frozen=True, slots=True)
class BookingRequest:
    charge_point_id: str
    connector_id: int
    start: datetime
    end: datetime
    idempotency_key: str | None = None


class IdempotencyKeyReused(Conflict):
    """The Idempotency-Key was used before for a different booking."""

    code = "idempotency_key_reused"


class NotCancellable(Conflict):
    """The booking can no longer be cancelled."""

    code = "not_cancellable"


class ConnectorBooked(Conflict):
    """The connector is booked by a driver right now."""

    code = "connector_booked"


class Booking:
    def __init__(
        self,
        pool: asyncpg.Pool,
        router: CommandRouter,
        clock: Clock,
        terms: BookingTerms,
        reserve_lead: timedelta,
    ) -> None:
        self._pool = pool
        self._router = router
        self._clock = clock
        #: The terms of a site that sets none of its own.
        self._terms = terms
        self._lead = reserve_lead

    async def availability(self, search: Search) -> dict[str, Any]:
        """One page of connectors free for the whole window, each with the window's price
        (:func:`csms.booking.search.availability`)."""
        return await availability(
            self._pool, self._clock(), dataclasses.replace(search, defaults=self._terms)
        )

    async def book(self, user: User, request: BookingRequest) -> dict[str, Any]:
        """Book a connector for a window; 409 ``slot_taken`` when any part of it is taken."""
        now = self._clock()
        check_window(request.start, request.end, now, LOOSEST)  # Before any lock is taken.
        async with self._pool.acquire() as connection, connection.transaction():
            connector = await store.lock_connector(
                connection, request.charge_point_id, request.connector_id
            )
            repeat = await _repeat(connection, user, request)
            if repeat is not None:
                return await self._view(repeat, user)
            if connector is None:
                raise NotFound(
                    f"no bookable connector {request.connector_id} at {request.charge_point_id!r}"
                )
            terms = self.site_terms(connector.site_terms)
            check_window(request.start, request.end, now, terms.window_rules)
            reservation_id = await self._insert(connection, user, request, connector, terms)
            await store.notify(connection, str(reservation_id))
            booking = await store.get(connection, reservation_id)
        assert booking is not None
        log.info(
            "reservation %s booked at %s/%s",
            reservation_id,
            request.charge_point_id,
            request.connector_id,
        )
        return await self._view(booking, user)

    async def _insert(
        self,
        connection: asyncpg.Connection,
        user: User,
        request: BookingRequest,
        connector: BookableConnector,
        terms: BookingTerms,
    ) -> int:
        now = self._clock()
        price = _quote(connector, request.start, request.end, None)
        group = driver_group_tag(user.id)
        has_card = await id_tags.has_group(connection, group)
        for _ in range(_CODE_ATTEMPTS):
            new = NewBooking(
                user_id=user.id,
                site_id=connector.site_id,
                charge_point_id=request.charge_point_id,
                connector_id=request.connector_id,
                start=request.start,
                end=request.end,
                code=generate_code(),
                price=quote_to_json(price),
                tariff=tariff_to_json(tariffs.from_row(connector.tariff)),
                timezone=connector.timezone,
                parent_id_tag=group if has_card else None,
                idempotency_key=request.idempotency_key,
                next_action_at=first_dispatch_at(terms, request.start, now, self._lead),
                terms=terms_json(terms),
                held=terms.held(request.start, request.end),
            )
            try:
                return await store.insert(connection, new, now)
            except CodeCollision:
                continue
        raise CsmsError("could not find a free booking code; try again")

    def site_terms(self, stored: dict[str, Any]) -> BookingTerms:
        """A site's terms: what it sets, the installation's defaults for the rest."""
        return BookingTerms.merged(self._terms, stored)

    async def get(self, user: User, reservation_id: int) -> dict[str, Any]:
        booking = await store.get(self._pool, reservation_id)
        if booking is None or not _visible(booking, user):
            raise NotFound(f"no reservation {reservation_id}")
        return await self._view(booking, user, with_history=True)

    async def list(
        self, user: User, where: ListFilter, *, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """``where.user_id`` None lists everyone's (operators only: checked by the caller)."""
        bookings = await store.list_page(self._pool, where, before=before, limit=limit)
        return [await self._view(booking, user) for booking in bookings]

    async def cancel(self, user: User, reservation_id: int) -> dict[str, Any]:
        """Cancel; a booking already on its charger is cancelled there too (Rejected is fine)."""
        booking = await store.get(self._pool, reservation_id)
        if booking is None or not _visible(booking, user):
            raise NotFound(f"no reservation {reservation_id}")
        by_driver = booking.user_id == user.id
        # A driver cancelling after the terms' cut-off pays the cancellation fee; an operator
        # cancelling a driver's booking costs the driver nothing.
        terms = booking.booking_terms
        late = by_driver and terms.cancel_is_late(booking.start, self._clock())
        charged = fees_only(booking.price["currency"], Decimal(0), {"cancel_fee": terms.cancel_fee})
        reason = "cancelled by the driver" if by_driver else "cancelled by an operator"
        if late:
            reason += f" after the free cancellation ended (fee {charged.total} {charged.currency})"
        await self._cancel(booking.id, reason, charged if late else None)
        return await self.get(user, reservation_id)

    async def _cancel(
        self, reservation_id: int, reason: str, charged: SessionCost | None = None
    ) -> None:
        billed: dict[str, Any] = {}
        if charged is not None:
            billed = {"cost": charged.total, "cost_breakdown": cost_to_json(charged)}
        async with self._pool.acquire() as connection:
            try:
                cancelled = await store.transition(
                    connection, reservation_id, S.CANCELLED, reason, self._clock(),
                    next_action_at=None, claimed_until=None, **billed,
                )
            except InvalidTransition as error:
                raise NotCancellable(
                    f"a {error.current} reservation can no longer be cancelled"
                ) from None
        if cancelled.on_charger:
            await self._cancel_on_charger(cancelled)

    async def _cancel_on_charger(self, booking: Reservation) -> None:
        try:
            answer = await self._router.call(
                booking.charge_point_id, "CancelReservation", {"reservationId": booking.id}, 10
            )
            log.info(
                "CancelReservation %s at %s: %s",
                booking.id,
                booking.charge_point_id,
                answer.get("status"),
            )
        except CsmsError as error:
            # The charger drops it anyway at expiryDate; the CSMS refuses the code from now on.
            log.warning(
                "CancelReservation %s at %s failed: %s", booking.id, booking.charge_point_id, error
            )

    async def move(self, user: User, reservation_id: int, to: MoveRequest) -> dict[str, Any]:
        """Change a booking's window (its driver, within its terms) or move it to another
        window and/or connector of its site (an operator): :mod:`csms.booking.changes`.
        A booking on its charger is cancelled there (CancelReservation) and sent again by
        the scheduler; a charging one only has its end moved."""
        now = self._clock()
        async with self._pool.acquire() as connection, connection.transaction():
            booking = await store.get(connection, reservation_id, lock=True)
            if booking is None or not _visible(booking, user):
                raise NotFound(f"no reservation {reservation_id}")
            by_operator = booking.user_id != user.id  # (Visible to an operator only, then.)
            movable = (S.BOOKED, S.ACTIVE) if by_operator else (S.BOOKED, S.ACTIVE, S.CHARGING)
            if booking.status not in movable:
                raise NotMovable(f"a {booking.status} reservation can no longer be moved")
            if await store.being_dispatched(connection, reservation_id, now):
                raise NotMovable("the reservation is being sent to its charger; try again shortly")
            moved = await apply_move(
                connection, booking, to, now, lead=self._lead, by_operator=by_operator
            )
            if moved is not None:
                await store.notify(connection, str(reservation_id))
        if moved is not None:
            log.info("reservation %s: %s", reservation_id, moved.status_reason)
            if booking.on_charger and moved.status is S.BOOKED:
                await self._cancel_on_charger(booking)
        return await self.get(user, reservation_id)

    async def clear_for_remote_start(
        self, charge_point_id: str, payload: dict[str, Any], *, override: bool
    ) -> None:
        """Refuse (409) an operator's RemoteStartTransaction for someone else on a connector
        booked right now — chargers drop the reservation for it (OCPP-NOTES). ``override``
        cancels the booking instead, and its history says why."""
        now = self._clock()
        connector_id = payload.get("connectorId")
        for booking in await self._booked_now(charge_point_id, connector_id, now):
            if await _belongs_to(self._pool, booking, str(payload.get("idTag", ""))):
                continue
            if not override:
                raise ConnectorBooked(
                    f"connector {booking.connector_id} of {charge_point_id} is booked until "
                    f"{booking.end:%H:%M}Z; repeat with override_booking=true to start anyway"
                )
            await self._cancel(booking.id, "an operator started a session for someone else here")

    async def _booked_now(
        self, charge_point_id: str, connector_id: object, now: datetime
    ) -> builtins.list[Reservation]:
        if type(connector_id) is int and connector_id > 0:
            if connector_id > INT32_MAX:  # Beyond the connector_id column: no booking there.
                return []
            found = await store.live_on_connector(self._pool, charge_point_id, connector_id, now)
            return [found] if found is not None and found.status is not S.CHARGING else []
        # No connector named: the charger picks one, so any booked connector is at stake.
        where = ListFilter(
            charge_point_id=charge_point_id,
            overlaps_from=now,
            overlaps_to=now + timedelta(microseconds=1),
        )
        bookings = await store.list_page(self._pool, where, before=None, limit=100)
        return [b for b in bookings if b.status in (S.BOOKED, S.ACTIVE) and b.start <= now]

    async def _view(
        self, booking: Reservation, viewer: User, *, with_history: bool = False
    ) -> dict[str, Any]:
        view = reservation_json(booking)
        if booking.user_id != viewer.id:
            del view["code"]  # A code is shown to its owner only, operators included.
        if booking.transaction_id is not None:
            summary = await transactions.summary(self._pool, booking.transaction_id)
            view["transaction"] = _transaction_json(booking, summary)
        if with_history:
            view["history"] = [
                {key: value for key, value in dataclasses.asdict(h).items() if value is not None}
                for h in await store.history(self._pool, booking.id)
            ]
        return view


async def _repeat(
    connection: asyncpg.Connection, user: User, request: BookingRequest
) -> Reservation | None:
    """The booking an Idempotency-Key already made, if this request repeats it."""
    if request.idempotency_key is None:
        return None
    booking = await store.by_idempotency_key(connection, user.id, request.idempotency_key)
    if booking is None:
        return None
    # Compare with the booking as first made: a later move to another connector is no change.
    first = (await store.history(connection, booking.id))[0]
    made = (first.charge_point_id, first.connector_id, booking.start, booking.end)
    asked = (request.charge_point_id, request.connector_id, request.start, request.end)
    if made != asked:
        raise IdempotencyKeyReused("this Idempotency-Key was used for another booking")
    return booking


async def _belongs_to(pool: asyncpg.Pool, booking: Reservation, id_tag: str) -> bool:
    """The idTag is the booking's own code, or a card of its driver."""
    if normalize_id_tag(id_tag) == normalize_id_tag(booking.code):
        return True
    card = await id_tags.find(pool, id_tag)
    return (
        card is not None
        and card.parent_id_tag is not None
        and booking.parent_id_tag is not None
        and normalize_id_tag(card.parent_id_tag) == normalize_id_tag(booking.parent_id_tag)
    )


def _visible(booking: Reservation, user: User) -> bool:
    return booking.user_id == user.id or user.role == "operator"


def _quote(
    connector: BookableConnector, start: datetime, end: datetime, energy_kwh: Decimal | None
) -> Quote:
    tariff = tariffs.from_row(connector.tariff)
    return quote(
        tariff, ZoneInfo(connector.timezone), start, end, connector.max_power_kw, energy_kwh
    )


def reservation_json(booking: Reservation) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": booking.id,
        "code": booking.code,
        "status": str(booking.status),
        "charge_point_id": booking.charge_point_id,
        "connector_id": booking.connector_id,
        "start": booking.start,
        "end": booking.end,
        "price": booking.price,
        "timezone": booking.timezone,
        "created_at": booking.created_at,
        "terms": terms_json(booking.booking_terms),
    }
    if booking.status_reason is not None:
        view["status_reason"] = booking.status_reason
    if booking.cost is not None:
        view["cost"] = str(booking.cost)
    if booking.energy_kwh is not None:
        view["energy_kwh"] = str(booking.energy_kwh)
    if booking.cost_breakdown is not None:
        view["cost_breakdown"] = booking.cost_breakdown
    return view


def _transaction_json(
    booking: Reservation, summary: transactions.TransactionSummary | None
) -> dict[str, Any]:
    if summary is None:
        return {"id": booking.transaction_id}
    return {
        "id": summary.id,
        "energy_kwh": str(
            booking.energy_kwh if booking.energy_kwh is not None else summary.energy_kwh
        ),
        "cost": None if booking.cost is None else str(booking.cost),
        "started_at": summary.started_at,
        "stopped_at": summary.stopped_at,
    }
