"""The live feed against real PostgreSQL: a reading that becomes visible after one with a
higher id (ids are taken before commit) is still published."""

from __future__ import annotations

from csms.workers.live_feed import LiveFeed
from tests.integration.booking.test_sessions import charging
from tests.world import World


async def test_a_reading_committed_late_with_a_lower_id_is_published(world: World) -> None:
    pool = world.server.pool
    assert pool is not None
    charger = await world.connect(free=(1,))
    booking, _, tx = await charging(world, charger)
    feed = LiveFeed(pool)
    await feed._start_from_now()
    insert = """INSERT INTO meter_values (id, charge_point_id, connector_id, transaction_id,
                                          sampled_at, measurand, value)
                OVERRIDING SYSTEM VALUE
                VALUES ($1, $2, 1, $3, now(), 'Energy.Active.Import.Register', '10')"""
    newest = int(await pool.fetchval("SELECT COALESCE(max(id), 0) FROM meter_values"))
    await pool.execute(insert, newest + 10, world.cp_id, tx)  # committed first ...
    first = await feed.poll()
    await pool.execute(insert, newest + 5, world.cp_id, tx)  # ... its lower id committed after
    second = await feed.poll()
    third = await feed.poll()
    meters = [[e.data for e in events if e.kind == "meter"] for events in (first, second, third)]
    assert meters == [[{"reservation_id": booking["id"]}], [{"reservation_id": booking["id"]}], []]
    await charger.close()
