"""idTags known to the CSMS: RFID cards and other tokens (S 7.27)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from csms.domain.authorization import IdTagRecord
from csms.store.errors import translated

_COLUMNS = "id_tag, parent_id_tag, expiry_date, blocked, user_id, created_at"


async def create(
    pool: asyncpg.Pool,
    id_tag: str,
    *,
    parent_id_tag: str | None = None,
    expiry_date: datetime | None = None,
    blocked: bool = False,
    user_id: int | None = None,
) -> asyncpg.Record:
    with translated():
        row = await pool.fetchrow(
            f"""INSERT INTO id_tags (id_tag, parent_id_tag, expiry_date, blocked, user_id)
                VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",
            id_tag,
            parent_id_tag,
            expiry_date,
            blocked,
            user_id,
        )
    assert row is not None
    return row


async def find(pool: asyncpg.Pool | asyncpg.Connection, id_tag: str) -> IdTagRecord | None:
    """The record of ``id_tag``, compared without regard to case (CiString20)."""
    row = await pool.fetchrow(
        """SELECT id_tag, parent_id_tag, expiry_date, blocked FROM id_tags
           WHERE lower(id_tag) = lower($1)""",
        id_tag,
    )
    return None if row is None else IdTagRecord(**dict(row))


async def list_page(
    pool: asyncpg.Pool, *, after: str | None, limit: int, user_id: int | None = None
) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            f"""SELECT {_COLUMNS} FROM id_tags
                WHERE ($1::text IS NULL OR lower(id_tag) > lower($1))
                  AND ($2::bigint IS NULL OR user_id = $2)
                ORDER BY lower(id_tag) LIMIT $3""",
            after,
            user_id,
            limit,
        )
    )


async def has_group(executor: asyncpg.Pool | asyncpg.Connection, parent_id_tag: str) -> bool:
    """True when some usable idTag has this parent."""
    return bool(
        await executor.fetchval(
            """SELECT EXISTS (SELECT 1 FROM id_tags
                 WHERE lower(parent_id_tag) = lower($1) AND NOT blocked)""",
            parent_id_tag,
        )
    )
