"""Reservations: the exclusion constraint does the deciding; these queries ask and record.

Booking locks the connector's row first (``FOR UPDATE``): simultaneous attempts on one slot then
queue up and each meets the constraint in turn, instead of deadlocking inside the constraint
check (which PostgreSQL untangles only one ``deadlock_timeout`` at a time).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from asyncpg import Range

from csms.domain.reservations import BookedCode, ReservationStatus
from csms.errors import Conflict

# Live statuses are written into the SQL as literals (not parameters), so every plan can use
# the partial indexes whose predicate they match.


class SlotTaken(Conflict):
    """Someone else holds an overlapping booking of this connector."""

    code = "slot_taken"


class CodeCollision(Exception):
    """The generated code is already used by a live booking: draw another."""


@dataclasses.dataclass(frozen=True, slots=True)
class BookableConnector:
    charge_point_id: str
    connector_id: int
    connector_type: str
    max_power_kw: Decimal
    site_id: int
    site_name: str
    timezone: str
    tariff: asyncpg.Record


_BOOKABLE = """
SELECT c.charge_point_id, c.connector_id, c.connector_type, c.max_power_kw,
       s.id AS site_id, s.name AS site_name, s.timezone,
       t.currency, t.reservation_fee_per_hour, t.session_fee, t.periods
FROM connectors c
JOIN charge_points cp ON cp.id = c.charge_point_id
JOIN sites s ON s.id = cp.site_id
JOIN tariffs t ON t.site_id = s.id
WHERE cp.registration_status = 'accepted' AND c.connector_type IS NOT NULL
  AND NOT c.out_of_service
"""


def _bookable(row: asyncpg.Record) -> BookableConnector:
    return BookableConnector(
        row["charge_point_id"],
        row["connector_id"],
        row["connector_type"],
        row["max_power_kw"],
        row["site_id"],
        row["site_name"],
        row["timezone"],
        row,
    )


async def lock_connector(
    connection: asyncpg.Connection, charge_point_id: str, connector_id: int
) -> BookableConnector | None:
    """The connector, if bookable, locked until the transaction ends."""
    row = await connection.fetchrow(
        _BOOKABLE + " AND c.charge_point_id = $1 AND c.connector_id = $2 FOR UPDATE OF c",
        charge_point_id,
        connector_id,
    )
    return None if row is None else _bookable(row)


async def free_connectors(
    pool: asyncpg.Pool,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    site_id: int | None,
    connector_type: str | None,
    min_power_kw: Decimal | None,
    limit: int,
) -> list[BookableConnector]:
    """Connectors bookable for all of [start, end). A window about to start also needs the
    connector to be free right now (not faulted, unavailable or in use)."""
    rows = await pool.fetch(
        _BOOKABLE
        + """ AND ($3::bigint IS NULL OR s.id = $3)
              AND ($4::text IS NULL OR lower(c.connector_type) = lower($4))
              AND ($5::numeric IS NULL OR c.max_power_kw >= $5)
              AND NOT EXISTS (
                  SELECT 1 FROM reservations r
                  WHERE r.charge_point_id = c.charge_point_id AND r.connector_id = c.connector_id
                    AND r.status IN ('booked', 'active', 'charging')
                    AND r.during && tstzrange($1, $2))
              AND ($1 > $7::timestamptz + interval '15 minutes'
                   OR c.status IS NULL OR c.status IN ('Available', 'Reserved'))
            ORDER BY s.id, c.charge_point_id, c.connector_id
            LIMIT $6""",
        start,
        end,
        site_id,
        connector_type,
        min_power_kw,
        limit,
        now,
    )
    return [_bookable(row) for row in rows]


async def insert(
    connection: asyncpg.Connection,
    *,
    user_id: int,
    charge_point_id: str,
    connector_id: int,
    start: datetime,
    end: datetime,
    code: str,
    price: dict[str, Any],
    tariff: dict[str, Any],
    timezone: str,
    parent_id_tag: str | None,
    idempotency_key: str | None,
    next_action_at: datetime,
    now: datetime,
) -> int:
    """Store a booking; :class:`SlotTaken` or :class:`CodeCollision` when the database says no."""
    try:
        async with connection.transaction():  # A savepoint: a refusal leaves the caller's intact.
            reservation_id: int = await connection.fetchval(
                """INSERT INTO reservations (user_id, charge_point_id, connector_id, during, code,
                       status, price, tariff, timezone, parent_id_tag, idempotency_key,
                       next_action_at, created_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5, 'booked', $6, $7, $8, $9, $10, $11, $12, $12)
                   RETURNING id""",
                user_id,
                charge_point_id,
                connector_id,
                Range(start, end, lower_inc=True, upper_inc=False),
                code,
                price,
                tariff,
                timezone,
                parent_id_tag,
                idempotency_key,
                next_action_at,
                now,
            )
    except asyncpg.ExclusionViolationError:
        raise SlotTaken("this connector is already booked for part of that window") from None
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == "reservations_live_code":
            raise CodeCollision from None
        raise
    await add_history(
        connection,
        reservation_id,
        now,
        ReservationStatus.BOOKED,
        None,
        charge_point_id,
        connector_id,
    )
    return reservation_id


async def add_history(
    connection: asyncpg.Connection | asyncpg.Pool,
    reservation_id: int,
    at: datetime,
    status: str,
    reason: str | None,
    charge_point_id: str | None = None,
    connector_id: int | None = None,
) -> None:
    await connection.execute(
        """INSERT INTO reservation_history (reservation_id, at, status, reason, charge_point_id,
                                            connector_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        reservation_id,
        at,
        status,
        reason,
        charge_point_id,
        connector_id,
    )


