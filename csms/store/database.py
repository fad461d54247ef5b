"""Where the database comes from: a URL, or an embedded PostgreSQL in the data directory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import asyncpg
import orjson

from csms.errors import DatabaseUnavailable
from csms.store.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def database_url(
    configured: str | None, data_dir: Path
) -> AsyncIterator[tuple[str, EmbeddedPostgres | None]]:
    """Yield ``configured``, or the URL of an embedded server run for the duration (and it)."""
    if configured:
        yield configured, None
        return
    embedded = EmbeddedPostgres(data_dir)
    url = await embedded.start()
    log.info("embedded PostgreSQL running in %s", embedded.pgdata)
    try:
        yield url, embedded
    finally:
        embedded.stop()
        log.info("embedded PostgreSQL stopped")


def _encode_json(value: object) -> str:
    # Times inside stored JSON are written as the API answers them: UTC with Z.
    return orjson.dumps(value, option=orjson.OPT_UTC_Z, default=str).decode()


async def _init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name,
            encoder=_encode_json,
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def create_pool(
    url: str, *, min_size: int = 2, max_size: int = 10, patience: float = 0.0
) -> asyncpg.Pool:
    """Open an asyncpg pool, trying again with backoff for up to ``patience`` seconds (a
    database started at the same time as csms); :class:`DatabaseUnavailable` after that.

    Once open, the pool reconnects by itself: a connection found closed is opened again on
    the next acquire, so a restarted server is used again without anything done here.
    """
    deadline = time.monotonic() + patience
    delay = 0.25
    while True:
        try:
            pool = await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, init=_init_connection,
                command_timeout=60,
            )
        except (OSError, asyncpg.PostgresError) as error:
            if time.monotonic() + delay > deadline:
                raise DatabaseUnavailable(f"cannot reach PostgreSQL: {error}") from error
            log.warning("cannot reach PostgreSQL (%s); trying again in %.1f s", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        else:
            assert pool is not None
            return cast(asyncpg.Pool, pool)


#: How long closing the pool waits for connections still in use to come back.
CLOSE_PATIENCE = 10.0


async def close_pool(pool: asyncpg.Pool, patience: float = CLOSE_PATIENCE) -> None:
    """Close gracefully, waiting ``patience`` seconds at most for connections in use; then
    terminate (a stop never hangs on a query or a holder that does not return)."""
    try:
        await asyncio.wait_for(pool.close(), patience)
    except TimeoutError:
        log.error("connections were still in use after %s s; closing them", patience)
        pool.terminate()
