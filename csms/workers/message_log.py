"""The OCPP message log's writer: sessions note frames, a background loop stores them.

:meth:`MessageLog.note` is a session's :class:`~csms.gateway.session.FrameTap`: it appends a
row to a buffer and returns (no I/O on the hot path). :meth:`MessageLog.run` writes the buffer
in one COPY every ``flush_interval`` seconds and, every hour, makes the coming days'
partitions and drops the days older than the retention.

While the database is away rows wait in the buffer, at most ``max_buffered``; beyond that new
frames are counted as dropped, so that an outage cannot grow the process without bound.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, timedelta

import asyncpg

from csms.clock import Clock
from csms.store import message_log
from csms.store.errors import is_unavailable

log = logging.getLogger(__name__)

#: How often partitions are made ahead and old days dropped (seconds).
MAINTENANCE_EVERY = 3600.0
#: Days ahead whose partitions exist before their first frame.
DAYS_AHEAD = 2


class MessageLog:
    """Batches frames into ``ocpp_messages``; counts ``queued``, ``written``, ``dropped``."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        node_id: str,
        retention: timedelta,
        flush_interval: float,
        max_buffered: int = 100_000,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._node_id = node_id
        self._retention = retention
        self._flush_interval = flush_interval
        self._max_buffered = max_buffered
        self._rows: list[message_log.Row] = []
        self.queued = self.written = self.dropped = 0

    def note(
        self, charge_point_id: str, direction: str, message_type: str,
        action: str | None, message_id: str, text: str,
    ) -> None:
        """Take note of one frame (a :class:`~csms.gateway.session.FrameTap`)."""
        if len(self._rows) >= self._max_buffered:
            self.dropped += 1
            return
        self.queued += 1
        # PostgreSQL text cannot hold NUL; a frame that carries one raw is kept escaped.
        frame = text.replace("\x00", "\\u0000") if "\x00" in text else text
        self._rows.append((
            self._clock(), charge_point_id, direction, message_type, action,
            message_id[:64].replace("\x00", ""), frame, self._node_id,
        ))

    async def run(self) -> None:
        """Write batches and keep the partitions, until cancelled (the last batch is written)."""
        loop = asyncio.get_running_loop()
        next_maintenance = loop.time()
        try:
            while True:
                if loop.time() >= next_maintenance:
                    await self.maintain()
                    next_maintenance = loop.time() + MAINTENANCE_EVERY
                await asyncio.sleep(self._flush_interval)
                await self.flush()
        finally:
            if self._rows:
                await asyncio.shield(self._final_flush())

    async def _final_flush(self) -> None:
        try:
            await self.flush()
        except Exception:  # Stopping: what cannot be written now is lost, and said so.
            log.warning("message log: %d frames not written at shutdown", len(self._rows))

    async def flush(self) -> None:
        """Write what is buffered. The database away: the rows stay for the next try."""
        rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            await message_log.write(self._pool, rows)
        except Exception as error:
            if not is_unavailable(error):
                # A batch PostgreSQL refuses would be refused again: dropped, not retried.
                self.dropped += len(rows)
                log.exception("message log: %d frames could not be stored", len(rows))
                return
            room = max(self._max_buffered - len(self._rows), 0)
            self.dropped += max(len(rows) - room, 0)
            self._rows[:0] = rows[:room]
            raise
        self.written += len(rows)

    async def maintain(self) -> None:
        """Partitions for today and the next days; days past the retention dropped."""
        now = self._clock()
        today = now.astimezone(UTC).date()
        await message_log.prepare_days(
            self._pool, [today + timedelta(days=k) for k in range(DAYS_AHEAD + 1)]
        )
        dropped = await message_log.drop_before(self._pool, now - self._retention)
        if dropped:
            log.info("message log: dropped %s (older than %s)", ", ".join(dropped), self._retention)
