"""The OCPP message log in PostgreSQL: batched writes, daily partitions, paged reads.

Rows are written with COPY (one round trip per batch). ``ocpp_messages`` is partitioned by UTC
day (``ocpp_messages_pYYYYMMDD``); :func:`prepare_days` creates the coming days' partitions and
:func:`drop_before` drops whole old ones, so retention costs a ``DROP TABLE``, not a ``DELETE``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

#: One row as the writer hands it over: at, charge point, direction, message type, action,
#: message id, frame text, node (the column order of :data:`COLUMNS`).
Row = tuple[datetime, str, str, str, str | None, str, str, str]
COLUMNS = (
    "at", "charge_point_id", "direction", "message_type", "action", "message_id", "frame", "node"
)
_PARTITION = re.compile(r"ocpp_messages_p(\d{8})")
# Names "csms message log partitions" among advisory locks: one node creates or drops at a time.
_LOCK_KEY = 0x6373_6D6C


@dataclasses.dataclass(frozen=True, slots=True)
class LoggedFrame:
    id: int
    at: datetime
    direction: str
    message_type: str
    action: str | None
    message_id: str
    frame: str
    node: str


@dataclasses.dataclass(frozen=True, slots=True)
class FrameFilter:
    """Frames of one charger: ``from_`` inclusive, ``to`` exclusive, ``before_id`` a cursor."""

    charge_point_id: str
    from_: datetime | None = None
    to: datetime | None = None
    action: str | None = None
    message_id: str | None = None
    direction: str | None = None
    before_id: int | None = None


async def write(pool: asyncpg.Pool, rows: Sequence[Row]) -> None:
    """Store ``rows`` in one COPY."""
    async with pool.acquire() as connection:
        await connection.copy_records_to_table("ocpp_messages", records=rows, columns=COLUMNS)


def partition_name(day: date) -> str:
    return f"ocpp_messages_p{day:%Y%m%d}"


async def prepare_days(pool: asyncpg.Pool, days: Sequence[date]) -> list[str]:
    """Create the partitions of ``days`` that are missing; the names created.

    A day whose rows already sit in the default partition (a charger's frames logged before its
    partition existed) is left to the default partition: PostgreSQL refuses the new partition.
    """
    created = []
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        existing = set(await _partitions(connection))
        for day in days:
            name = partition_name(day)
            if name in existing:
                continue
            start = datetime.combine(day, time(), UTC)
            try:
                async with connection.transaction():
                    await connection.execute(
                        f"CREATE TABLE {name} PARTITION OF ocpp_messages "
                        f"FOR VALUES FROM ('{start.isoformat()}') "
                        f"TO ('{(start + timedelta(days=1)).isoformat()}')"
                    )
            except asyncpg.CheckViolationError:
                continue
            created.append(name)
    return created


async def drop_before(pool: asyncpg.Pool, cutoff: datetime) -> list[str]:
    """Drop the day partitions that end at or before ``cutoff``, and delete older rows from the
    default partition (normally empty); the partitions dropped."""
    dropped = []
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        for name in await _partitions(connection):
            match = _PARTITION.fullmatch(name)
            day = datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC) if match else None
            if day is not None and day + timedelta(days=1) <= cutoff:
                await connection.execute(f"DROP TABLE {name}")
                dropped.append(name)
        await connection.execute("DELETE FROM ocpp_messages_default WHERE at < $1", cutoff)
    return dropped


async def _partitions(connection: asyncpg.Connection) -> list[str]:
    rows = await connection.fetch(
        """SELECT child.relname FROM pg_inherits
           JOIN pg_class child ON child.oid = pg_inherits.inhrelid
           WHERE pg_inherits.inhparent = 'ocpp_messages'::regclass"""
    )
    return sorted(row["relname"] for row in rows if _PARTITION.fullmatch(row["relname"]))


_SELECT = """SELECT id, at, direction, message_type, action, message_id, frame, node
             FROM ocpp_messages
             WHERE charge_point_id = $1
               AND ($2::timestamptz IS NULL OR at >= $2)
               AND ($3::timestamptz IS NULL OR at < $3)
               AND ($4::text IS NULL OR action = $4)
               AND ($5::text IS NULL OR message_id = $5)
               AND ($6::text IS NULL OR direction = $6)
               AND ($7::bigint IS NULL OR id < $7)
             ORDER BY id DESC"""


def _arguments(where: FrameFilter) -> tuple[object, ...]:
    return (
        where.charge_point_id, where.from_, where.to, where.action, where.message_id,
        where.direction, where.before_id,
    )


async def list_page(pool: asyncpg.Pool, where: FrameFilter, limit: int) -> list[LoggedFrame]:
    """Newest first (the order of writing), at most ``limit``."""
    rows = await pool.fetch(_SELECT + " LIMIT $8", *_arguments(where), limit)
    return [LoggedFrame(**dict(row)) for row in rows]


async def export(pool: asyncpg.Pool, where: FrameFilter) -> AsyncIterator[LoggedFrame]:
    """Every matching frame, newest first, read in chunks from a server-side cursor."""
    async with pool.acquire() as connection, connection.transaction():
        async for row in connection.cursor(_SELECT, *_arguments(where), prefetch=500):
            yield LoggedFrame(**dict(row))
