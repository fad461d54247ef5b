"""Start and stop transactions: re-check the idTag, link the booking, store idempotently
(S 4.8, 4.10, 5.2).

A charger repeats a transaction message until it is answered, so a repeat finds the stored
row and gets the first answer again.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg

from csms.clock import Clock
from csms.domain.authorization import AuthorizationStatus, IdTagInfo, decide
from csms.domain.identifiers import as_int32_id
from csms.domain.meter_values import Sample
from csms.domain.pricing import session_cost
from csms.domain.reservations import ReservationStatus
from csms.domain.tariffs import parse_tariff
from csms.services.verification import IdTagVerifier
from csms.store import id_tags
from csms.store import reservations as bookings
from csms.store import transactions as store

log = logging.getLogger(__name__)

#: A start time further in the future than this is a wrong clock: judge it by our clock instead.
_CLOCK_TOLERANCE = timedelta(minutes=5)


@dataclasses.dataclass(frozen=True, slots=True)
class StartRequest:
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: datetime
    reservation_id: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class StartAnswer:
    transaction_id: int
    id_tag_info: IdTagInfo


@dataclasses.dataclass(frozen=True, slots=True)
class StopRequest:
    charge_point_id: str
    transaction_id: int
    meter_stop: int
    stopped_at: datetime
    reason: str | None
    id_tag: str | None
    samples: list[Sample]


class Transactions:
    """Transaction handling, bound to the database, the clock and the idTag verifier."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, verifier: IdTagVerifier) -> None:
        self._pool = pool
        self._clock = clock
        self._verifier = verifier

    async def start(self, request: StartRequest) -> StartAnswer:
        """Store a start and decide its idTag; a repeat gets the first answer.

        A refused start still gets a transaction id: the charger needs one to stop it.
        """
        now = self._clock()
        async with self._pool.acquire() as connection, connection.transaction():
            existing = await store.find_start(
                connection, request.charge_point_id, request.connector_id, request.started_at
            )
            if existing is not None:
                info = decide(await id_tags.find(connection, request.id_tag), now)
                status = AuthorizationStatus(existing.id_tag_status)
                return StartAnswer(existing.id, dataclasses.replace(info, status=status))
            concurrent = await store.tag_has_open_transaction(
                connection,
                request.id_tag,
                other_than=(request.charge_point_id, request.connector_id),
            )
            moment = request.started_at if request.started_at <= now + _CLOCK_TOLERANCE else now
            decision = await self._verifier.start(
                connection,
                request.charge_point_id,
                request.connector_id,
                request.id_tag,
                moment,
                concurrent,
            )
            started = await store.insert_start(
                connection,
                charge_point_id=request.charge_point_id,
                connector_id=request.connector_id,
                id_tag=request.id_tag,
                id_tag_status=decision.info.status,
                meter_start=request.meter_start,
                started_at=request.started_at,
                reservation_id=decision.reservation_id or as_int32_id(request.reservation_id),
            )
            if decision.reservation_id is not None and started.created:
                await self._link(connection, decision.reservation_id, started.id, now)
        log.info(
            "transaction %s at %s/%s: %s",
            started.id,
            request.charge_point_id,
            request.connector_id,
            decision.info.status,
        )
        status = AuthorizationStatus(started.id_tag_status)
        return StartAnswer(started.id, dataclasses.replace(decision.info, status=status))

    @staticmethod
    async def _link(
        connection: asyncpg.Connection, reservation_id: int, transaction_id: int, now: datetime
    ) -> None:
        booking = await bookings.get(connection, reservation_id, lock=True)
        if booking is None or booking["status"] not in ("booked", "active"):
            return
        await bookings.set_status(
            connection,
            reservation_id,
            ReservationStatus.CHARGING,
            "charging started",
            now,
            transaction_id=transaction_id,
            next_action_at=None,
        )

    async def stop(self, request: StopRequest) -> IdTagInfo | None:
        """Close a transaction with its final meter and ``transactionData``; idempotent.

        A booking fulfilled by this transaction becomes ``completed`` with energy and cost.
        Returns the ``idTagInfo`` for the idTag that stopped it, if one was given (S 6.50).
        """
        transaction_id = as_int32_id(request.transaction_id)
        async with self._pool.acquire() as connection, connection.transaction():
            await store.add_meter_values(
                connection,
                charge_point_id=request.charge_point_id,
                connector_id=None,
                transaction_id=transaction_id,
                samples=request.samples,
            )
            connector = None
            if transaction_id is not None:
                connector = await store.stop(
                    connection,
                    transaction_id=transaction_id,
                    charge_point_id=request.charge_point_id,
                    meter_stop=request.meter_stop,
                    stopped_at=request.stopped_at,
                    reason=request.reason,
                    id_tag=request.id_tag,
                )
            if connector is not None and transaction_id is not None:
                await _complete_booking(connection, transaction_id, self._clock())
            record = (
                None if request.id_tag is None else await id_tags.find(connection, request.id_tag)
            )
        if connector is None:
            log.info(
                "stop of transaction %s at %s: unknown or repeated",
                request.transaction_id,
                request.charge_point_id,
            )
        return None if request.id_tag is None else decide(record, self._clock())

    async def meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        samples: list[Sample],
    ) -> None:
        await store.add_meter_values(
            self._pool,
            charge_point_id=charge_point_id,
            connector_id=connector_id,
            transaction_id=as_int32_id(transaction_id),
            samples=samples,
        )


async def _complete_booking(
    connection: asyncpg.Connection, transaction_id: int, now: datetime
) -> None:
    booking = await bookings.charging_for_transaction(connection, transaction_id)
    if booking is None:
        return
    readings = await store.energy_readings(connection, transaction_id)
    cost = session_cost(
        parse_tariff(booking["tariff"]),
        ZoneInfo(booking["timezone"]),
        readings,
        Decimal(booking["price"]["reservation_fee"]),
    )
    await bookings.set_status(
        connection,
        booking["id"],
        ReservationStatus.COMPLETED,
        "charging finished",
        now,
        energy_kwh=cost.energy_kwh,
        cost=cost.total,
    )
