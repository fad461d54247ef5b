"""Expired API tokens are deleted, so the token table does not grow without bound."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from csms.clock import Clock
from csms.store import users

log = logging.getLogger(__name__)

#: Expired tokens are useless at once (they are checked against the clock); deleting them
#: hourly only bounds the table.
PURGE_EVERY_SECONDS = 3600.0


async def purge_tokens(pool: asyncpg.Pool, clock: Clock) -> None:
    """Delete expired tokens now and every hour, until cancelled."""
    while True:
        purged = await users.purge_expired_tokens(pool, clock())
        if purged:
            log.info("purged %d expired API tokens", purged)
        await asyncio.sleep(PURGE_EVERY_SECONDS)
