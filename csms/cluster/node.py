"""This node's part in the cluster, assembled: the router callers use, the relay sending what
other nodes route here, the ownership watch, and the LISTEN connection that wakes them."""

from __future__ import annotations

import dataclasses

import asyncpg

from csms.cluster.listener import ClusterListener
from csms.cluster.ownership import OwnershipWatch
from csms.cluster.relay import CommandRelay
from csms.cluster.router import ClusterCommandRouter, LocalRouter
from csms.gateway.registry import Registry
from csms.store.node_commands import ANSWERS_CHANNEL, COMMANDS_CHANNEL
from csms.store.nodes import TAKEOVER_CHANNEL
from csms.workers.live_state import LiveStateWriter


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterNode:
    router: ClusterCommandRouter
    relay: CommandRelay
    ownership: OwnershipWatch
    listener: ClusterListener


def join_cluster(
    pool: asyncpg.Pool,
    *,
    node_id: str,
    local: LocalRouter,
    registry: Registry,
    live: LiveStateWriter,
    call_timeout: float,
) -> ClusterNode:
    """Wire this node's cluster parts together; their ``run`` methods are the workers."""
    router = ClusterCommandRouter(local, pool, node_id, call_timeout)
    relay = CommandRelay(pool, local, node_id)
    ownership = OwnershipWatch(pool, registry, live, node_id)
    listener = ClusterListener(pool)
    listener.on(COMMANDS_CHANNEL, relay.notified)
    listener.on(ANSWERS_CHANNEL, router.answered)
    listener.on(TAKEOVER_CHANNEL, ownership.taken_over)
    for hook in (relay.wake, router.resync, ownership.wake):
        listener.on_resync(hook)
    return ClusterNode(router, relay, ownership, listener)
