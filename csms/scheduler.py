"""The scheduler: drives bookings through time (DESIGN: the booking flow, steps 3 and 6).

Due bookings are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease, so any number of nodes
can run a scheduler. It wakes on ``NOTIFY csms_reservations`` (a new booking, a charger back
online, a connector in trouble) and polls as a fallback. For each booking it dispatches
ReserveNow at window start (minus the lead), retries, moves the booking to another connector,
or fails it; at window end an unused booking expires. The rules for each answer are
:func:`csms.domain.reservations.decide_dispatch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

import asyncpg

from csms.clock import Clock
from csms.domain.reservations import (
    DispatchDecision,
    DispatchOutcome,
    NextStep,
    ReservationStatus,
    decide_dispatch,
)
from csms.domain.timestamps import format_timestamp
from csms.errors import ChargePointCallError, ChargePointNotConnected, ChargePointTimeout
from csms.gateway.commands import CommandRouter
from csms.store import reservations as bookings
from csms.store import schedule

log = logging.getLogger(__name__)

_BATCH = 100
_MAX_MOVES = 5
_RESERVE_NOW_ANSWERS = {o.value: o for o in DispatchOutcome}


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        router: CommandRouter,
        clock: Clock,
        *,
        poll_seconds: float,
        retry_interval: timedelta,
        call_timeout: float,
    ) -> None:
        self._pool = pool
        self._router = router
        self._clock = clock
        self._poll = poll_seconds
        self._retry_interval = retry_interval
        self._call_timeout = call_timeout
        self._wake = asyncio.Event()
        self._asking: dict[str, asyncio.Future[list[str]]] = {}

    def wake(self, *_: object) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled; listens for wake-ups on its own connection."""
        async with self._pool.acquire() as listener:
            await listener.add_listener(schedule.WAKE_CHANNEL, self.wake)
            try:
                while True:
                    await self._sleep(await self._pass())
            finally:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(schedule.WAKE_CHANNEL, self.wake)

    async def _pass(self) -> float:
        """One pass; how long to sleep before the next (0 when a full batch says: more due)."""
        try:
            if await self.run_once() >= _BATCH:
                return 0.0
            due = await schedule.next_due(self._pool)
        except (OSError, asyncpg.PostgresError):
            log.exception("scheduler pass failed; trying again")
            return self._poll
        if due is None:
            return self._poll
        # Wake when the next window opens, not up to a poll interval after it.
        return min(self._poll, max((due - self._clock()).total_seconds(), 0.0))

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def run_once(self) -> int:
        """Handle everything due now; return how many bookings were handled."""
        now = self._clock()
        lease = now + timedelta(seconds=2 * self._call_timeout + 30)
        due = await schedule.claim_due(self._pool, now, lease, _BATCH)
        await asyncio.gather(*(self._handle(row) for row in due))
        return len(due)

    async def _handle(self, row: asyncpg.Record) -> None:
        try:
            if self._clock() >= row["end"]:
                await self._expire(row)
            elif row["status"] == ReservationStatus.BOOKED:
                await self._dispatch(row, moves=0)
            else:
                await self._release(row["id"], row["end"])
        except Exception:
            log.exception("reservation %s: scheduling failed", row["id"])
            await self._release(row["id"], self._clock() + self._retry_interval)

    async def _release(self, reservation_id: int, next_action_at: datetime | None) -> None:
        async with self._pool.acquire() as connection:
            await schedule.release(connection, reservation_id, next_action_at)

    async def _expire(self, row: asyncpg.Record) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            current = await bookings.get(connection, row["id"], lock=True)
            if current is not None and current["status"] in ("booked", "active"):
                # The charger drops an unused reservation at expiryDate itself (S 5.13).
                await bookings.set_status(
                    connection,
                    row["id"],
                    ReservationStatus.EXPIRED,
                    "the window ended unused",
                    self._clock(),
                )
            await schedule.release(connection, row["id"], None)
        log.info("reservation %s expired", row["id"])

    async def _dispatch(self, row: asyncpg.Record, moves: int) -> None:
        outcome = await self._send(row)
        now = self._clock()
        decision = decide_dispatch(outcome, now, row["end"], self._retry_interval)
        log.info(
            "reservation %s at %s/%s: %s -> %s",
            row["id"],
            row["charge_point_id"],
            row["connector_id"],
            outcome,
            decision.step,
        )
        if decision.move_first and moves < _MAX_MOVES:
            moved = await self._move(row, decision, now)
            if moved is not None:
                await self._dispatch(moved, moves + 1)
                return
        await self._apply(row, outcome, decision, now)

    async def _send(self, row: asyncpg.Record) -> DispatchOutcome:
        """Put the booking on its charger; what came of it."""
        cp_id = row["charge_point_id"]
        try:
            if not await self._takes_reservations(cp_id):
                return DispatchOutcome.NO_RESERVATION_PROFILE
            payload = {
                "connectorId": row["connector_id"],
                "expiryDate": format_timestamp(row["end"]),
                "idTag": row["code"],
                "reservationId": row["id"],
            }
            if row["parent_id_tag"]:
                payload["parentIdTag"] = row["parent_id_tag"]
            answer = await self._router.call(cp_id, "ReserveNow", payload, self._call_timeout)
        except ChargePointNotConnected:
            return DispatchOutcome.NOT_CONNECTED
        except ChargePointTimeout:
            return DispatchOutcome.TIMEOUT
        except ChargePointCallError as error:
            log.warning("reservation %s: ReserveNow answered with %s", row["id"], error)
            return DispatchOutcome.CALL_ERROR
        return _RESERVE_NOW_ANSWERS.get(str(answer.get("status")), DispatchOutcome.REJECTED)

    async def _takes_reservations(self, charge_point_id: str) -> bool:
        """Whether SupportedFeatureProfiles lists Reservation; asked once per boot (S 9.1).

        Bookings of one charger dispatched together share one GetConfiguration.
        """
        asking = self._asking.get(charge_point_id)
        if asking is None:
            asking = asyncio.ensure_future(self._profiles(charge_point_id))
            self._asking[charge_point_id] = asking
            asking.add_done_callback(lambda _: self._asking.pop(charge_point_id, None))
        profiles = await asyncio.shield(asking)
        return any(p.casefold() == "reservation" for p in profiles)

    async def _profiles(self, charge_point_id: str) -> list[str]:
        profiles = await schedule.profiles_of(self._pool, charge_point_id)
        if profiles is None:
            answer = await self._router.call(
                charge_point_id,
                "GetConfiguration",
                {"key": ["SupportedFeatureProfiles", "ReserveConnectorZeroSupported"]},
                self._call_timeout,
            )
            values = {
                item.get("key"): item.get("value") for item in answer.get("configurationKey", [])
            }
            # A comma list; some chargers put spaces after the commas (OCPP-NOTES).
            profiles = [
                p.strip()
                for p in str(values.get("SupportedFeatureProfiles") or "").split(",")
                if p.strip()
            ]
            zero = values.get("ReserveConnectorZeroSupported")
            await schedule.set_profiles(
                self._pool,
                charge_point_id,
                profiles,
                None if zero is None else zero.lower() == "true",
            )
        return profiles

    async def _move(
        self, row: asyncpg.Record, decision: DispatchDecision, now: datetime
    ) -> asyncpg.Record | None:
        async with self._pool.acquire() as connection, connection.transaction():
            current = await bookings.get(connection, row["id"], lock=True)
            if current is None or current["status"] != ReservationStatus.BOOKED:
                return None
            for cp_id, connector_id in await schedule.alternatives(connection, current):
                if await schedule.move(connection, row["id"], cp_id, connector_id):
                    why = decision.reason.split(";")[0]
                    reason = f"moved to {cp_id} connector {connector_id}: {why}"
                    await bookings.set_status(
                        connection, row["id"], ReservationStatus.BOOKED, reason, now
                    )
                    return await bookings.get(connection, row["id"])
        return None

    async def _apply(
        self,
        row: asyncpg.Record,
        outcome: DispatchOutcome,
        decision: DispatchDecision,
        now: datetime,
    ) -> None:
        on_charger = outcome is DispatchOutcome.ACCEPTED
        async with self._pool.acquire() as connection, connection.transaction():
            current = await bookings.get(connection, row["id"], lock=True)
            if (
                current is None
                or current["status"] != ReservationStatus.BOOKED
                or (
                    (current["charge_point_id"], current["connector_id"])
                    != (row["charge_point_id"], row["connector_id"])
                )
            ):
                # Cancelled (or moved) while the charger was asked: undo what was done there.
                await schedule.release(
                    connection, row["id"], None if current is None else current["end"]
                )
                cancel_on_charger = on_charger
            else:
                cancel_on_charger = False
                await self._record(connection, row, decision, on_charger, now)
        if cancel_on_charger:
            with contextlib.suppress(Exception):
                await self._router.call(
                    row["charge_point_id"],
                    "CancelReservation",
                    {"reservationId": row["id"]},
                    self._call_timeout,
                )

    async def _record(
        self,
        connection: asyncpg.Connection,
        row: asyncpg.Record,
        decision: DispatchDecision,
        on_charger: bool,
        now: datetime,
    ) -> None:
        reservation_id = row["id"]
        if decision.step in (NextStep.ACTIVATE, NextStep.ENFORCE_LOCALLY):
            await bookings.set_status(
                connection,
                reservation_id,
                ReservationStatus.ACTIVE,
                decision.reason,
                now,
                dispatched_at=now,
                on_charger=on_charger,
                dispatch_attempts=row["dispatch_attempts"] + 1,
            )
            await schedule.release(connection, reservation_id, row["end"])
        elif decision.step is NextStep.RETRY:
            if decision.reason != row["status_reason"]:
                await bookings.set_status(
                    connection, reservation_id, ReservationStatus.BOOKED, decision.reason, now
                )
            await connection.execute(
                "UPDATE reservations SET dispatch_attempts = dispatch_attempts + 1 WHERE id = $1",
                reservation_id,
            )
            await schedule.release(connection, reservation_id, decision.retry_at)
        else:
            await bookings.set_status(
                connection, reservation_id, ReservationStatus.FAILED, decision.reason, now
            )
            await schedule.release(connection, reservation_id, None)

    async def charger_connected(self, charge_point_id: str) -> None:
        """A charger (re)connected: bookings waiting for it are due now."""
        if await schedule.wake_charger(self._pool, charge_point_id, self._clock()):
            self.wake()

    async def connector_unusable(
        self, charge_point_id: str, connector_id: int, status: str
    ) -> None:
        """A connector went Faulted/Unavailable: its bookings are moved, retried or failed."""
        if await schedule.connector_unusable(
            self._pool, charge_point_id, connector_id, status, self._clock()
        ):
            self.wake()
