"""The scheduler: drives bookings through time (DESIGN: the booking flow, steps 3 and 6).

A thin worker over :mod:`csms.booking.dispatch` (what each answer means) and
:func:`csms.booking.store.transition` (the one writer of a status). Due bookings are claimed
with ``FOR UPDATE SKIP LOCKED`` and a lease, so any number of nodes can run one. It wakes on
``NOTIFY csms_reservations`` and polls as a fallback. For each booking it dispatches ReserveNow
at window start (minus the lead), retries, moves the booking, or fails it; at window end an
unused booking expires (and the charger is told, for chargers that never expire their own);
a session still open when its booking's late-stop allowance is over is stopped
(RemoteStopTransaction), and one still open well after that is settled from its last readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from csms import metrics
from csms.booking import schedule, store
from csms.booking.cost import cost_to_json, fees_only
from csms.booking.dispatch import (
    DispatchDecision,
    DispatchOutcome,
    NextStep,
    OverdueStep,
    charging_looked_at,
    decide_dispatch,
    overdue_step,
)
from csms.booking.records import Reservation, Settle
from csms.booking.states import InvalidTransition
from csms.booking.states import ReservationStatus as S
from csms.clock import Clock
from csms.commands import CommandRouter
from csms.domain.timestamps import format_timestamp
from csms.errors import (
    ChargePointCallError,
    ChargePointNotConnected,
    ChargePointTimeout,
    CsmsError,
    DatabaseUnavailable,
)
from csms.store.errors import is_unavailable
from csms.workers.supervisor import woken_or_after

log = logging.getLogger(__name__)

_BATCH = 100
_MAX_MOVES = 5
_RESERVE_NOW_ANSWERS = {o.value: o for o in DispatchOutcome}
#: The charger's status, as it said it; what else can come of the call, in snake case.
_RESERVE_NOW_LABELS = {
    DispatchOutcome.TIMEOUT: "timeout",
    DispatchOutcome.NOT_CONNECTED: "not_connected",
    DispatchOutcome.CALL_ERROR: "error",
}
RESERVE_NOW = metrics.counter(
    "csms_reserve_now_total",
    "Bookings this node's scheduler tried to put on their charger with ReserveNow, by outcome: "
    "the charger's status (Accepted, Occupied, Faulted, Unavailable, Rejected), timeout, "
    "not_connected or error (a CALLERROR).",
    ("status",),
)
LAG_SECONDS = metrics.histogram(
    "csms_scheduler_lag_seconds",
    "How late this node's scheduler began a pass after the due time it slept until.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


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
        settle: Settle,
    ) -> None:
        self._pool = pool
        self._router = router
        self._clock = clock
        self._poll = poll_seconds
        self._retry_interval = retry_interval
        self._call_timeout = call_timeout
        self._settle = settle
        self._wake = asyncio.Event()
        self._asking: dict[str, asyncio.Future[list[str]]] = {}
        #: When the booking due next was due, while the scheduler sleeps until it (the lag).
        self._awaited: datetime | None = None

    def wake(self, *_: object) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled; listens for wake-ups on its own connection.

        Ends with an error when the database goes away (the supervisor starts it again): the
        listening connection is gone then, and a new one must LISTEN again.
        """
        async with self._pool.acquire() as listener:
            await listener.add_listener(store.WAKE_CHANNEL, self.wake)
            try:
                while not listener.is_closed():
                    await self._sleep(await self._pass())
                raise DatabaseUnavailable("the scheduler's listening connection closed")
            finally:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(store.WAKE_CHANNEL, self.wake)

    async def _pass(self) -> float:
        """One pass; how long to sleep before the next (0 when a full batch says: more due)."""
        try:
            if await self.run_once() >= _BATCH:
                return 0.0
            due = await schedule.next_due(self._pool)
        except asyncpg.PostgresError as error:
            if is_unavailable(error):
                raise
            log.exception("scheduler pass failed; trying again")
            return self._poll
        if due is None:
            self._awaited = None
            return self._poll
        # Wake when the next window opens, not up to a poll interval after it.
        wait = (due - self._clock()).total_seconds()
        if wait > 0:  # (A timer may fire a little early: then ``due`` is awaited still.)
            self._awaited = due if wait <= self._poll else None
        return min(self._poll, max(wait, 0.0))

    async def _sleep(self, seconds: float) -> None:
        await woken_or_after(self._wake, seconds)

    async def run_once(self) -> int:
        """Handle everything due now; return how many bookings were handled."""
        now = self._clock()
        if self._awaited is not None and now >= self._awaited:
            LAG_SECONDS.observe((now - self._awaited).total_seconds())
            self._awaited = None
        lease = now + timedelta(seconds=2 * self._call_timeout + 30)
        due = await schedule.claim_due(self._pool, now, lease, _BATCH)
        await asyncio.gather(*(self._handle(booking) for booking in due))
        return len(due)

    async def _handle(self, booking: Reservation) -> None:
        try:
            now = self._clock()
            if booking.status is S.CHARGING:
                await self._overdue(booking, now)
            elif now >= booking.end:
                await self._expire(booking, now)
            elif booking.status is S.BOOKED:
                await self._dispatch(booking, moves=0)
            elif now >= _noshow_at(booking):
                await self._no_show(booking, now)
            else:
                await schedule.release(self._pool, booking.id, _noshow_at(booking))
        except Exception:
            log.exception("reservation %s: scheduling failed", booking.id)
            await schedule.release(self._pool, booking.id, self._clock() + self._retry_interval)

    async def _overdue(self, booking: Reservation, now: datetime) -> None:
        """Still charging: stopped once its late-stop allowance is over; settled once the
        session is over, else looked at again later."""
        step = overdue_step(booking.end, booking.late_stop, now)
        if step is OverdueStep.SETTLE and await self._settle(booking, now, False):
            return
        if step is OverdueStep.STOP and booking.transaction_id is not None:
            await self._stop_on_charger(booking)
        await schedule.release(
            self._pool, booking.id, charging_looked_at(booking.end, booking.late_stop, now)
        )

    async def _stop_on_charger(self, booking: Reservation) -> None:
        """RemoteStopTransaction (S 5.12): the StopTransaction that follows completes the
        booking; a charger that refuses or is gone is settled after the grace."""
        try:
            answer = await self._router.call(
                booking.charge_point_id,
                "RemoteStopTransaction",
                {"transactionId": booking.transaction_id},
                self._call_timeout,
            )
        except CsmsError as error:
            log.info("reservation %s: could not stop its session: %s", booking.id, error)
            return
        log.info("reservation %s: late stop over, session stop %s", booking.id, answer)

    async def _expire(self, booking: Reservation, now: datetime) -> None:
        try:
            async with self._pool.acquire() as connection:
                await store.transition(
                    connection, booking.id, S.EXPIRED, "the window ended unused", now,
                    expect=(S.BOOKED, S.ACTIVE), next_action_at=None, claimed_until=None,
                )
        except InvalidTransition:  # Charging started meanwhile, or cancelled: not ours.
            await schedule.release(self._pool, booking.id, None)
            return
        log.info("reservation %s expired", booking.id)
        if booking.on_charger:
            # S 5.13 says the charger drops it at expiryDate; some never do (lazy expiry).
            await self._cancel_on_charger(booking)

    async def _no_show(self, booking: Reservation, now: datetime) -> None:
        """Ready for its driver, who did not come within the terms' no-show timeout: the
        connector is free for others from now on, and the no-show pays its fees."""
        terms = booking.booking_terms
        charged = fees_only(
            booking.price["currency"], Decimal(booking.price["reservation_fee"]),
            {"noshow_fee": terms.noshow_fee},
        )
        try:
            async with self._pool.acquire() as connection:
                await store.transition(
                    connection, booking.id, S.EXPIRED,
                    f"no-show: nobody came within {terms.noshow_timeout_minutes} minutes", now,
                    expect=(S.ACTIVE,), next_action_at=None, claimed_until=None,
                    cost=charged.total, cost_breakdown=cost_to_json(charged),
                )
        except InvalidTransition:  # Charging started meanwhile, or cancelled: not ours.
            await schedule.release(self._pool, booking.id, None)
            return
        log.info("reservation %s: no-show", booking.id)
        if booking.on_charger:
            await self._cancel_on_charger(booking)

    async def _cancel_on_charger(self, booking: Reservation) -> None:
        with contextlib.suppress(CsmsError):
            await self._router.call(
                booking.charge_point_id,
                "CancelReservation",
                {"reservationId": booking.id},
                self._call_timeout,
            )

    async def _dispatch(self, booking: Reservation, moves: int) -> None:
        outcome = await self._send(booking)
        if outcome is not DispatchOutcome.NO_RESERVATION_PROFILE:
            RESERVE_NOW.inc(_RESERVE_NOW_LABELS.get(outcome, outcome.value))
        now = self._clock()
        decision = decide_dispatch(outcome, now, booking.end, self._retry_interval)
        log.info(
            "reservation %s at %s/%s: %s -> %s",
            booking.id, booking.charge_point_id, booking.connector_id, outcome, decision.step,
        )
        if decision.move_first and moves < _MAX_MOVES:
            moved = await self._move(booking, decision, now)
            if moved is not None:
                await self._dispatch(moved, moves + 1)
                return
        await self._apply(booking, outcome, decision, now)

    async def _send(self, booking: Reservation) -> DispatchOutcome:
        """Put the booking on its charger; what came of it."""
        cp_id = booking.charge_point_id
        try:
            if not await self._takes_reservations(cp_id):
                return DispatchOutcome.NO_RESERVATION_PROFILE
            payload = {
                "connectorId": booking.connector_id,
                "expiryDate": format_timestamp(booking.end),
                "idTag": booking.code,
                "reservationId": booking.id,
            }
            if booking.parent_id_tag:
                payload["parentIdTag"] = booking.parent_id_tag
            await schedule.mark_dispatching(self._pool, booking.id, self._clock())
            answer = await self._router.call(cp_id, "ReserveNow", payload, self._call_timeout)
        except ChargePointNotConnected:
            return DispatchOutcome.NOT_CONNECTED
        except ChargePointTimeout:
            return DispatchOutcome.TIMEOUT
        except ChargePointCallError as error:
            log.warning("reservation %s: ReserveNow answered with %s", booking.id, error)
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
        self, booking: Reservation, decision: DispatchDecision, now: datetime
    ) -> Reservation | None:
        """To another connector (never one it was on), the booking's driver told why."""
        why = decision.reason.split(";")[0]
        async with self._pool.acquire() as connection, connection.transaction():
            current = await store.get(connection, booking.id, lock=True)
            if current is None or current.status is not S.BOOKED:
                return None
            candidates = await schedule.alternatives(
                connection, current, other_charger_first=decision.charger_refused
            )
            for cp_id, connector_id in candidates:
                with contextlib.suppress(store.SlotTaken):
                    return await store.transition(
                        connection, booking.id, S.BOOKED,
                        f"moved to {cp_id} connector {connector_id}: {why}", now,
                        expect=(S.BOOKED,), charge_point_id=cp_id, connector_id=connector_id,
                        on_charger=False, dispatched_at=None, dispatch_attempts=0,
                    )
        return None

    async def _apply(
        self,
        booking: Reservation,
        outcome: DispatchOutcome,
        decision: DispatchDecision,
        now: datetime,
    ) -> None:
        on_charger = outcome is DispatchOutcome.ACCEPTED
        async with self._pool.acquire() as connection, connection.transaction():
            current = await store.get(connection, booking.id, lock=True)
            still_ours = (
                current is not None
                and current.status is S.BOOKED
                and (current.charge_point_id, current.connector_id)
                == (booking.charge_point_id, booking.connector_id)
            )
            if current is not None and still_ours:
                await self._record(connection, current, decision, on_charger, now)
            else:
                # Cancelled (or moved) while the charger was asked: undo what was done there.
                again = None if current is None else current.end
                await schedule.release(connection, booking.id, again)
        if on_charger and not still_ours:
            await self._cancel_on_charger(booking)

    async def _record(
        self,
        connection: asyncpg.Connection,
        booking: Reservation,
        decision: DispatchDecision,
        on_charger: bool,
        now: datetime,
    ) -> None:
        if decision.step in (NextStep.ACTIVATE, NextStep.ENFORCE_LOCALLY):
            await store.transition(
                connection, booking.id, S.ACTIVE, decision.reason, now, expect=(S.BOOKED,),
                dispatched_at=booking.dispatched_at or now, on_charger=on_charger,
                dispatch_attempts=booking.dispatch_attempts + 1,
                next_action_at=_noshow_at(booking),
                claimed_until=None,
            )
        elif decision.step is NextStep.RETRY:
            if decision.reason != booking.status_reason:
                await store.transition(
                    connection, booking.id, S.BOOKED, decision.reason, now, expect=(S.BOOKED,),
                )
            await schedule.release(connection, booking.id, decision.retry_at, attempted=True)
        else:
            await store.transition(
                connection, booking.id, S.FAILED, decision.reason, now,
                next_action_at=None, claimed_until=None,
            )

    async def charger_connected(self, charge_point_id: str) -> None:
        """A charger (re)connected: bookings waiting for it are due now."""
        if await schedule.wake_charger(self._pool, charge_point_id, self._clock()):
            self.wake()


def _noshow_at(booking: Reservation) -> datetime:
    return booking.booking_terms.noshow_at(booking.start, booking.end)
