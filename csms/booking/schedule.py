"""The scheduler's queries: claim due bookings safely across nodes, find where to move, wake.

Claiming marks rows with a lease (``claimed_until``) in one statement using
``FOR UPDATE SKIP LOCKED``: several schedulers never take the same booking, and a booking whose
node died is taken again once the lease runs out. These write only scheduling bookkeeping;
status changes go through :func:`csms.booking.store.transition`.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from csms.booking.records import Reservation
from csms.booking.store import COLUMNS, WAKE_CHANNEL, reservation


async def claim_due(
    pool: asyncpg.Pool, now: datetime, lease_until: datetime, limit: int
) -> list[Reservation]:
    rows = await pool.fetch(
        f"""WITH due AS (
                SELECT id FROM reservations
                WHERE status IN ('booked', 'active', 'charging') AND next_action_at <= $1
                  AND (claimed_until IS NULL OR claimed_until < $1)
                ORDER BY next_action_at LIMIT $3 FOR UPDATE SKIP LOCKED)
            UPDATE reservations r SET claimed_until = $2 FROM due WHERE r.id = due.id
            RETURNING {COLUMNS}""",
        now,
        lease_until,
        limit,
    )
    return [reservation(row) for row in rows]


async def release(
    executor: asyncpg.Connection | asyncpg.Pool,
    reservation_id: int,
    next_action_at: datetime | None,
    *,
    attempted: bool = False,
) -> None:
    """Give the booking back, due again at ``next_action_at`` (None: never). ``attempted``:
    a dispatch failed, so the code is not on the charger (it works from the window's start)."""
    await executor.execute(
        """UPDATE reservations SET claimed_until = NULL, next_action_at = $2,
                  dispatch_attempts = dispatch_attempts + $3::int,
                  dispatched_at = CASE WHEN $3 = 1 THEN NULL ELSE dispatched_at END
           WHERE id = $1""",
        reservation_id,
        next_action_at,
        int(attempted),
    )


async def mark_dispatching(
    executor: asyncpg.Connection | asyncpg.Pool, reservation_id: int, now: datetime
) -> None:
    """ReserveNow is about to go out: the code works from now on (chargers Authorize it before
    they answer, S 5.13), unless it already did since an earlier attempt at this connector."""
    await executor.execute(
        """UPDATE reservations SET dispatched_at = COALESCE(dispatched_at, $2)
           WHERE id = $1 AND status = 'booked'""",
        reservation_id,
        now,
    )


async def next_due(pool: asyncpg.Pool) -> datetime | None:
    due: datetime | None = await pool.fetchval(
        """SELECT min(next_action_at) FROM reservations
           WHERE status IN ('booked', 'active', 'charging')"""
    )
    return due


async def alternatives(
    connection: asyncpg.Connection, booking: Reservation, *, other_charger_first: bool
) -> list[tuple[str, int]]:
    """Other connectors of the same type at the same site to move to, best first.

    Only connectors of online chargers that reported themselves Available, never one this
    booking was already on (its history names each), and free for all it holds (its window
    and its terms' margins).
    """
    rows = await connection.fetch(
        """SELECT c.charge_point_id, c.connector_id
           FROM connectors c
           JOIN charge_points cp ON cp.id = c.charge_point_id
           JOIN charge_points orig ON orig.id = $1
           JOIN connectors oc ON oc.charge_point_id = $1 AND oc.connector_id = $2
           WHERE cp.site_id = orig.site_id AND cp.registration_status = 'accepted'
             AND cp.connected_node IS NOT NULL
             AND c.connector_type = oc.connector_type AND NOT c.out_of_service
             AND c.status = 'Available'
             AND NOT EXISTS (
                 SELECT 1 FROM reservation_history h
                 WHERE h.reservation_id = $3 AND h.charge_point_id = c.charge_point_id
                   AND h.connector_id = c.connector_id)
             AND NOT EXISTS (
                 SELECT 1 FROM reservations r
                 WHERE r.charge_point_id = c.charge_point_id AND r.connector_id = c.connector_id
                   AND r.status IN ('booked', 'active', 'charging') AND r.id <> $3
                   AND r.held && (SELECT held FROM reservations WHERE id = $3))
           ORDER BY (c.charge_point_id = $1) = $4,
                    abs(c.max_power_kw - oc.max_power_kw), c.charge_point_id, c.connector_id""",
        booking.charge_point_id,
        booking.connector_id,
        booking.id,
        other_charger_first,
    )
    return [(row["charge_point_id"], row["connector_id"]) for row in rows]


async def wake_charger(pool: asyncpg.Pool, charge_point_id: str, now: datetime) -> int:
    """Bookings of a charger waiting to retry are due now (it just connected); how many."""
    status: str = await pool.execute(
        """UPDATE reservations SET next_action_at = $2
           WHERE charge_point_id = $1 AND status = 'booked' AND next_action_at > $2
             AND lower(during) <= $2 AND upper(during) > $2""",
        charge_point_id,
        now,
    )
    count = int(status.split()[-1])
    if count:
        await pool.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, charge_point_id)
    return count


async def open_on_connector(
    connection: asyncpg.Connection,
    charge_point_id: str,
    connector_id: int,
    now: datetime,
    *,
    soon_seconds: int,
) -> list[Reservation]:
    """Booked or active bookings of a connector whose window is on or about to open, locked."""
    rows = await connection.fetch(
        f"""SELECT {COLUMNS} FROM reservations r
            WHERE r.charge_point_id = $1 AND r.connector_id = $2
              AND r.status IN ('booked', 'active')
              AND upper(r.during) > $3 AND lower(r.during) <= $3 + make_interval(secs => $4)
            ORDER BY r.id FOR UPDATE""",
        charge_point_id,
        connector_id,
        now,
        soon_seconds,
    )
    return [reservation(row) for row in rows]


async def set_profiles(
    pool: asyncpg.Pool, charge_point_id: str, profiles: list[str], connector_zero: bool | None
) -> None:
    await pool.execute(
        """UPDATE charge_points SET supported_profiles = $2, reserve_connector_zero = $3
           WHERE id = $1""",
        charge_point_id,
        profiles,
        connector_zero,
    )


async def profiles_of(pool: asyncpg.Pool, charge_point_id: str) -> list[str] | None:
    profiles: list[str] | None = await pool.fetchval(
        "SELECT supported_profiles FROM charge_points WHERE id = $1", charge_point_id
    )
    return profiles
