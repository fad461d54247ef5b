"""Connector status history written by the live-state writer: every notification in order
(not coalesced), in the flush's transaction, bounded while unwritten, purged past retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from csms.store import charge_points, status_history
from csms.workers.live_state import ConnectorStatus, LiveStateWriter
from tests.integration.workers.test_live_state import make_charger

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def status(name: str, seconds: float = 0, **fields: str | None) -> ConnectorStatus:
    return ConnectorStatus(
        name, str(fields.get("error_code") or "NoError"), fields.get("info"),
        fields.get("vendor_error_code"), T0 + timedelta(seconds=seconds),
    )


async def history(pool: asyncpg.Pool, cp_id: str = "LIVE-1") -> list[tuple[int, str, str]]:
    rows = await status_history.list_page(pool, cp_id, connector_id=None, before_id=None,
                                          limit=500)
    return [(row.connector_id, row.status, row.error_code) for row in reversed(rows)]


async def test_every_change_is_kept_in_order_while_the_current_status_coalesces(
    pool: asyncpg.Pool,
) -> None:
    await make_charger(pool)
    live = LiveStateWriter(pool, "node-a", 1.0)
    for n, name in enumerate(["Preparing", "Charging", "Finishing"]):
        live.connector_status("LIVE-1", 1, status(name, n))
    live.connector_status("LIVE-1", 0, status("Faulted", 3, error_code="GroundFailure"))
    await live.flush()
    live.connector_status("LIVE-1", 1, status("Available", 4))
    await live.flush()
    assert await history(pool) == [
        (1, "Preparing", "NoError"), (1, "Charging", "NoError"), (1, "Finishing", "NoError"),
        (0, "Faulted", "GroundFailure"), (1, "Available", "NoError"),
    ]
    assert (await charge_points.get(pool, "LIVE-1"))["connectors"][0]["status"] == "Available"


async def test_a_removed_charger_does_not_block_the_batch_and_nul_is_stored_replaced(
    pool: asyncpg.Pool,
) -> None:
    await make_charger(pool)
    await make_charger(pool, "LIVE-2")
    live = LiveStateWriter(pool, "node-a", 1.0)
    live.connector_status("LIVE-2", 1, status("Available"))
    await pool.execute("DELETE FROM charge_points WHERE id = 'LIVE-2'")
    live.connector_status("LIVE-1", 1, status("Faulted", 1, info="relay\x00stuck",
                                              vendor_error_code="E\x0042"))
    await live.flush()
    rows = await status_history.list_page(pool, "LIVE-1", connector_id=None, before_id=None,
                                          limit=10)
    assert [(r.status, r.info, r.vendor_error_code) for r in rows] == [
        ("Faulted", "relay\N{REPLACEMENT CHARACTER}stuck", "E\N{REPLACEMENT CHARACTER}42")
    ]
    assert await history(pool, "LIVE-2") == []


async def test_unwritten_history_is_bounded(pool: asyncpg.Pool) -> None:
    await make_charger(pool)
    live = LiveStateWriter(pool, "node-a", 1.0, max_history=3)
    for n in range(5):
        live.connector_status("LIVE-1", 1, status(f"S{n}", n))
    assert live.history_dropped == 2
    await live.flush()
    assert [s for _, s, _ in await history(pool)] == ["S0", "S1", "S2"]


async def test_a_charger_removed_takes_its_history_and_old_rows_are_purged(
    pool: asyncpg.Pool,
) -> None:
    await make_charger(pool)
    await make_charger(pool, "LIVE-2")
    now = datetime.now(UTC)
    live = LiveStateWriter(pool, "node-a", 1.0, clock=lambda: now,
                           history_retention=timedelta(days=30))
    live.connector_status("LIVE-1", 1, ConnectorStatus("Old", "NoError", None, None,
                                                       now - timedelta(days=31)))
    live.connector_status("LIVE-1", 1, ConnectorStatus("Recent", "NoError", None, None,
                                                       now - timedelta(days=29)))
    live.connector_status("LIVE-2", 1, ConnectorStatus("Available", "NoError", None, None, now))
    await live.flush()
    assert await live.purge_history() == 1
    assert [s for _, s, _ in await history(pool)] == ["Recent"]
    await charge_points.delete(pool, "LIVE-2")
    assert await pool.fetchval(
        "SELECT count(*) FROM connector_status_history WHERE charge_point_id = 'LIVE-2'"
    ) == 0
