"""Start and stop transactions: re-check the idTag, link the booking, store idempotently,
settle the booking from its readings (S 4.8, 4.10, 5.2).

A charger repeats a transaction message until it is answered, so a repeat finds the stored
row and gets the first answer again. A charger that loses power loses its StopTransaction:
the next StartTransaction on that connector closes the old transaction, and a booking whose
session ended without a Stop is settled from its last readings.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg

from csms.booking import store as bookings
from csms.booking.cost import cost_to_json, energy_wh, last_reading, priced_readings, session_cost
from csms.booking.dispatch import charging_looked_at
from csms.booking.records import Reservation
from csms.booking.states import ReservationStatus as S
from csms.clock import Clock
from csms.domain.authorization import AuthorizationStatus, IdTagInfo, decide
from csms.domain.identifiers import as_int32_id
from csms.domain.meter_values import Sample
from csms.domain.tariffs import parse_tariff
from csms.services.verification import IdTagVerifier, StartDecision
from csms.store import id_tags
from csms.store import transactions as store

log = logging.getLogger(__name__)

#: A start time further in the future than this is a wrong clock: judge it by our clock instead.
_CLOCK_TOLERANCE = timedelta(minutes=5)
#: Connector states in which a session is still going (S 7.7).
_IN_SESSION = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
#: A booking still "charging" this long after its window is settled whatever the charger says.
_GIVE_UP_AFTER = timedelta(hours=12)


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

        A refused start still gets a transaction id (the charger needs one to stop it) and is
        recorded as refused, not left open.
        """
        now = self._clock()
        async with self._pool.acquire() as connection, connection.transaction():
            existing = await store.find_repeat(
                connection, request.charge_point_id, request.connector_id, request.started_at,
                request.id_tag, request.meter_start,
            )
            if existing is not None:
                info = decide(await id_tags.find(connection, request.id_tag), now)
                status = AuthorizationStatus(existing.id_tag_status)
                return StartAnswer(existing.id, dataclasses.replace(info, status=status))
            decision = await self._decide(connection, request, now)
            started = await store.insert_start(
                connection,
                store.NewStart(
                    charge_point_id=request.charge_point_id,
                    connector_id=request.connector_id,
                    id_tag=request.id_tag,
                    id_tag_status=decision.info.status,
                    meter_start=request.meter_start,
                    started_at=request.started_at,
                    received_at=now,
                    reservation_id=decision.reservation_id,
                ),
            )
            if started.created:
                # Link first: a booking continued by this start follows it, and is not settled
                # with the transaction whose Stop was lost.
                if decision.reservation_id is not None:
                    await _link(connection, decision.reservation_id, started.id, now)
                await self._close_lost(connection, request, started.id, now)
        log.info(
            "transaction %s at %s/%s: %s",
            started.id, request.charge_point_id, request.connector_id, decision.info.status,
        )
        status = AuthorizationStatus(started.id_tag_status)
        return StartAnswer(started.id, dataclasses.replace(decision.info, status=status))

    async def _decide(
        self, connection: asyncpg.Connection, request: StartRequest, now: datetime
    ) -> StartDecision:
        concurrent = await store.tag_has_open_transaction(
            connection, request.id_tag, other_than=(request.charge_point_id, request.connector_id)
        )
        moment = request.started_at if request.started_at <= now + _CLOCK_TOLERANCE else now
        return await self._verifier.start(
            connection, request.charge_point_id, request.connector_id, request.id_tag, moment,
            concurrent,
        )

    async def _close_lost(
        self, connection: asyncpg.Connection, request: StartRequest, new_id: int, now: datetime
    ) -> None:
        """A new start on a connector with an open transaction: the charger lost its Stop
        (power loss, reboot). The old one ends at its last reading; its booking is settled,
        unless the new transaction continues it (then the booking follows the new one)."""
        for lost in await store.open_on_connector(
            connection, request.charge_point_id, request.connector_id, other_than=new_id
        ):
            await self._end_without_stop(
                connection, lost.id, request.charge_point_id, now,
                "the charger lost the session's Stop (a new one started on the connector)",
            )
            log.warning("transaction %s: Stop lost; closed by the start of %s", lost.id, new_id)

    async def _end_without_stop(
        self, connection: asyncpg.Connection, transaction_id: int, charge_point_id: str,
        now: datetime, reason: str,
    ) -> None:
        register = await store.meter(connection, transaction_id)
        assert register is not None
        last = last_reading(dataclasses.replace(register, stopped_at=now, stop_received_at=now))
        await store.stop(
            connection,
            store.Stop(
                transaction_id=transaction_id,
                charge_point_id=charge_point_id,
                meter_stop=int(last.wh),
                stopped_at=last.at,
                received_at=now,
                reason=store.LOST_STOP,
                id_tag=None,
                provisional=True,
            ),
        )
        await self._closed(
            connection, transaction_id, now, f"{reason}; settled from its last readings"
        )

    async def stop(self, request: StopRequest) -> IdTagInfo | None:
        """Close a transaction with its final meter and ``transactionData``; idempotent.

        A booking fulfilled by this transaction becomes ``completed`` with energy and cost.
        Returns the ``idTagInfo`` for the idTag that stopped it, if one was given (S 6.50).
        """
        now = self._clock()
        transaction_id = as_int32_id(request.transaction_id)
        async with self._pool.acquire() as connection, connection.transaction():
            await store.add_meter_values(
                connection,
                charge_point_id=request.charge_point_id,
                connector_id=None,
                transaction_id=transaction_id,
                samples=request.samples,
            )
            closed = transaction_id is not None and await store.stop(
                connection,
                store.Stop(
                    transaction_id=transaction_id,
                    charge_point_id=request.charge_point_id,
                    meter_stop=request.meter_stop,
                    stopped_at=request.stopped_at,
                    received_at=now,
                    reason=request.reason,
                    id_tag=request.id_tag,
                ),
            )
            if closed and transaction_id is not None:
                await self._closed(connection, transaction_id, now, "charging finished")
            summary = None if transaction_id is None else await store.summary(
                connection, transaction_id
            )
            info = None
            if request.id_tag is not None:
                # Only an accepted start vouches for its idTag at the stop: the answer goes into
                # the charger's authorization cache (S 3.5.1), so a refused card stays refused.
                started_by = summary.id_tag if summary and summary.start_accepted else None
                info = await self._verifier.stop(connection, started_by, request.id_tag)
        if not closed:
            log.info(
                "stop of transaction %s at %s: unknown or repeated",
                request.transaction_id, request.charge_point_id,
            )
        return info

    async def _closed(
        self, connection: asyncpg.Connection, transaction_id: int, now: datetime, reason: str
    ) -> None:
        """A transaction closed: price its energy, and settle the booking it ended."""
        register = await store.meter(connection, transaction_id)
        assert register is not None
        await store.set_energy(connection, transaction_id, energy_wh(priced_readings(register)))
        booking = await bookings.of_transaction(connection, transaction_id)
        if booking is None:
            return
        # The booking's current session ended, or an earlier one of a booking already settled
        # was corrected by its late StopTransaction: either way the booking is (re)settled.
        if booking.transaction_id == transaction_id or booking.status is S.COMPLETED:
            await _settle(connection, booking, now, reason)

    async def settle_abandoned(
        self, booking: Reservation, now: datetime, connector_free: bool
    ) -> bool:
        """Settle a booking whose session ended without a Stop: its connector shows free, or
        its window is long over and the charger shows no session. True when settled."""
        async with self._pool.acquire() as connection, connection.transaction():
            current = await bookings.get(connection, booking.id, lock=True)
            if current is None or current.status is not S.CHARGING:
                return True
            if not connector_free and now < current.end + _GIVE_UP_AFTER:
                status = await store.connector_status(
                    connection, current.charge_point_id, current.connector_id
                )
                if status in _IN_SESSION:
                    return False
            open_ones = await store.open_of_reservation(connection, current.id)
            why = "the connector is free" if connector_free else "the window is long over"
            for lost in open_ones:
                await self._end_without_stop(
                    connection, lost.id, current.charge_point_id, now,
                    f"the session ended without a Stop ({why})",
                )
            if not open_ones:
                await _settle(connection, current, now, "the session ended without a Stop")
        log.warning("reservation %s: settled without a StopTransaction", booking.id)
        return True

    async def meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        samples: list[Sample],
    ) -> None:
        transaction = as_int32_id(transaction_id)
        late = await store.add_meter_values(
            self._pool,
            charge_point_id=charge_point_id,
            connector_id=connector_id,
            transaction_id=transaction,
            samples=samples,
        )
        if late and transaction is not None:
            # Readings of a session already closed (queued offline, or its Stop was lost):
            # its energy, and a booking it settled, are priced again with them.
            async with self._pool.acquire() as connection, connection.transaction():
                await self._closed(
                    connection, transaction, self._clock(), "late readings of the session"
                )


