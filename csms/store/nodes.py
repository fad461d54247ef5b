"""csms nodes sharing this database: their leases, and which node holds each charger's socket.

A node renews its lease (``nodes.heartbeat_at``) every :data:`NODE_HEARTBEAT_SECONDS`; one that
has not for :data:`NODE_LEASE_SECONDS` is dead, and any live node releases its chargers
(``connected_node`` back to NULL). A charger is online exactly while a live node holds it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import asyncpg

from csms.store.charge_points import NODE_HEARTBEAT_SECONDS

#: A node silent this long is dead: its chargers are released.
NODE_LEASE_SECONDS = 3 * NODE_HEARTBEAT_SECONDS
#: The channel a node is told on that a newer connection of one of its chargers opened
#: elsewhere (payload: ``node id`` + space + ``charge point id``).
TAKEOVER_CHANNEL = "csms_takeover"


@dataclasses.dataclass(frozen=True, slots=True)
class Holder:
    """Who the database says holds a charger's socket (node None: no live node)."""

    charge_point_id: str
    node: str | None
    connected_at: datetime | None


async def beat(pool: asyncpg.Pool, node_id: str) -> None:
    """Renew this node's lease (a node released as dead comes back with it)."""
    await pool.execute(
        """INSERT INTO nodes (id, heartbeat_at) VALUES ($1, now())
           ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()""",
        node_id,
    )


async def release_own(pool: asyncpg.Pool, node_id: str) -> None:
    """Mark every connection recorded for this node closed (at its start: left by a previous
    run of it; at a clean shutdown: its own)."""
    await pool.execute(
        "UPDATE charge_points SET connected_node = NULL WHERE connected_node = $1", node_id
    )


async def leave(pool: asyncpg.Pool, node_id: str) -> None:
    """Leave the cluster: its connections closed, its lease given up."""
    await release_own(pool, node_id)
    await pool.execute("DELETE FROM nodes WHERE id = $1", node_id)


async def release_dead(pool: asyncpg.Pool) -> list[str]:
    """Release the chargers of nodes whose lease ran out, forget those nodes; their ids."""
    async with pool.acquire() as connection, connection.transaction():
        dead = [
            row["id"]
            for row in await connection.fetch(
                """DELETE FROM nodes WHERE heartbeat_at < now() - make_interval(secs => $1)
                   RETURNING id""",
                NODE_LEASE_SECONDS,
            )
        ]
        if dead:
            await connection.execute(
                "UPDATE charge_points SET connected_node = NULL WHERE connected_node = ANY($1)",
                dead,
            )
    return dead


async def live_holder(pool: asyncpg.Pool, charge_point_id: str) -> str | None:
    """The live node holding the charger's socket, or None."""
    node: str | None = await pool.fetchval(
        """SELECT cp.connected_node FROM charge_points cp JOIN nodes n ON n.id = cp.connected_node
           WHERE cp.id = $1 AND n.heartbeat_at > now() - make_interval(secs => $2)""",
        charge_point_id,
        NODE_LEASE_SECONDS,
    )
    return node


async def holders(pool: asyncpg.Pool, charge_point_ids: list[str], node_id: str) -> list[Holder]:
    """For chargers whose sockets this node holds: those the database records otherwise (held
    by another node, or by none)."""
    rows = await pool.fetch(
        """SELECT cp.id, cp.connected_node, cp.connected_at FROM charge_points cp
           WHERE cp.id = ANY($1::text[]) AND cp.connected_node IS DISTINCT FROM $2""",
        charge_point_ids,
        node_id,
    )
    return [Holder(row["id"], row["connected_node"], row["connected_at"]) for row in rows]


async def notify_takeover(
    connection: asyncpg.Connection, taken: list[tuple[str, str]]
) -> None:
    """Tell each (node, charger): a newer connection of the charger opened on another node.
    One statement however many (after a node dies, thousands of chargers move at once)."""
    if taken:
        await connection.execute(
            "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
            TAKEOVER_CHANNEL,
            [f"{node} {charge_point_id}" for node, charge_point_id in taken],
        )
