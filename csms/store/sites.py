"""Sites: where chargers stand, the time zone their tariffs are written in, and whether their
bookings' codes go on the chargers' local lists."""

from __future__ import annotations

import asyncpg

from csms.errors import NotFound
from csms.store.errors import translated

_COLUMNS = "id, name, timezone, codes_on_local_list, created_at"


async def create(
    pool: asyncpg.Pool, name: str, timezone: str, *, codes_on_local_list: bool = False
) -> asyncpg.Record:
    with translated():
        row = await pool.fetchrow(
            f"""INSERT INTO sites (name, timezone, codes_on_local_list) VALUES ($1, $2, $3)
                RETURNING {_COLUMNS}""",
            name,
            timezone,
            codes_on_local_list,
        )
    assert row is not None
    return row


async def get(pool: asyncpg.Pool, site_id: int) -> asyncpg.Record:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM sites WHERE id = $1", site_id)
    if row is None:
        raise NotFound(f"no site {site_id}")
    return row


async def update(
    pool: asyncpg.Pool, site_id: int, *, name: str | None, codes_on_local_list: bool | None
) -> asyncpg.Record:
    """Change what is given (None: leave it)."""
    with translated():
        row = await pool.fetchrow(
            f"""UPDATE sites SET name = COALESCE($2, name),
                       codes_on_local_list = COALESCE($3, codes_on_local_list)
                WHERE id = $1 RETURNING {_COLUMNS}""",
            site_id,
            name,
            codes_on_local_list,
        )
    if row is None:
        raise NotFound(f"no site {site_id}")
    return row


async def list_page(pool: asyncpg.Pool, *, after: int | None, limit: int) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            f"""SELECT {_COLUMNS} FROM sites
                WHERE ($1::bigint IS NULL OR id > $1) ORDER BY id LIMIT $2""",
            after,
            limit,
        )
    )
