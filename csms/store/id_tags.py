"""idTags known to the CSMS: RFID cards and other tokens (S 7.27)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from csms.domain.authorization import IdTagRecord
from csms.errors import AlreadyExists, Conflict
from csms.store.errors import translated


class TooManyCards(Conflict):
    """The driver has registered as many cards as one may."""

    code = "too_many_cards"


_COLUMNS = "id_tag, parent_id_tag, expiry_date, blocked, user_id, created_at"


async def create(
    pool: asyncpg.Pool,
    id_tag: str,
    *,
    parent_id_tag: str | None = None,
    expiry_date: datetime | None = None,
    blocked: bool = False,
    user_id: int | None = None,
    max_per_user: int | None = None,
) -> asyncpg.Record:
    """Store a card. :class:`AlreadyExists` when the name is a card or a live booking code
    (the same answer for both: it says nothing of anyone's booking); :class:`TooManyCards`
    when ``user_id`` already has ``max_per_user``."""
    async with pool.acquire() as connection, connection.transaction():
        await lock_name(connection, id_tag)
        if max_per_user is not None and user_id is not None:
            await connection.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
            held = await connection.fetchval(
                "SELECT count(*) FROM id_tags WHERE user_id = $1", user_id
            )
            if held >= max_per_user:
                raise TooManyCards(f"a driver may register at most {max_per_user} cards")
        if await _is_live_code(connection, id_tag):
            raise AlreadyExists("this idTag is already registered")
        with translated():
            row = await connection.fetchrow(
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


async def lock_name(connection: asyncpg.Connection, name: str) -> None:
    """Serialise, until the transaction ends, everyone making a card or a booking code of this
    name (without case): a card and a live code never share one."""
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('csms idTag ' || lower($1), 0))", name
    )


async def _is_live_code(connection: asyncpg.Connection, name: str) -> bool:
    return bool(
        await connection.fetchval(
            """SELECT EXISTS (SELECT 1 FROM reservations WHERE lower(code) = lower($1)
                              AND status IN ('booked', 'active', 'charging'))""",
            name,
        )
    )


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
