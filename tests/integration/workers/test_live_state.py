"""Batched live state: coalescing, reconnect ordering, status ordering by arrival."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from csms.domain.charge_points import ConnectorSpec
from csms.store import charge_points
from csms.workers.live_state import ConnectorStatus, LiveStateWriter

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


async def make_charger(pool: asyncpg.Pool, cp_id: str = "LIVE-1") -> None:
    from decimal import Decimal

    await charge_points.create(
        pool,
        cp_id,
        site_id=None,
        authorization_key_hash=None,
        connectors=[ConnectorSpec(1, "Type2", Decimal(22))],
    )


async def node_of(pool: asyncpg.Pool, cp_id: str = "LIVE-1") -> str | None:
    return await pool.fetchval("SELECT connected_node FROM charge_points WHERE id = $1", cp_id)  # type: ignore[no-any-return]


async def test_reconnect_then_late_disconnect_of_old_socket_stays_connected(
    pool: asyncpg.Pool,
) -> None:
    await make_charger(pool)
    live = LiveStateWriter(pool, "node-a", 1.0)
    await live.start_node()
    live.connected("LIVE-1", T0)
    await live.flush()
    live.connected("LIVE-1", T0 + timedelta(seconds=1))  # the new socket
    live.disconnected("LIVE-1", T0)  # the old socket's close is noticed after
    await live.flush()
    assert await node_of(pool) == "node-a"
    live.disconnected("LIVE-1", T0 + timedelta(seconds=1))
    await live.flush()
    assert await node_of(pool) is None


async def test_latest_status_wins_and_unknown_connectors_are_added(pool: asyncpg.Pool) -> None:
    await make_charger(pool)
    live = LiveStateWriter(pool, "node-a", 1.0)
    for n, status in enumerate(["Preparing", "Charging", "Finishing"]):
        live.connector_status(
            "LIVE-1", 1, ConnectorStatus(status, "NoError", None, None, T0 + timedelta(seconds=n))
        )
    live.connector_status("LIVE-1", 4, ConnectorStatus("Available", "NoError", None, None, T0))
    live.connector_status("LIVE-1", 0, ConnectorStatus("Unavailable", "NoError", None, None, T0))
    await live.flush()
    rows = await pool.fetch(
        "SELECT connector_id, status, connector_type FROM connectors WHERE charge_point_id = 'LIVE-1' ORDER BY 1"
    )
    assert [(r["connector_id"], r["status"], r["connector_type"]) for r in rows] == [
        (1, "Finishing", "Type2"),
        (4, "Available", None),
    ]
    assert (
        await pool.fetchval("SELECT status FROM charge_points WHERE id = 'LIVE-1'") == "Unavailable"
    )
    # An older report flushed later does not overwrite a newer one.
    live.connector_status(
        "LIVE-1", 1, ConnectorStatus("Preparing", "NoError", None, None, T0 - timedelta(hours=1))
    )
    await live.flush()
    assert (
        await pool.fetchval(
            "SELECT status FROM connectors WHERE charge_point_id = 'LIVE-1' AND connector_id = 1"
        )
        == "Finishing"
    )


async def test_stopping_a_node_marks_its_chargers_offline(pool: asyncpg.Pool) -> None:
    await make_charger(pool)
    live = LiveStateWriter(pool, "node-b", 1.0)
    await live.start_node()
    live.connected("LIVE-1", T0)
    live.seen("LIVE-1", T0 + timedelta(seconds=5))
    await live.flush()
    assert await node_of(pool) == "node-b"
    assert await pool.fetchval(
        "SELECT last_seen_at FROM charge_points WHERE id = 'LIVE-1'"
    ) == T0 + timedelta(seconds=5)
    await live.stop_node()
    assert await node_of(pool) is None
    assert await pool.fetchval("SELECT count(*) FROM nodes WHERE id = 'node-b'") == 0


async def test_a_restarted_node_forgets_connections_it_left_behind(pool: asyncpg.Pool) -> None:
    await make_charger(pool)
    crashed = LiveStateWriter(pool, "node-c", 1.0)
    await crashed.start_node()
    crashed.connected("LIVE-1", T0)
    await crashed.flush()  # ... and the process dies without stop_node().
    await LiveStateWriter(pool, "node-c", 1.0).start_node()
    assert await node_of(pool) is None


async def test_a_failed_flush_keeps_its_changes_for_the_next_one(pool: asyncpg.Pool) -> None:
    import pytest

    await make_charger(pool)
    live = LiveStateWriter(pool, "node-a", 1.0)
    await live.start_node()
    live.connected("LIVE-1", T0)
    live.connector_status("LIVE-1", 1, ConnectorStatus("Charging", "NoError", None, None, T0))
    # The write fails (here: the table it writes is briefly gone) ...
    await pool.execute("ALTER TABLE connectors RENAME TO connectors_away")
    try:
        with pytest.raises(asyncpg.PostgresError):
            await live.flush()
    finally:
        await pool.execute("ALTER TABLE connectors_away RENAME TO connectors")
    # ... and a newer status that arrived meanwhile wins over the kept one.
    live.connector_status(
        "LIVE-1", 1, ConnectorStatus("Finishing", "NoError", None, None, T0 + timedelta(seconds=5))
    )
    await live.flush()
    assert await node_of(pool) == "node-a"
    status = await pool.fetchval(
        "SELECT status FROM connectors WHERE charge_point_id = 'LIVE-1' AND connector_id = 1"
    )
    assert status == "Finishing"
