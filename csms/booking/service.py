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
from asyncpg import Range

from csms.booking import store
from csms.booking.codes import generate_code
from csms.booking.records import BookableConnector, Reservation
from csms.booking.states import InvalidTransition
from csms.booking.states import ReservationStatus as S
from csms.booking.store import CodeCollision, ListFilter, NewBooking
from csms.clock import Clock
from csms.commands import CommandRouter
from csms.domain.authorization import driver_group_tag, normalize_id_tag
from csms.domain.identifiers import INT32_MAX
from csms.domain.pricing import Quote, quote, quote_to_json
from csms.domain.tariffs import parse_tariff, tariff_to_json
from csms.domain.timestamps import format_timestamp
from csms.domain.windows import WindowRules, check_window
from csms.errors import Conflict, CsmsError, NotFound, ValidationFailed
from csms.store import id_tags, sites, tariffs, transactions
from csms.store.users import User

log = logging.getLogger(__name__)

_CODE_ATTEMPTS = 20
MAX_RESULTS = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Search:
    start: datetime
    end: datetime
    site_id: int | None = None
    connector_type: str | None = None
    min_power_kw: Decimal | None = None
    energy_kwh: Decimal | None = None


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


class NotMovable(Conflict):
    """The booking can no longer be moved (charging or over), or is being sent to its charger."""

    code = "not_movable"


@dataclasses.dataclass(frozen=True, slots=True)
class MoveRequest:
    """Where an operator moves a booking; None keeps what it has."""

    start: datetime | None = None
    end: datetime | None = None
    charge_point_id: str | None = None
    connector_id: int | None = None


class ConnectorBooked(Conflict):
    """The connector is booked by a driver right now."""

    code = "connector_booked"


