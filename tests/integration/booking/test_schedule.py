"""Several schedulers at once never take the same booking (FOR UPDATE SKIP LOCKED + lease)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from asyncpg import Range

from csms.booking import schedule
from csms.domain.charge_points import ConnectorSpec
from csms.store import charge_points

NOW = datetime(2026, 3, 1, 10, tzinfo=UTC)


async def seed(pool: asyncpg.Pool, count: int) -> None:
    await pool.execute(
        "INSERT INTO users (email, password_hash, role) VALUES ('d@example.com', 'x', 'driver')"
    )
    site_id = await pool.fetchval(
        "INSERT INTO sites (name, timezone) VALUES ('Yard', 'UTC') RETURNING id"
    )
    specs = [ConnectorSpec(n, "Type2", Decimal(22)) for n in range(1, 11)]
    await charge_points.create(
        pool, "SCHED-1", site_id=site_id, authorization_key_hash=None, connectors=specs
    )
    rows = [
        (
            1,
            "SCHED-1",
            n % 10 + 1,
            Range(NOW + timedelta(hours=n // 10), NOW + timedelta(hours=n // 10, minutes=30)),
            f"{100000 + n}",
            NOW,
            site_id,
        )
        for n in range(count)
    ]
    await pool.executemany(
        """INSERT INTO reservations (user_id, charge_point_id, connector_id, during, code, status, price,
                                    tariff, timezone, next_action_at, site_id)
           VALUES ($1, $2, $3, $4, $5, 'booked', '{}', '{}', 'UTC', $6, $7)""",
        rows,
    )


async def test_concurrent_claims_are_disjoint_and_complete(pool: asyncpg.Pool) -> None:
    await seed(pool, 200)
    lease = NOW + timedelta(minutes=1)
    claims = await asyncio.gather(*(schedule.claim_due(pool, NOW, lease, 30) for _ in range(10)))
    ids = [booking.id for claim in claims for booking in claim]
    assert len(ids) == len(set(ids)) == 200
    # Leased rows are not handed out again until the lease ends...
    assert await schedule.claim_due(pool, NOW + timedelta(seconds=30), lease, 500) == []
    # ...and are, once it has (their node died).
    assert (
        len(
            await schedule.claim_due(
                pool, lease + timedelta(seconds=1), lease + timedelta(minutes=1), 500
            )
        )
        == 200
    )
