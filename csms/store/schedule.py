"""The scheduler's queries: claim due bookings safely across nodes, move, wake.

Claiming marks rows with a lease (``claimed_until``) in one statement using
``FOR UPDATE SKIP LOCKED``: several schedulers never take the same booking, and a booking whose
node died is taken again once the lease runs out.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from csms.store.reservations import COLUMNS

WAKE_CHANNEL = "csms_reservations"


async def claim_due(
    pool: asyncpg.Pool, now: datetime, lease_until: datetime, limit: int
) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            f"""WITH due AS (
                    SELECT id FROM reservations
                    WHERE status IN ('booked', 'active') AND next_action_at <= $1
                      AND (claimed_until IS NULL OR claimed_until < $1)
                    ORDER BY next_action_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                UPDATE reservations r SET claimed_until = $2 FROM due WHERE r.id = due.id
                RETURNING {COLUMNS}""",
            now,
            lease_until,
            limit,
        )
    )


async def release(
    connection: asyncpg.Connection, reservation_id: int, next_action_at: datetime | None
) -> None:
    await connection.execute(
        "UPDATE reservations SET claimed_until = NULL, next_action_at = $2 WHERE id = $1",
        reservation_id,
        next_action_at,
    )


async def next_due(pool: asyncpg.Pool) -> datetime | None:
    due: datetime | None = await pool.fetchval(
        "SELECT min(next_action_at) FROM reservations WHERE status IN ('booked', 'active')"
    )
    return due


async def alternatives(
    connection: asyncpg.Connection, reservation: asyncpg.Record
) -> list[tuple[str, int]]:
    """Other free connectors of the same type at the same site, best first."""
    rows = await connection.fetch(
        """SELECT c.charge_point_id, c.connector_id
           FROM connectors c
           JOIN charge_points cp ON cp.id = c.charge_point_id
           JOIN charge_points orig ON orig.id = $1
           JOIN connectors oc ON oc.charge_point_id = $1 AND oc.connector_id = $2
           WHERE cp.site_id = orig.site_id AND cp.registration_status = 'accepted'
             AND c.connector_type = oc.connector_type AND NOT c.out_of_service
             AND (c.charge_point_id, c.connector_id) <> ($1, $2)
             AND (c.status IS NULL OR c.status = 'Available')
             AND NOT EXISTS (
                 SELECT 1 FROM reservations r
                 WHERE r.charge_point_id = c.charge_point_id AND r.connector_id = c.connector_id
                   AND r.status IN ('booked', 'active', 'charging') AND r.id <> $3
                   AND r.during && tstzrange($4, $5))
           ORDER BY (c.charge_point_id = $1) DESC, cp.connected_node IS NULL,
                    abs(c.max_power_kw - oc.max_power_kw), c.charge_point_id, c.connector_id""",
        reservation["charge_point_id"],
        reservation["connector_id"],
        reservation["id"],
        reservation["start"],
        reservation["end"],
    )
    return [(row["charge_point_id"], row["connector_id"]) for row in rows]


async def move(
    connection: asyncpg.Connection, reservation_id: int, charge_point_id: str, connector_id: int
) -> bool:
    """Point the booking at another connector; False if that one was taken meanwhile."""
    try:
        async with connection.transaction():
            await connection.execute(
                """UPDATE reservations SET charge_point_id = $2, connector_id = $3,
                          on_charger = false, dispatched_at = NULL, dispatch_attempts = 0
                   WHERE id = $1""",
                reservation_id,
                charge_point_id,
                connector_id,
            )
    except asyncpg.ExclusionViolationError:
        return False
    return True


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


async def connector_unusable(
    pool: asyncpg.Pool, charge_point_id: str, connector_id: int, status: str, now: datetime
) -> list[int]:
    """A connector went Faulted/Unavailable: its open bookings go back to be dispatched (and so
    moved, or retried, or failed). Returns their ids."""
    async with pool.acquire() as connection, connection.transaction():
        rows = await connection.fetch(
            """UPDATE reservations SET status = 'booked', next_action_at = $3, on_charger = false,
                      status_reason = $4, updated_at = $3
               WHERE charge_point_id = $1 AND connector_id = $2 AND status IN ('booked', 'active')
                 AND upper(during) > $3 AND lower(during) <= $3 + interval '15 minutes'
               RETURNING id""",
            charge_point_id,
            connector_id,
            now,
            f"the connector became {status}",
        )
        for row in rows:
            await connection.execute(
                """INSERT INTO reservation_history (reservation_id, at, status, reason,
                                                    charge_point_id, connector_id)
                   VALUES ($1, $2, 'booked', $3, $4, $5)""",
                row["id"],
                now,
                f"the connector became {status}",
                charge_point_id,
                connector_id,
            )
        if rows:
            await connection.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, charge_point_id)
    return [row["id"] for row in rows]


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
