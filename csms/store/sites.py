"""Sites: where chargers stand, and the time zone their tariffs are written in."""

from __future__ import annotations

import asyncpg

from csms.errors import NotFound
from csms.store.errors import translated


async def create(pool: asyncpg.Pool, name: str, timezone: str) -> asyncpg.Record:
    with translated():
        row = await pool.fetchrow(
            """INSERT INTO sites (name, timezone) VALUES ($1, $2)
               RETURNING id, name, timezone, created_at""",
            name,
            timezone,
        )
    assert row is not None
    return row


async def get(pool: asyncpg.Pool, site_id: int) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT id, name, timezone, created_at FROM sites WHERE id = $1", site_id
    )
    if row is None:
        raise NotFound(f"no site {site_id}")
    return row


async def list_page(pool: asyncpg.Pool, *, after: int | None, limit: int) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            """SELECT id, name, timezone, created_at FROM sites
               WHERE ($1::bigint IS NULL OR id > $1) ORDER BY id LIMIT $2""",
            after,
            limit,
        )
    )
