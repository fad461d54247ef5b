"""Connector status history: every StatusNotification per charger and connector (S 4.9).

Rows are appended by the live-state writer (:mod:`csms.workers.live_state`) in its batched
flush, one multi-row INSERT per flush inside the flush's transaction; reads page newest first
by id (the order of writing). :func:`purge_before` keeps the table bounded (schemas/migrations/
0014_status_history.sql).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

#: How long history is kept: a month of a connector's changes is what support looks back on.
RETENTION = timedelta(days=30)
#: Rows deleted per statement by :func:`purge_before` (short transactions, no long locks).
PURGE_BATCH = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class StatusChange:
    """One status a charger reported for a connector (0: the whole charger), as received."""

    charge_point_id: str
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_error_code: str | None
    at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class StoredChange:
    id: int
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_error_code: str | None
    at: datetime


async def append(connection: asyncpg.Connection, changes: Sequence[StatusChange]) -> None:
    """Store ``changes`` in their order, in one statement on the caller's transaction.

    A change of a charger removed meanwhile is skipped (its history went with it), so one
    removal cannot make the whole batch fail again and again.
    """
    if not changes:
        return
    await connection.execute(
        """INSERT INTO connector_status_history
               (charge_point_id, connector_id, status, error_code, info, vendor_error_code, at)
           SELECT s.cp, s.connector, s.status, s.error_code, s.info, s.vendor, s.at
           FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[],
                       $6::text[], $7::timestamptz[])
                WITH ORDINALITY AS s(cp, connector, status, error_code, info, vendor, at, n)
           WHERE EXISTS (SELECT 1 FROM charge_points cp WHERE cp.id = s.cp)
           ORDER BY s.n""",
        [c.charge_point_id for c in changes],
        [c.connector_id for c in changes],
        [c.status for c in changes],
        [c.error_code for c in changes],
        [c.info for c in changes],
        [c.vendor_error_code for c in changes],
        [c.at for c in changes],
    )


async def list_page(
    pool: asyncpg.Pool,
    charge_point_id: str,
    *,
    connector_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[StoredChange]:
    """The charger's changes (one connector's, if given), newest first, ids below
    ``before_id`` (a cursor), at most ``limit``."""
    rows = await pool.fetch(
        """SELECT id, connector_id, status, error_code, info, vendor_error_code, at
           FROM connector_status_history
           WHERE charge_point_id = $1
             AND ($2::integer IS NULL OR connector_id = $2)
             AND ($3::bigint IS NULL OR id < $3)
           ORDER BY id DESC LIMIT $4""",
        charge_point_id,
        connector_id,
        before_id,
        limit,
    )
    return [StoredChange(**dict(row)) for row in rows]


async def purge_before(pool: asyncpg.Pool, cutoff: datetime) -> int:
    """Delete the changes received before ``cutoff``, in batches; the number deleted."""
    deleted = 0
    while True:
        status = await pool.execute(
            """DELETE FROM connector_status_history WHERE id IN (
                   SELECT id FROM connector_status_history WHERE at < $1 LIMIT $2)""",
            cutoff,
            PURGE_BATCH,
        )
        count = int(status.rsplit(" ", 1)[1])
        deleted += count
        if count < PURGE_BATCH:
            return deleted
