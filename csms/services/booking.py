"""Booking: search a window with its price, book, look up, cancel (DESIGN: the booking flow)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from csms.clock import Clock
from csms.domain.authorization import driver_group_tag
from csms.domain.codes import generate_code
from csms.domain.pricing import Quote, quote, quote_to_json
from csms.domain.reservations import ReservationStatus, can_cancel
from csms.domain.tariffs import tariff_to_json
from csms.domain.windows import WindowRules, check_window
from csms.errors import Conflict, CsmsError, NotFound
from csms.gateway.commands import CommandRouter
from csms.store import id_tags, tariffs, transactions
from csms.store import reservations as store
from csms.store.reservations import BookableConnector, CodeCollision, ListFilter
from csms.store.schedule import WAKE_CHANNEL
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
        return {"start": search.start, "end": search.end, "connectors": items}

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
            await connection.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, str(reservation_id))
            row = await store.get(connection, reservation_id)
        assert row is not None
        log.info(
            "reservation %s booked at %s/%s",
            reservation_id,
            request.charge_point_id,
            request.connector_id,
        )
        return await self._view(row, user)

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
            try:
                return await store.insert(
                    connection,
                    user_id=user.id,
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
                    now=now,
                )
            except CodeCollision:
                continue
        raise CsmsError("could not find a free booking code; try again")

    async def get(self, user: User, reservation_id: int) -> dict[str, Any]:
        row = await store.get(self._pool, reservation_id)
        if row is None or not _visible(row, user):
            raise NotFound(f"no reservation {reservation_id}")
        return await self._view(row, user, with_history=True)

    async def list(
        self, user: User, where: ListFilter, *, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """``where.user_id`` None lists everyone's (operators only: checked by the caller)."""
        rows = await store.list_page(self._pool, where, before=before, limit=limit)
        return [await self._view(row, user) for row in rows]

    async def cancel(self, user: User, reservation_id: int) -> dict[str, Any]:
        """Cancel; a booking already on its charger is cancelled there too (Rejected is fine)."""
        now = self._clock()
        async with self._pool.acquire() as connection, connection.transaction():
            row = await store.get(connection, reservation_id, lock=True)
            if row is None or not _visible(row, user):
                raise NotFound(f"no reservation {reservation_id}")
            status = ReservationStatus(row["status"])
            if not can_cancel(status):
                raise NotCancellable(f"a {status} reservation can no longer be cancelled")
            who = "the driver" if row["user_id"] == user.id else "an operator"
            await store.set_status(
                connection,
                reservation_id,
                ReservationStatus.CANCELLED,
                f"cancelled by {who}",
                now,
                next_action_at=None,
            )
        if row["on_charger"]:
            await self._cancel_on_charger(row)
        return await self.get(user, reservation_id)

    async def _cancel_on_charger(self, row: asyncpg.Record) -> None:
        try:
            answer = await self._router.call(
                row["charge_point_id"], "CancelReservation", {"reservationId": row["id"]}, 10
            )
            log.info(
                "CancelReservation %s at %s: %s",
                row["id"],
                row["charge_point_id"],
                answer.get("status"),
            )
        except CsmsError as error:
            # The charger drops it anyway at expiryDate; the CSMS refuses the code from now on.
            log.warning(
                "CancelReservation %s at %s failed: %s", row["id"], row["charge_point_id"], error
            )

    async def _view(
        self, row: asyncpg.Record, viewer: User, *, with_history: bool = False
    ) -> dict[str, Any]:
        view = reservation_json(row)
        if row["user_id"] != viewer.id:
            del view["code"]  # A code is shown to its owner only, operators included.
        if row["transaction_id"] is not None:
            summary = await transactions.summary(self._pool, row["transaction_id"])
            view["transaction"] = _transaction_json(row, summary)
        if with_history:
            view["history"] = [
                {key: value for key, value in dict(h).items() if value is not None}
                for h in await store.history(self._pool, row["id"])
            ]
        return view


async def _repeat(
    connection: asyncpg.Connection, user: User, request: BookingRequest
) -> asyncpg.Record | None:
    """The booking an Idempotency-Key already made, if this request repeats it."""
    if request.idempotency_key is None:
        return None
    row = await store.by_idempotency_key(connection, user.id, request.idempotency_key)
    if row is None:
        return None
    # Compare with the booking as first made: a later move to another connector is no change.
    first = await connection.fetchrow(
        """SELECT charge_point_id, connector_id FROM reservation_history
           WHERE reservation_id = $1 ORDER BY id LIMIT 1""",
        row["id"],
    )
    same = first is not None and (
        first["charge_point_id"],
        first["connector_id"],
        row["start"],
        row["end"],
    ) == (
        request.charge_point_id,
        request.connector_id,
        request.start,
        request.end,
    )
    if not same:
        raise IdempotencyKeyReused("this Idempotency-Key was used for another booking")
    return row


def _visible(row: asyncpg.Record, user: User) -> bool:
    return row["user_id"] == user.id or user.role == "operator"


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
        },
        "connector_type": connector.connector_type,
        "max_power_kw": float(connector.max_power_kw),  # A measure, not money: a JSON number.
        "price": quote_to_json(price),
    }


def reservation_json(row: asyncpg.Record) -> dict[str, Any]:
    view = {
        "id": row["id"],
        "code": row["code"],
        "status": row["status"],
        "charge_point_id": row["charge_point_id"],
        "connector_id": row["connector_id"],
        "start": row["start"],
        "end": row["end"],
        "price": row["price"],
        "timezone": row["timezone"],
        "created_at": row["created_at"],
    }
    if row["status_reason"] is not None:
        view["status_reason"] = row["status_reason"]
    if row["cost"] is not None:
        view["cost"] = str(row["cost"])
        view["energy_kwh"] = str(row["energy_kwh"])
    return view


def _transaction_json(row: asyncpg.Record, summary: asyncpg.Record | None) -> dict[str, Any]:
    if summary is None:
        return {"id": row["transaction_id"]}
    energy = Decimal(summary["energy_wh"]) / 1000
    result: dict[str, Any] = {
        "id": summary["id"],
        "energy_kwh": str(
            row["energy_kwh"]
            if row["energy_kwh"] is not None
            else energy.quantize(Decimal("0.001"))
        ),
        "cost": None if row["cost"] is None else str(row["cost"]),
        "started_at": summary["started_at"],
        "stopped_at": summary["stopped_at"],
    }
    return result
