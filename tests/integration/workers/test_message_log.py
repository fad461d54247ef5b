"""The message log's writer against real PostgreSQL: batches, day partitions, retention by
dropping whole days, a bounded buffer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from csms.store import message_log
from csms.workers.message_log import MessageLog

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _writer(pool: asyncpg.Pool, at: datetime, **options: int) -> MessageLog:
    return MessageLog(
        pool, lambda: at, node_id="n1", retention=timedelta(days=7), flush_interval=0.01,
        **options,
    )


async def _partitions(pool: asyncpg.Pool) -> set[str]:
    rows = await pool.fetch(
        "SELECT inhrelid::regclass::text AS name FROM pg_inherits "
        "WHERE inhparent = 'ocpp_messages'::regclass"
    )
    return {row["name"] for row in rows}


async def _note_heartbeat(writer: MessageLog, cp_id: str, message_id: str) -> None:
    writer.note(cp_id, "in", "CALL", "Heartbeat", message_id, f'[2,"{message_id}","Heartbeat",{{}}]')
    await writer.flush()


async def test_days_older_than_the_retention_are_dropped_whole(pool: asyncpg.Pool) -> None:
    old_day = NOW - timedelta(days=9)
    old = _writer(pool, old_day)
    await old.maintain()
    await _note_heartbeat(old, "CP-1", "old")
    assert message_log.partition_name(old_day.date()) in await _partitions(pool)
    await _note_heartbeat(_writer(pool, NOW - timedelta(days=6)), "CP-1", "recent")

    await _writer(pool, NOW).maintain()

    partitions = await _partitions(pool)
    assert message_log.partition_name(old_day.date()) not in partitions
    assert {message_log.partition_name((NOW + timedelta(days=k)).date()) for k in range(3)} <= (
        partitions
    )
    kept = await pool.fetch("SELECT message_id FROM ocpp_messages")
    assert [row["message_id"] for row in kept] == ["recent"]


async def test_rows_of_a_day_without_partition_go_to_the_default_and_expire(
    pool: asyncpg.Pool,
) -> None:
    stray = _writer(pool, NOW - timedelta(days=30))  # a clock far off; no partition made
    await _note_heartbeat(stray, "CP-1", "stray")
    assert await pool.fetchval("SELECT count(*) FROM ocpp_messages_default") == 1
    await _writer(pool, NOW).maintain()
    assert await pool.fetchval("SELECT count(*) FROM ocpp_messages") == 0


async def test_nul_in_a_frame_is_kept_escaped(pool: asyncpg.Pool) -> None:
    writer = _writer(pool, NOW)
    await writer.maintain()
    writer.note("CP-1", "in", "INVALID", None, "", "bad\x00frame")
    await writer.flush()
    assert await pool.fetchval("SELECT frame FROM ocpp_messages") == "bad\\u0000frame"
    assert (writer.written, writer.dropped) == (1, 0)


async def test_buffer_is_bounded_while_writes_fail(pool: asyncpg.Pool) -> None:
    writer = _writer(pool, NOW, max_buffered=3)
    for k in range(5):
        writer.note("CP-1", "in", "CALL", "Heartbeat", f"m{k}", "[]")
    assert (writer.queued, writer.dropped) == (3, 2)
    await writer.flush()
    assert await pool.fetchval("SELECT count(*) FROM ocpp_messages") == 3
