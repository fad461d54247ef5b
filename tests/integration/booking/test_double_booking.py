"""No double booking, ever: many simultaneous attempts at one slot, one winner."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp

from tests.world import World, sign_up_driver


async def test_500_simultaneous_bookings_of_one_slot(world: World) -> None:
    drivers = [await sign_up_driver(world.server) for _ in range(5)]
    start, end = world.window(120, 60)
    url = world.server.http_url + "/api/v1/reservations"

    async def attempt(http: aiohttp.ClientSession, n: int) -> int:
        # Overlapping, not identical, windows: every one of them collides with every other.
        body = {"charge_point_id": world.cp_id, "connector_id": 1, "start": start, "end": end}
        headers = {"Authorization": f"Bearer {drivers[n % len(drivers)]}"}
        async with http.post(url, json=body, headers=headers) as response:
            await response.read()
            return response.status

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as http:
        statuses = Counter(await asyncio.gather(*(attempt(http, n) for n in range(500))))
    assert statuses == {201: 1, 409: 499}
    _, everyone = await world.server.request("GET", "/api/v1/reservations?all=true&limit=500")
    assert len(everyone["items"]) == 1


async def test_the_database_refuses_an_overlap_written_around_the_api(world: World) -> None:
    """The exclusion constraint holds even for a writer that skips every check."""
    import asyncpg
    import pytest
    from asyncpg import Range

    from csms.domain.timestamps import parse_timestamp

    assert world.server.pool is not None
    start, end = (parse_timestamp(t) for t in world.window(60, 60))
    _, booking = await world.book(1, world.window(60, 60))
    with pytest.raises(asyncpg.ExclusionViolationError):
        await world.server.pool.execute(
            """INSERT INTO reservations (user_id, charge_point_id, connector_id, during, code, status,
                                        price, tariff, timezone, site_id)
               SELECT user_id, charge_point_id, connector_id, $2, '999999', 'booked', price, tariff,
                      timezone, site_id
               FROM reservations WHERE id = $1""",
            booking["id"],
            Range(start, end),
        )