async def _link(
    connection: asyncpg.Connection, reservation_id: int, transaction_id: int, now: datetime
) -> None:
    """The booking is charging in this transaction (or, after a lost Stop, now in this one)."""
    booking = await bookings.get(connection, reservation_id, lock=True)
    if booking is None or booking.status not in (S.BOOKED, S.ACTIVE, S.CHARGING):
        return
    reason = "charging started" if booking.status is not S.CHARGING else (
        f"charging continues in transaction {transaction_id}"
    )
    await bookings.transition(
        connection, reservation_id, S.CHARGING, reason, now,
        transaction_id=transaction_id,
        next_action_at=charging_looked_at(booking.end, booking.late_stop, now),
    )


async def _settle(
    connection: asyncpg.Connection, booking: Reservation, now: datetime, reason: str
) -> None:
    """Price every session of the booking and complete it (again, if a late Stop corrects it)."""
    meters = await store.meters_of_reservation(connection, booking.id)
    cost = session_cost(
        parse_tariff(booking.tariff),
        ZoneInfo(booking.timezone),
        meters,
        Decimal(booking.price["reservation_fee"]),
    )
    if booking.status is S.COMPLETED:
        reason = f"settled again: {reason}"
    await bookings.transition(
        connection, booking.id, S.COMPLETED, reason, now,
        expect=(S.CHARGING, S.COMPLETED), energy_kwh=cost.energy_kwh, cost=cost.total,
        cost_breakdown=cost_to_json(cost), next_action_at=None, claimed_until=None,
    )
