"""Keeping bookings in step with what chargers report about their connectors (S 4.9, 5.13).

The charger's view is reconciled against the booking, never trusted blindly:

- Faulted/Unavailable: the charger drops its reservation; the booking goes back to be
  dispatched (and so moved to another connector, retried, or failed).
- Available while a booking is ``active`` on the charger: the charger dropped the reservation
  (a remote start for someone else, a code typed at the other connector, a reboot). It is
  sent again a bounded number of times, then the CSMS holds the booking alone.
- Available while a booking is ``charging``: the session ended without a StopTransaction
  (power loss); the booking is settled from its last readings.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from csms.booking import schedule, store
from csms.booking.dispatch import decide_dropped
from csms.booking.records import Settle
from csms.booking.states import ReservationStatus as S
from csms.clock import Clock

log = logging.getLogger(__name__)

_UNUSABLE = frozenset({"Faulted", "Unavailable"})
#: A booking whose window opens this soon is affected by a connector going out of use now.
_SOON_SECONDS = 15 * 60


class ConnectorWatch:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, settle: Settle) -> None:
        self._pool = pool
        self._clock = clock
        self._settle = settle

    async def status_changed(self, charge_point_id: str, connector_id: int, status: str) -> None:
        if connector_id == 0:
            return
        if status in _UNUSABLE:
            await self._unusable(charge_point_id, connector_id, status)
        elif status == "Available":
            await self._available(charge_point_id, connector_id)

    async def _unusable(self, charge_point_id: str, connector_id: int, status: str) -> None:
        now = self._clock()
        async with self._pool.acquire() as connection, connection.transaction():
            affected = await schedule.open_on_connector(
                connection, charge_point_id, connector_id, now, soon_seconds=_SOON_SECONDS
            )
            for booking in affected:
                await store.transition(
                    connection, booking.id, S.BOOKED, f"the connector became {status}", now,
                    on_charger=False, next_action_at=now,
                )
            if affected:
                await store.notify(connection, charge_point_id)

    async def _available(self, charge_point_id: str, connector_id: int) -> None:
        now = self._clock()
        booking = await store.live_on_connector(self._pool, charge_point_id, connector_id, now)
        if booking is None:
            return
        if booking.status is S.CHARGING:
            await self._settle(booking, now, True)
        elif booking.status is S.ACTIVE:
            await self._dropped(booking.id, now)

    async def _dropped(self, reservation_id: int, now: datetime) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            booking = await store.get(connection, reservation_id, lock=True)
            if booking is None or booking.status is not S.ACTIVE:
                return
            decision = decide_dropped(booking.on_charger, booking.redispatches)
            if decision is None:
                return
            log.info("reservation %s: %s", booking.id, decision.reason)
            if decision.send_again:
                await store.transition(
                    connection, booking.id, S.BOOKED, decision.reason, now, expect=(S.ACTIVE,),
                    on_charger=False, redispatches=booking.redispatches + 1, next_action_at=now,
                )
                await store.notify(connection, booking.charge_point_id)
            else:
                await store.transition(
                    connection, booking.id, S.ACTIVE, decision.reason, now, expect=(S.ACTIVE,),
                    on_charger=False,
                )
