"""The command table between nodes, against a real PostgreSQL: a node that holds a charger but
never takes its command (it stalls, or died within its lease) costs the caller its timeout and
no more, and the command is withdrawn so it is never sent late."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import asyncpg

from csms.store import node_commands
from tests.conftest import ServerHandle


def pool_of(server: ServerHandle) -> asyncpg.Pool:
    assert server.pool is not None
    return server.pool


async def held_by_a_stalled_node(server: ServerHandle) -> str:
    cp_id = await server.register_charge_point()
    pool = pool_of(server)
    await pool.execute("INSERT INTO nodes (id, heartbeat_at) VALUES ('stalled', now())")
    await pool.execute(
        "UPDATE charge_points SET connected_node = 'stalled', connected_at = now() WHERE id = $1",
        cp_id,
    )
    return cp_id


async def test_a_command_the_holding_node_never_takes_times_out_and_is_withdrawn(
    server: ServerHandle,
) -> None:
    cp_id = await held_by_a_stalled_node(server)
    started = time.monotonic()
    status, body = await server.request(
        "POST", f"/api/v1/charge-points/{cp_id}/commands/ClearCache?timeout=1", json={}
    )
    waited = time.monotonic() - started
    assert status == 504 and body["error"]["code"] == "charge_point_timeout", body
    assert 1 <= waited < 5  # the timeout plus the relay's grace, not the call timeout (5 s)
    row = await pool_of(server).fetchrow(
        "SELECT state, outcome FROM node_commands WHERE charge_point_id = $1", cp_id
    )
    assert row is not None and (row["state"], row["outcome"]) == ("done", "timeout")
    # The node waking up later finds nothing to send.
    assert await node_commands.claim(pool_of(server), "stalled") == []


async def test_commands_are_claimed_once_and_in_order(server: ServerHandle) -> None:
    pool = pool_of(server)
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    ids = [
        await node_commands.send(
            pool, target_node="b", reply_node="a", charge_point_id=f"CP-{n}",
            action="ClearCache", payload={}, deadline=deadline,
        )
        for n in range(3)
    ]
    first = await node_commands.claim(pool, "b", limit=2)
    second = await node_commands.claim(pool, "b")
    assert [c.id for c in first] == ids[:2] and [c.id for c in second] == ids[2:]
    assert await node_commands.claim(pool, "b") == []
    assert await node_commands.claim(pool, "a") == []  # another node's commands are not its own
    await node_commands.finish(pool, first[0], node_commands.Outcome("result", {"status": "Accepted"}))
    assert await node_commands.outcome(pool, ids[0]) == node_commands.Outcome(
        "result", {"status": "Accepted"}
    )
    assert await node_commands.outcome(pool, ids[1]) is None  # taken, not answered yet
    assert not await node_commands.give_up(pool, ids[1])  # too late to withdraw