COLUMNS = """r.id, r.user_id, r.charge_point_id, r.connector_id, lower(r.during) AS start,
              upper(r.during) AS "end", r.code, r.status, r.status_reason, r.price,
              r.tariff, r.timezone, r.parent_id_tag, r.idempotency_key, r.dispatched_at,
              r.on_charger, r.dispatch_attempts, r.transaction_id, r.energy_kwh, r.cost,
              r.created_at"""


async def get(
    executor: asyncpg.Pool | asyncpg.Connection, reservation_id: int, *, lock: bool = False
) -> asyncpg.Record | None:
    return await executor.fetchrow(
        f"SELECT {COLUMNS} FROM reservations r WHERE r.id = $1" + (" FOR UPDATE" if lock else ""),
        reservation_id,
    )


async def by_idempotency_key(
    connection: asyncpg.Connection, user_id: int, key: str
) -> asyncpg.Record | None:
    return await connection.fetchrow(
        f"SELECT {COLUMNS} FROM reservations r WHERE r.user_id = $1 AND r.idempotency_key = $2",
        user_id,
        key,
    )


async def history(pool: asyncpg.Pool, reservation_id: int) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            """SELECT at, status, reason, charge_point_id, connector_id FROM reservation_history
               WHERE reservation_id = $1 ORDER BY id""",
            reservation_id,
        )
    )


@dataclasses.dataclass(frozen=True, slots=True)
class ListFilter:
    """Which bookings a list shows: one user's (None: everyone's), at one charger, and those
    whose window overlaps [overlaps_from, overlaps_to)."""

    user_id: int | None = None
    charge_point_id: str | None = None
    overlaps_from: datetime | None = None
    overlaps_to: datetime | None = None


async def list_page(
    pool: asyncpg.Pool, where: ListFilter, *, before: int | None, limit: int
) -> list[asyncpg.Record]:
    """Newest first."""
    return list(
        await pool.fetch(
            f"""SELECT {COLUMNS} FROM reservations r
                WHERE ($1::bigint IS NULL OR r.user_id = $1) AND ($2::integer IS NULL OR r.id < $2)
                  AND ($4::text IS NULL OR r.charge_point_id = $4)
                  AND r.during && tstzrange($5, $6)
                ORDER BY r.id DESC LIMIT $3""",
            where.user_id,
            before,
            limit,
            where.charge_point_id,
            where.overlaps_from,
            where.overlaps_to,
        )
    )


async def set_status(
    connection: asyncpg.Connection,
    reservation_id: int,
    status: ReservationStatus,
    reason: str | None,
    now: datetime,
    **fields: Any,
) -> None:
    """Change the status (and named columns) and record it in the history."""
    assignments = "".join(f", {name} = ${n}" for n, name in enumerate(fields, start=5))
    row = await connection.fetchrow(
        f"""UPDATE reservations SET status = $2, status_reason = $3, updated_at = $4{assignments}
            WHERE id = $1 RETURNING charge_point_id, connector_id""",
        reservation_id,
        str(status),
        reason,
        now,
        *fields.values(),
    )
    assert row is not None
    await add_history(
        connection, reservation_id, now, status, reason, row["charge_point_id"], row["connector_id"]
    )


def booked_code(row: asyncpg.Record) -> BookedCode:
    return BookedCode(
        reservation_id=row["id"],
        charge_point_id=row["charge_point_id"],
        connector_id=row["connector_id"],
        start=row["start"],
        end=row["end"],
        status=ReservationStatus(row["status"]),
        dispatched_at=row["dispatched_at"],
        parent_id_tag=row["parent_id_tag"],
    )


async def find_by_code(
    executor: asyncpg.Pool | asyncpg.Connection, code: str
) -> asyncpg.Record | None:
    """The booking a code names: the live one, else the most recent one."""
    return await executor.fetchrow(
        f"""SELECT {COLUMNS} FROM reservations r WHERE lower(r.code) = lower($1)
            ORDER BY (r.status IN ('booked', 'active', 'charging')) DESC, r.id DESC LIMIT 1""",
        code,
    )


async def live_on_connector(
    executor: asyncpg.Pool | asyncpg.Connection,
    charge_point_id: str,
    connector_id: int,
    at: datetime,
) -> asyncpg.Record | None:
    """The live booking whose window holds ``at`` on this connector, if any."""
    return await executor.fetchrow(
        f"""SELECT {COLUMNS} FROM reservations r
            WHERE r.charge_point_id = $1 AND r.connector_id = $2
              AND r.status IN ('booked', 'active', 'charging') AND r.during @> $3::timestamptz""",
        charge_point_id,
        connector_id,
        at,
    )


async def charging_for_transaction(
    connection: asyncpg.Connection, transaction_id: int
) -> asyncpg.Record | None:
    """The booking a transaction is fulfilling (locked), if it is still charging."""
    return await connection.fetchrow(
        f"""SELECT {COLUMNS} FROM reservations r
            WHERE r.transaction_id = $1 AND r.status = 'charging' FOR UPDATE""",
        transaction_id,
    )
