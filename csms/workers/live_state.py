"""Live state, written in batches: who is connected, last seen, connector status.

Heartbeats and status notifications arrive thousands of times a second; writing each one on
its own would cap the gateway near the database's single-row commit rate (~3,000/s here). They
are kept in memory, coalesced (the latest value per charger or connector wins) and written
every ``interval`` seconds in a few set-based statements. A clean shutdown flushes what is left;
a crash loses at most one interval of *live* state, which the chargers report again anyway. A
failed write (the database away) keeps what it was writing for the next one; a change that
arrived meanwhile wins over the kept one.
Every status notification is also appended, in order and not coalesced, to the connector status
history (csms.store.status_history) in the same flush and transaction: one multi-row INSERT per
flush. While the database is away at most ``max_history`` of them wait (the newest are dropped
beyond, counted in ``history_dropped``); about once an hour rows past the retention are deleted.
Transactions and meter values never go through here: they are written before they are answered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime, timedelta

import asyncpg

from csms import metrics
from csms.clock import Clock, system_clock
from csms.store import nodes, status_history
from csms.store.charge_points import NODE_HEARTBEAT_SECONDS

log = logging.getLogger(__name__)

#: How often status history past its retention is deleted (seconds).
HISTORY_PURGE_SECONDS = 3600.0

FLUSH_SECONDS = metrics.histogram(
    "csms_live_state_flush_duration_seconds",
    "How long this node took to write one batch of live state (connections, last seen, "
    "connector status).",
)
FLUSH_LAG_SECONDS = metrics.histogram(
    "csms_live_state_flush_lag_seconds",
    "The longest a live-state change noted on this node can have waited for its write: from "
    "the previous batch's taking until this batch was written.",
)


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectorStatus:
    status: str
    error_code: str
    info: str | None
    vendor_error_code: str | None
    at: datetime


class LiveStateWriter:
    """Collects live-state changes and writes them in batches (see the module docstring)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        node_id: str,
        interval: float,
        *,
        clock: Clock = system_clock,
        history_retention: timedelta = status_history.RETENTION,
        max_history: int = 100_000,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._history_retention = history_retention
        self._max_history = max_history
        self._history: list[status_history.StatusChange] = []
        self.history_dropped = 0
        self._node_id = node_id
        self._interval = interval
        self._seen: dict[str, datetime] = {}
        self._connected: dict[str, datetime] = {}
        self._disconnected: dict[str, datetime] = {}
        self._statuses: dict[tuple[str, int], ConnectorStatus] = {}
        self._lock = asyncio.Lock()
        #: ``time.monotonic()`` when the last written (or empty) batch was taken.
        self._taken_at = time.monotonic()

    def seen(self, charge_point_id: str, at: datetime) -> None:
        self._seen[charge_point_id] = at

    def connected(self, charge_point_id: str, at: datetime) -> None:
        """A connection opened at ``at``; ``at`` also identifies it for :meth:`disconnected`."""
        self._connected[charge_point_id] = at

    def disconnected(self, charge_point_id: str, connected_at: datetime) -> None:
        """The connection opened at ``connected_at`` closed (a newer one may have replaced it)."""
        self._disconnected[charge_point_id] = connected_at

    def connector_status(
        self, charge_point_id: str, connector_id: int, status: ConnectorStatus
    ) -> None:
        if "\x00" in (status.info or "") + (status.vendor_error_code or ""):
            # PostgreSQL text holds no NUL: one such note would fail every flush after it.
            status = dataclasses.replace(
                status, info=_storable(status.info),
                vendor_error_code=_storable(status.vendor_error_code),
            )
        self._statuses[(charge_point_id, connector_id)] = status
        if len(self._history) >= self._max_history:
            self.history_dropped += 1
            return
        self._history.append(status_history.StatusChange(
            charge_point_id, connector_id, status.status, status.error_code, status.info,
            status.vendor_error_code, status.at,
        ))

    async def run(self) -> None:
        """Flush every interval and beat the node's heartbeat, until cancelled.

        A failure ends the run (the supervisor restarts it); nothing collected is lost.
        """
        since_beat = NODE_HEARTBEAT_SECONDS
        since_purge = HISTORY_PURGE_SECONDS
        while True:
            if since_beat >= NODE_HEARTBEAT_SECONDS:
                await self._beat()
                since_beat = 0.0
            if since_purge >= HISTORY_PURGE_SECONDS:
                await self.purge_history()
                since_purge = 0.0
            await asyncio.sleep(self._interval)
            since_beat += self._interval
            since_purge += self._interval
            await self.flush()

    async def purge_history(self) -> int:
        """Delete status history older than the retention; the number of rows deleted."""
        cutoff = self._clock() - self._history_retention
        deleted = await status_history.purge_before(self._pool, cutoff)
        if deleted:
            log.info("status history: deleted %d changes from before %s", deleted, cutoff)
        return deleted

    async def start_node(self) -> None:
        """Register this node, and forget connections a previous run of it left behind."""
        await self._beat()
        await nodes.release_own(self._pool, self._node_id)

    async def _beat(self) -> None:
        """Renew this node's lease; release the chargers of nodes whose lease ran out."""
        await nodes.beat(self._pool, self._node_id)
        for dead in await nodes.release_dead(self._pool):
            log.warning("node %s stopped renewing its lease: its chargers are offline", dead)

    async def stop_node(self) -> None:
        """Flush, then mark every connection of this node closed (clean shutdown)."""
        await self.flush()
        await nodes.leave(self._pool, self._node_id)

    async def flush(self) -> None:
        """Write everything collected so far; on failure keep it for the next flush."""
        async with self._lock:
            started = time.monotonic()
            seen, self._seen = self._seen, {}
            connected, self._connected = self._connected, {}
            disconnected, self._disconnected = self._disconnected, {}
            statuses, self._statuses = self._statuses, {}
            history, self._history = self._history, []
            if not (seen or connected or disconnected or statuses or history):
                self._taken_at = started
                return
            try:
                async with self._pool.acquire() as connection, connection.transaction():
                    await self._write_connections(connection, connected, disconnected)
                    await self._write_seen(connection, seen)
                    await self._write_statuses(connection, statuses)
                    await status_history.append(connection, history)
            except BaseException:
                # What arrived during the attempt is newer: it overrides what is put back.
                self._seen = seen | self._seen
                self._connected = connected | self._connected
                self._disconnected = disconnected | self._disconnected
                self._statuses = statuses | self._statuses
                self._keep_history(history)
                raise
            # A change noted just after the previous flush took its batch waited this long.
            done = time.monotonic()
            FLUSH_SECONDS.observe(done - started)
            FLUSH_LAG_SECONDS.observe(done - self._taken_at)
            self._taken_at = started

    def _keep_history(self, history: list[status_history.StatusChange]) -> None:
        """Put back a batch that was not written, before what arrived meanwhile (bounded)."""
        room = max(self._max_history - len(self._history), 0)
        self.history_dropped += max(len(history) - room, 0)
        self._history[:0] = history[:room]

    async def _write_connections(
        self,
        connection: asyncpg.Connection,
        connected: dict[str, datetime],
        disconnected: dict[str, datetime],
    ) -> None:
        if connected:
            # The newer connection wins, whichever node holds it; the node a charger was taken
            # from is told (csms.cluster.ownership).
            taken = await connection.fetch(
                """WITH s AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS s(id, at)),
                        old AS (SELECT cp.id, cp.connected_node AS node FROM charge_points cp
                                JOIN s ON s.id = cp.id)
                   UPDATE charge_points cp
                   SET connected_node = $3, connected_at = s.at,
                       last_seen_at = GREATEST(cp.last_seen_at, s.at)
                   FROM s JOIN old ON old.id = s.id
                   WHERE cp.id = s.id
                     AND (cp.connected_node IS NULL OR cp.connected_node = $3
                          OR cp.connected_at IS NULL OR cp.connected_at <= s.at)
                   RETURNING cp.id, old.node""",
                list(connected),
                list(connected.values()),
                self._node_id,
            )
            await nodes.notify_takeover(connection, [
                (row["node"], row["id"]) for row in taken
                if row["node"] is not None and row["node"] != self._node_id
            ])
        if disconnected:
            # Only the connection that closed: a newer one (a reconnect) stays recorded.
            await connection.execute(
                """UPDATE charge_points cp SET connected_node = NULL
                   FROM unnest($1::text[], $2::timestamptz[]) AS s(id, since)
                   WHERE cp.id = s.id AND cp.connected_node = $3 AND cp.connected_at = s.since""",
                list(disconnected),
                list(disconnected.values()),
                self._node_id,
            )

    @staticmethod
    async def _write_seen(connection: asyncpg.Connection, seen: dict[str, datetime]) -> None:
        if seen:
            await connection.execute(
                """UPDATE charge_points cp SET last_seen_at = GREATEST(cp.last_seen_at, s.at)
                   FROM unnest($1::text[], $2::timestamptz[]) AS s(id, at) WHERE cp.id = s.id""",
                list(seen),
                list(seen.values()),
            )

    @staticmethod
    async def _write_statuses(
        connection: asyncpg.Connection, statuses: dict[tuple[str, int], ConnectorStatus]
    ) -> None:
        whole = {key[0]: value for key, value in statuses.items() if key[1] == 0}
        parts = {key: value for key, value in statuses.items() if key[1] != 0}
        if whole:
            await connection.execute(
                """UPDATE charge_points cp SET status = s.status, error_code = s.error_code,
                          status_at = s.at
                   FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
                        AS s(id, status, error_code, at)
                   WHERE cp.id = s.id AND (cp.status_at IS NULL OR cp.status_at <= s.at)""",
                list(whole),
                [v.status for v in whole.values()],
                [v.error_code for v in whole.values()],
                [v.at for v in whole.values()],
            )
        if parts:
            # A connector the operator did not register is stored too (no type: not bookable).
            # A charger removed since its note is skipped: its row would fail every flush.
            await connection.execute(
                """INSERT INTO connectors AS c (charge_point_id, connector_id, status, error_code,
                                                info, vendor_error_code, status_at)
                   SELECT s.* FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[],
                                          $5::text[], $6::text[], $7::timestamptz[]) AS s(cp)
                   WHERE EXISTS (SELECT 1 FROM charge_points cp WHERE cp.id = s.cp)
                   ON CONFLICT (charge_point_id, connector_id) DO UPDATE
                   SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
                       info = EXCLUDED.info, vendor_error_code = EXCLUDED.vendor_error_code,
                       status_at = EXCLUDED.status_at
                   WHERE c.status_at IS NULL OR c.status_at <= EXCLUDED.status_at""",
                [key[0] for key in parts],
                [key[1] for key in parts],
                [v.status for v in parts.values()],
                [v.error_code for v in parts.values()],
                [v.info for v in parts.values()],
                [v.vendor_error_code for v in parts.values()],
                [v.at for v in parts.values()],
            )


def _storable(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "\N{REPLACEMENT CHARACTER}")
