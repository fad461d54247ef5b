"""The node's LISTEN connection: one per node, handing each notification to its handler.

A notification sent while the connection is down is lost (PostgreSQL keeps none for a listener
that is not there), so every (re)connection calls the resync hooks: their owners look at the
tables again instead of waiting for a wake-up that will not come.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

Handler = Callable[[str], None]
#: How often an idle listening connection is checked (a dead TCP peer is not noticed alone).
CHECK_EVERY = 10.0


class ClusterListener:
    def __init__(self, pool: asyncpg.Pool, *, check_every: float = CHECK_EVERY) -> None:
        self._pool = pool
        self._check_every = check_every
        self._handlers: dict[str, Handler] = {}
        self._resync: list[Callable[[], None]] = []

    def on(self, channel: str, handler: Handler) -> None:
        """Call ``handler(payload)`` for each notification on ``channel`` (before :meth:`run`)."""
        self._handlers[channel] = handler

    def on_resync(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` whenever notifications may have been missed."""
        self._resync.append(hook)

    async def run(self) -> None:
        """Listen until cancelled; raises when the connection is lost (the supervisor restarts
        it, and the restart resyncs)."""
        async with self._pool.acquire() as connection:
            closed = asyncio.Event()
            connection.add_termination_listener(lambda _: closed.set())
            listening = [(name, _deliver(handler)) for name, handler in self._handlers.items()]
            try:
                for channel, callback in listening:
                    await connection.add_listener(channel, callback)
                for hook in self._resync:
                    hook()
                await self._until_closed(connection, closed)
            finally:
                # Back in the pool it must listen no more (asyncpg warns otherwise).
                with contextlib.suppress(Exception):
                    for channel, callback in listening:
                        await connection.remove_listener(channel, callback)
            raise ConnectionError("the cluster's LISTEN connection closed")

    async def _until_closed(self, connection: asyncpg.Connection, closed: asyncio.Event) -> None:
        while not closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), self._check_every)
            if not closed.is_set():
                await connection.fetchval("SELECT 1", timeout=self._check_every)


def _deliver(handler: Handler) -> Callable[[object, int, str, str], None]:
    def deliver(_connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            handler(payload)
        except Exception:  # One bad notification must not end the listener.
            log.exception("cluster notification %r not handled", payload)

    return deliver
