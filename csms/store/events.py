"""What chargers report about themselves beyond status: firmware, diagnostics, DataTransfer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def record_firmware_status(
    pool: asyncpg.Pool, charge_point_id: str, status: str, at: datetime
) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "UPDATE charge_points SET firmware_status = $2, firmware_status_at = $3 WHERE id = $1",
            charge_point_id,
            status,
            at,
        )
        await _insert(connection, charge_point_id, "FirmwareStatusNotification", {"status": status})


async def record_diagnostics_status(
    pool: asyncpg.Pool, charge_point_id: str, status: str, at: datetime
) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            """UPDATE charge_points SET diagnostics_status = $2, diagnostics_status_at = $3
               WHERE id = $1""",
            charge_point_id,
            status,
            at,
        )
        await _insert(
            connection, charge_point_id, "DiagnosticsStatusNotification", {"status": status}
        )


async def record(
    pool: asyncpg.Pool, charge_point_id: str, kind: str, payload: dict[str, Any]
) -> None:
    await _insert(pool, charge_point_id, kind, payload)


async def _insert(
    executor: asyncpg.Pool | asyncpg.Connection,
    charge_point_id: str,
    kind: str,
    payload: dict[str, Any],
) -> None:
    await executor.execute(
        "INSERT INTO charge_point_events (charge_point_id, kind, payload) VALUES ($1, $2, $3)",
        charge_point_id,
        kind,
        payload,
    )


async def list_recent(pool: asyncpg.Pool, charge_point_id: str, limit: int) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            """SELECT id, kind, payload, received_at FROM charge_point_events
               WHERE charge_point_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2""",
            charge_point_id,
            limit,
        )
    )
