"""Calls to chargers held by another node, as rows (schemas/migrations/0012_cluster.sql).

The caller's node inserts a command for the node holding the socket and notifies it; that node
claims pending commands (``FOR UPDATE SKIP LOCKED``), sends them, stores how each ended and
notifies the caller's node. A notification is only a wake-up: both sides poll too.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import asyncpg

#: Channels: commands for a node (payload: its id); answers for a node (``node id`` + space +
#: command id).
COMMANDS_CHANNEL = "csms_commands"
ANSWERS_CHANNEL = "csms_answers"


@dataclasses.dataclass(frozen=True, slots=True)
class NodeCommand:
    id: int
    reply_node: str
    charge_point_id: str
    action: str
    payload: dict[str, Any]
    deadline: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """How a command ended: ``result``, ``call_error``, ``not_connected`` or ``timeout``;
    ``answer`` the charger's payload, or the CALLERROR's code, description and details."""

    kind: str
    answer: Any = None


async def send(
    pool: asyncpg.Pool,
    *,
    target_node: str,
    reply_node: str,
    charge_point_id: str,
    action: str,
    payload: dict[str, Any],
    deadline: datetime,
) -> int:
    """Store a command for ``target_node`` and wake it; the command's id. One statement (one
    round trip): the notification goes out when it commits."""
    command_id: int = await pool.fetchval(
        """WITH inserted AS (
               INSERT INTO node_commands
                   (target_node, reply_node, charge_point_id, action, payload, deadline)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id)
           SELECT id FROM inserted, LATERAL (SELECT pg_notify($7, $1)) AS woken""",
        target_node, reply_node, charge_point_id, action, payload, deadline, COMMANDS_CHANNEL,
    )
    return command_id


async def claim(pool: asyncpg.Pool, node_id: str, limit: int = 200) -> list[NodeCommand]:
    """Take this node's pending commands (none that another claimer holds)."""
    rows = await pool.fetch(
        """UPDATE node_commands SET state = 'taken'
           WHERE id IN (SELECT id FROM node_commands
                        WHERE target_node = $1 AND state = 'pending'
                        ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $2)
           RETURNING id, reply_node, charge_point_id, action, payload, deadline""",
        node_id,
        limit,
    )
    return [
        NodeCommand(row["id"], row["reply_node"], row["charge_point_id"], row["action"],
                    row["payload"], row["deadline"])
        for row in rows
    ]


async def finish(pool: asyncpg.Pool, command: NodeCommand, outcome: Outcome) -> None:
    """Store how a command ended and wake its caller's node (one statement)."""
    await pool.execute(
        """WITH done AS (
               UPDATE node_commands SET state = 'done', outcome = $2, answer = $3, done_at = now()
               WHERE id = $1 RETURNING id)
           SELECT pg_notify($4, $5) FROM done""",
        command.id, outcome.kind, outcome.answer, ANSWERS_CHANNEL,
        f"{command.reply_node} {command.id}",
    )


async def outcome(pool: asyncpg.Pool, command_id: int) -> Outcome | None:
    """How the command ended; None while it is pending or being sent."""
    row = await pool.fetchrow(
        "SELECT outcome, answer FROM node_commands WHERE id = $1 AND state = 'done'", command_id
    )
    if row is None:
        return None
    return Outcome(row["outcome"], row["answer"])


async def give_up(pool: asyncpg.Pool, command_id: int) -> bool:
    """Withdraw a command not taken yet; False when the target node has it already."""
    withdrawn = await pool.fetchval(
        """UPDATE node_commands SET state = 'done', outcome = 'timeout', done_at = now()
           WHERE id = $1 AND state = 'pending' RETURNING id""",
        command_id,
    )
    return withdrawn is not None


async def purge(pool: asyncpg.Pool, older_than_seconds: float) -> None:
    """Forget commands that ended long ago, and those of nodes that never came to take them."""
    await pool.execute(
        """DELETE FROM node_commands
           WHERE (state = 'done' AND done_at < now() - make_interval(secs => $1))
              OR deadline < now() - make_interval(secs => $1 * 10)""",
        older_than_seconds,
    )
