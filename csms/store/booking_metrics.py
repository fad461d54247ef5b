"""What ``/metrics`` reads of the bookings from PostgreSQL: cluster-wide figures, the same from
every node (the booking tables are shared; nothing is counted in memory)."""

from __future__ import annotations

import dataclasses

import asyncpg

#: ``from`` of a booking's first history row (it was created).
NEW = "(new)"


@dataclasses.dataclass(frozen=True, slots=True)
class BookingFigures:
    #: Bookings per status now.
    by_status: dict[str, int]
    #: History rows per (from, to) status: every transition ever made.
    transitions: dict[tuple[str, str], int]
    #: Seconds the oldest due, unclaimed booking has been waiting for a scheduler (0: none).
    overdue_seconds: float


async def booking_figures(pool: asyncpg.Pool) -> BookingFigures:
    """One consistent read (one snapshot) of the three figures."""
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        statuses = await connection.fetch(
            "SELECT status, count(*) AS n FROM reservations GROUP BY status"
        )
        transitions = await connection.fetch(
            """SELECT coalesce(previous, $1) AS from_status, status AS to_status, count(*) AS n
               FROM (SELECT status, lag(status) OVER (PARTITION BY reservation_id ORDER BY id)
                            AS previous
                     FROM reservation_history) h
               GROUP BY 1, 2""",
            NEW,
        )
        overdue = await connection.fetchval(
            """SELECT coalesce(extract(epoch FROM now() - min(next_action_at)), 0)::float8
               FROM reservations
               WHERE status IN ('booked', 'active', 'charging') AND next_action_at <= now()
                 AND (claimed_until IS NULL OR claimed_until < now())"""
        )
    return BookingFigures(
        by_status={row["status"]: row["n"] for row in statuses},
        transitions={(row["from_status"], row["to_status"]): row["n"] for row in transitions},
        overdue_seconds=max(float(overdue or 0.0), 0.0),
    )
