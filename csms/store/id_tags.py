"""idTags known to the CSMS: RFID cards and other tokens (S 7.27)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

import asyncpg

from csms.domain.authorization import IdTagRecord, driver_group_tag
from csms.errors import AlreadyExists, Conflict, NotFound
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


class DriverGroup(Conflict):
    """A change would put a card into, or take a driver's card out of, a driver's group."""

    code = "driver_group"


#: What an operator may change on a card (S 7.27 IdTagInfo: expiryDate, parentIdTag, Blocked).
UPDATABLE = frozenset({"expiry_date", "blocked", "parent_id_tag"})


async def update(pool: asyncpg.Pool, id_tag: str, changes: Mapping[str, object]) -> asyncpg.Record:
    """Change some of :data:`UPDATABLE` of a card (``id_tag`` without case); a None expiry or
    parent clears it. Its name never changes: a card and a live booking code still never share
    one. :class:`NotFound`; :class:`DriverGroup` (see :func:`check_parent`)."""
    assert set(changes) <= UPDATABLE, changes
    async with pool.acquire() as connection, connection.transaction():
        card = await connection.fetchrow(
            """SELECT id_tag, parent_id_tag, user_id FROM id_tags
               WHERE lower(id_tag) = lower($1) FOR UPDATE""",
            id_tag,
        )
        if card is None:
            raise NotFound(f"no idTag {id_tag!r}")
        if "parent_id_tag" in changes:
            check_parent(card["user_id"], card["parent_id_tag"], changes["parent_id_tag"])
        row = await connection.fetchrow(
            f"""UPDATE id_tags
                SET expiry_date = CASE WHEN $2 THEN $3 ELSE expiry_date END,
                    blocked = COALESCE($4, blocked),
                    parent_id_tag = CASE WHEN $5 THEN $6 ELSE parent_id_tag END
                WHERE id_tag = $1 RETURNING {_COLUMNS}""",
            card["id_tag"],
            "expiry_date" in changes,
            changes.get("expiry_date"),
            changes.get("blocked"),
            "parent_id_tag" in changes,
            changes.get("parent_id_tag"),
        )
    assert row is not None
    return row


#: The form of :func:`~csms.domain.authorization.driver_group_tag`, in any case.
_DRIVER_GROUP = re.compile(r"driver-[0-9]+", re.IGNORECASE)


def check_parent(user_id: int | None, current: str | None, new: object) -> None:
    """A driver's group (``DRIVER-<user id>``) holds that driver's own cards and nothing else.

    It is the parentIdTag of their bookings: a card in it may start them (S 5.13) and is taken
    as the driver's own. So another card may not join it, and a driver's card may not leave
    it (tapping the card at a booked connector would stop working).
    """
    if _same(new, current):
        return
    if user_id is not None:
        group = driver_group_tag(user_id)
        if not _same(new, group):
            raise DriverGroup(f"a driver's card stays in its driver's group ({group})")
    elif isinstance(new, str) and _DRIVER_GROUP.fullmatch(new):
        raise DriverGroup(f"{new} is a driver's group: only that driver's own cards are in it")


def _same(a: object, b: str | None) -> bool:
    if isinstance(a, str) and b is not None:
        return a.casefold() == b.casefold()
    return a is None and b is None


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


async def get(pool: asyncpg.Pool, id_tag: str) -> asyncpg.Record:
    """The card named ``id_tag`` (without case); :class:`NotFound`."""
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM id_tags WHERE lower(id_tag) = lower($1)", id_tag
    )
    if row is None:
        raise NotFound(f"no idTag {id_tag!r}")
    return row


async def delete(pool: asyncpg.Pool, id_tag: str) -> None:
    """Forget a card (without case): Authorize answers Invalid for it from now on, and local
    lists drop it as after any change (the trigger leaves a tombstone). Transactions it
    started keep its name. :class:`NotFound`."""
    done = await pool.execute("DELETE FROM id_tags WHERE lower(id_tag) = lower($1)", id_tag)
    if done.endswith(" 0"):
        raise NotFound(f"no idTag {id_tag!r}")