class Booking:
    def __init__(
        self,
        pool: asyncpg.Pool,
        router: CommandRouter,
        clock: Clock,
        rules: WindowRules,
        reserve_lead: timedelta,
    ) -> None:
        self._pool = pool
        self._router = router
        self._clock = clock
        self._rules = rules
        self._lead = reserve_lead

    async def availability(self, search: Search) -> dict[str, Any]:
        """Connectors free for the whole window, each with the window's price."""
        check_window(search.start, search.end, self._clock(), self._rules)
        found = await store.free_connectors(
            self._pool,
            search.start,
            search.end,
            now=self._clock(),
            site_id=search.site_id,
            connector_type=search.connector_type,
            min_power_kw=search.min_power_kw,
            limit=MAX_RESULTS,
        )
        quotes: dict[tuple[int, Decimal], Quote] = {}  # Same site and power: same price.
        items = []
        for connector in found:
            key = (connector.site_id, connector.max_power_kw)
            if key not in quotes:
                quotes[key] = _quote(connector, search.start, search.end, search.energy_kwh)
            items.append(_connector_json(connector, quotes[key]))
        skipped = await sites.with_problems(self._pool, search.site_id)
        return {
            "start": search.start,
            "end": search.end,
            "connectors": items,
            # Sites never offered whatever the window, and why: the operator's to-do list.
            "unbookable_sites": [
                {"id": site.id, "name": site.name, "problems": site.problems} for site in skipped
            ],
        }

    async def book(self, user: User, request: BookingRequest) -> dict[str, Any]:
        """Book a connector for a window; 409 ``slot_taken`` when any part of it is taken."""
        now = self._clock()
        check_window(request.start, request.end, now, self._rules)
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
            reservation_id = await self._insert(connection, user, request, connector, now)
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
        now: datetime,
    ) -> int:
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
                next_action_at=max(request.start - self._lead, now),
            )
            try:
                return await store.insert(connection, new, now)
            except CodeCollision:
                continue
        raise CsmsError("could not find a free booking code; try again")

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
        who = "the driver" if booking.user_id == user.id else "an operator"
        await self._cancel(booking.id, f"cancelled by {who}")
        return await self.get(user, reservation_id)

    async def _cancel(self, reservation_id: int, reason: str) -> None:
        async with self._pool.acquire() as connection:
            try:
                cancelled = await store.transition(
                    connection, reservation_id, S.CANCELLED, reason, self._clock(),
                    next_action_at=None, claimed_until=None,
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
        """An operator moves a booking that has not started charging to another window and/or
        connector of its site (its code is unique there only), priced again by the tariff it
        was booked at. Through the one status writer, so the exclusion constraint refuses a
        taken slot (409 ``slot_taken``) and history records the move. A booking on its
        charger is cancelled there (CancelReservation) and sent again by the scheduler."""
        now = self._clock()
        async with self._pool.acquire() as connection, connection.transaction():
            booking = await store.get(connection, reservation_id, lock=True)
            if booking is None or not _visible(booking, user):
                raise NotFound(f"no reservation {reservation_id}")
            if booking.status not in (S.BOOKED, S.ACTIVE):
                raise NotMovable(f"a {booking.status} reservation can no longer be moved")
            if await store.being_dispatched(connection, reservation_id, now):
                raise NotMovable("the reservation is being sent to its charger; try again shortly")
            moved = await self._moved(connection, booking, to, now)
            if moved is not None:
                await store.notify(connection, str(reservation_id))
        if moved is not None:
            log.info("reservation %s moved by an operator: %s", reservation_id, moved.status_reason)
            if booking.on_charger:
                await self._cancel_on_charger(booking)
        return await self.get(user, reservation_id)

    async def _moved(
        self, connection: asyncpg.Connection, booking: Reservation, to: MoveRequest, now: datetime
    ) -> Reservation | None:
        """The booking moved as ``to`` says (None: it is there already)."""
        start, end = to.start or booking.start, to.end or booking.end
        cp_id = to.charge_point_id or booking.charge_point_id
        connector_id = booking.connector_id if to.connector_id is None else to.connector_id
        before = (booking.start, booking.end, booking.charge_point_id, booking.connector_id)
        if (start, end, cp_id, connector_id) == before:
            return None
        # A window already under way keeps its start: judged from now on.
        check_window(start if start != booking.start else max(start, now), end, now, self._rules)
        connector = await store.lock_connector(connection, cp_id, connector_id)
        if connector is None:
            raise NotFound(f"no bookable connector {connector_id} at {cp_id!r}")
        if connector.site_id != booking.site_id:
            raise ValidationFailed("a booking moves only between chargers of its own site")
        price = quote(
            parse_tariff(booking.tariff), ZoneInfo(booking.timezone), start, end,
            connector.max_power_kw,
        )
        reason = (
            f"moved by an operator to {cp_id} connector {connector_id}, "
            f"{format_timestamp(start)} to {format_timestamp(end)}"
        )
        return await store.transition(
            connection, booking.id, S.BOOKED, reason, now, expect=(S.BOOKED, S.ACTIVE),
            charge_point_id=cp_id, connector_id=connector_id,
            during=Range(start, end, lower_inc=True, upper_inc=False),
            price=quote_to_json(price), on_charger=False, dispatched_at=None,
            dispatch_attempts=0, redispatches=0, next_action_at=max(start - self._lead, now),
            claimed_until=None,
        )

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


def _connector_json(connector: BookableConnector, price: Quote) -> dict[str, Any]:
    return {
        "charge_point_id": connector.charge_point_id,
        "connector_id": connector.connector_id,
        "site": {
            "id": connector.site_id,
            "name": connector.site_name,
            "timezone": connector.timezone,
            "problems": [],  # A site with a problem offers nothing (see unbookable_sites).
        },
        "connector_type": connector.connector_type,
        "max_power_kw": float(connector.max_power_kw),  # A measure, not money: a JSON number.
        "price": quote_to_json(price),
    }


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
    }
    if booking.status_reason is not None:
        view["status_reason"] = booking.status_reason
    if booking.cost is not None:
        view["cost"] = str(booking.cost)
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
