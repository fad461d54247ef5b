"""Live updates for the web pages: what changed, pushed to whoever may see it.

One poller per node reads recent changes from PostgreSQL (so it sees what every node wrote):
connector status, chargers coming and going, booking status, meter readings of running
sessions, critical security events, and the notification outbox. Each poll looks a little
further back than the last change it saw — a batch written late with earlier timestamps is not
missed — and publishes only what differs from what it published before, so a change is sent
once. Subscribers are the SSE streams of ``GET /api/v1/events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from csms.store.errors import is_unavailable

log = logging.getLogger(__name__)

#: How far behind the newest change seen each poll looks again.
OVERLAP = timedelta(seconds=5)
QUEUE_LIMIT = 1000
#: How many meter-value ids before the newest seen each poll reads again (see ``_meters``).
METER_OVERLAP = 10_000
#: What was last published is remembered for at most this many things.
PUBLISHED_LIMIT = 200_000


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    kind: str
    data: dict[str, Any]
    #: Who may see it: None = operators only; a user id = that driver (and operators).
    owner: int | None = None


#: Sent to a stream to end it.
CLOSE = Event("close", {})


@dataclasses.dataclass(eq=False)
class Subscription:
    user_id: int
    operator: bool
    queue: asyncio.Queue[Event] = dataclasses.field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )

    def offer(self, event: Event) -> None:
        if not (self.operator or (event.owner is not None and event.owner == self.user_id)):
            return
        with contextlib.suppress(asyncio.QueueFull):  # A stalled reader misses updates, not memory.
            self.queue.put_nowait(event)


class LiveFeed:
    def __init__(self, pool: asyncpg.Pool, interval: float = 0.5) -> None:
        self._pool = pool
        self._interval = interval
        self._subscriptions: set[Subscription] = set()
        self._since: dict[str, datetime | None] = {
            "connectors": None,
            "chargers": None,
            "bookings": None,
            "security_events": None,
            "notifications": None,
        }
        self._last_meter_id = 0
        #: Ids of the readings within ``METER_OVERLAP`` of the newest that were published.
        self._meter_ids: set[int] = set()
        self._published: dict[tuple[str, Any], Any] = {}

    def subscribe(self, user_id: int, operator: bool) -> Subscription:
        subscription = Subscription(user_id, operator)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def close(self) -> None:
        """Tell every stream to end (the server is shutting down)."""
        for subscription in list(self._subscriptions):
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait(CLOSE)

    async def run(self) -> None:
        idle = True
        while True:
            await asyncio.sleep(self._interval)
            if not self._subscriptions:
                idle = True  # Nobody listens: nothing to read, start afresh when someone does.
                continue
            try:
                if idle:
                    await self._start_from_now()
                    idle = False
                for event in await self.poll():
                    for subscription in list(self._subscriptions):
                        subscription.offer(event)
            except asyncpg.PostgresError as error:
                if is_unavailable(error):
                    raise  # The supervisor starts again (from now) once the database is back.
                log.exception("live feed poll failed; trying again")

    async def _start_from_now(self) -> None:
        now = await self._pool.fetchval("SELECT clock_timestamp()")
        self._since = dict.fromkeys(self._since, now - OVERLAP)
        self._last_meter_id = await self._pool.fetchval(
            "SELECT COALESCE(max(id), 0) FROM meter_values"
        )
        async with self._pool.acquire() as connection:  # Already there: not news.
            recent = await self._charging_readings(connection, self._last_meter_id - METER_OVERLAP)
        self._meter_ids = {r["meter_id"] for r in recent}

    async def poll(self) -> list[Event]:
        """The changes since the last poll, each once."""
        events: list[Event] = []
        async with self._pool.acquire() as connection:
            events += await self._connectors(connection)
            events += await self._chargers(connection)
            events += await self._bookings(connection)
            events += await self._meters(connection)
            events += await self._security_events(connection)
            events += await self._notifications(connection)
        return events

    def _fresh(self, key: tuple[str, Any], state: Any) -> bool:
        if self._published.get(key) == state:
            return False
        if len(self._published) >= PUBLISHED_LIMIT:
            # Bounded memory: forgetting only means a state may be sent twice, which is harmless.
            self._published.clear()
        self._published[key] = state
        return True

    def _advance(self, name: str, newest: datetime | None) -> datetime | None:
        since = self._since[name]
        if newest is not None and (since is None or newest - OVERLAP > since):
            self._since[name] = newest - OVERLAP
        return since

    async def _connectors(self, connection: asyncpg.Connection) -> list[Event]:
        since = self._since["connectors"]
        rows = await connection.fetch(
            """SELECT charge_point_id, connector_id, status, error_code, status_at FROM connectors
               WHERE status_at > $1
               UNION ALL
               SELECT id, 0, status, error_code, status_at FROM charge_points
               WHERE status_at > $1""",
            since,
        )
        self._advance("connectors", max((r["status_at"] for r in rows), default=None))
        events = []
        for row in rows:
            data = dict(row)
            if self._fresh(
                ("connector", (row["charge_point_id"], row["connector_id"])),
                (row["status"], row["error_code"]),
            ):
                events.append(Event("connector", data))
        return events

    async def _chargers(self, connection: asyncpg.Connection) -> list[Event]:
        rows = await connection.fetch(
            """SELECT id AS charge_point_id, connected_node IS NOT NULL AS online,
                      connection_changed_at AS at
               FROM charge_points WHERE connection_changed_at > $1""",
            self._since["chargers"],
        )
        self._advance("chargers", max((r["at"] for r in rows), default=None))
        return [
            Event("charge_point", dict(row))
            for row in rows
            if self._fresh(("charge_point", row["charge_point_id"]), row["online"])
        ]

    async def _bookings(self, connection: asyncpg.Connection) -> list[Event]:
        """Every transition of a booking, in order — a move and the reservation that follows it
        a millisecond later are two events, so the driver learns where it went and why."""
        rows = await connection.fetch(
            """SELECT h.id AS history_id, r.id, r.user_id, h.status, h.reason AS status_reason,
                      h.charge_point_id, h.connector_id, h.at AS updated_at
               FROM reservation_history h JOIN reservations r ON r.id = h.reservation_id
               WHERE h.at > $1 ORDER BY h.id""",
            self._since["bookings"],
        )
        self._advance("bookings", max((r["updated_at"] for r in rows), default=None))
        return [
            Event(
                "reservation",
                {k: v for k, v in dict(row).items() if k not in ("user_id", "history_id")},
                owner=row["user_id"],
            )
            for row in rows
            if self._fresh(("transition", row["history_id"]), True)
        ]

    async def _meters(self, connection: asyncpg.Connection) -> list[Event]:
        """Bookings with new readings. Ids are handed out before commit, so a reading may become
        visible after one with a higher id: each poll looks ``METER_OVERLAP`` ids back, and a
        booking is published again only when its readings changed (their count or newest)."""
        floor = self._last_meter_id - METER_OVERLAP
        rows = await self._charging_readings(connection, floor)
        owners = {r["id"]: r["user_id"] for r in rows if r["meter_id"] not in self._meter_ids}
        self._meter_ids = {i for i in self._meter_ids if i > floor} | {r["meter_id"] for r in rows}
        self._last_meter_id = max([self._last_meter_id, *(r["meter_id"] for r in rows)])
        return [Event("meter", {"reservation_id": rid}, owner=uid) for rid, uid in owners.items()]

    @staticmethod
    async def _charging_readings(
        connection: asyncpg.Connection, above: int
    ) -> list[asyncpg.Record]:
        """Readings of charging bookings with an id above ``above``: (meter_id, id, user_id)."""
        return list(
            await connection.fetch(
                """SELECT m.id AS meter_id, r.id, r.user_id FROM meter_values m
                   JOIN reservations r ON r.transaction_id = m.transaction_id
                   WHERE m.id > $1 AND r.status = 'charging'""",
                above,
            )
        )

    async def _security_events(self, connection: asyncpg.Connection) -> list[Event]:
        """The critical security events chargers reported (security white paper A04: the
        events its table marks critical are the ones to act on now); operators only."""
        rows = await connection.fetch(
            """SELECT id, charge_point_id, type, tech_info, occurred_at, received_at
               FROM security_events WHERE critical AND received_at > $1 ORDER BY id""",
            self._since["security_events"],
        )
        self._advance("security_events", max((r["received_at"] for r in rows), default=None))
        return [
            Event("security_event", dict(row))
            for row in rows
            if self._fresh(("security_event", row["id"]), True)
        ]

    async def _notifications(self, connection: asyncpg.Connection) -> list[Event]:
        """The outbox's events (csms.store.notifications), in order, for the booking's driver
        (and operators); found by time like the transitions they mostly report."""
        rows = await connection.fetch(
            """SELECT id, type, reservation_id, payload, created_at, user_id
               FROM notifications WHERE created_at > $1 ORDER BY id""",
            self._since["notifications"],
        )
        self._advance("notifications", max((r["created_at"] for r in rows), default=None))
        return [
            Event(
                "notification",
                {k: v for k, v in dict(row).items() if k != "user_id"},
                owner=row["user_id"],
            )
            for row in rows
            if self._fresh(("notification", row["id"]), True)
        ]
