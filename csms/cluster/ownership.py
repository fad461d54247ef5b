"""Which node holds each charger's socket, kept true from this node's side.

Of two connections of one charger the newer wins, on one node (the registry replaces the
session) and across nodes: the node that records a newer connection notifies the node it took
the charger from, and every node also compares its sockets with the record every few seconds
(a notification can be lost). A socket the record gives to a newer connection elsewhere is
closed; one the record lost (its node was released as dead during a stall, or the write is
still batched) is recorded again, so ``online`` holds exactly while a live node holds the socket.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from csms.gateway.registry import Registry
from csms.store import nodes
from csms.workers.live_state import LiveStateWriter
from csms.workers.supervisor import woken_or_after

log = logging.getLogger(__name__)


class OwnershipWatch:
    def __init__(
        self,
        pool: asyncpg.Pool,
        registry: Registry,
        live: LiveStateWriter,
        node_id: str,
        *,
        every: float = 5.0,
    ) -> None:
        self._pool, self._registry, self._live = pool, registry, live
        self._node_id, self._every = node_id, every
        self._wake = asyncio.Event()

    def taken_over(self, payload: str) -> None:
        """A ``TAKEOVER_CHANNEL`` notification: look now if it names this node."""
        node, _, _charge_point_id = payload.rpartition(" ")
        if node == self._node_id:
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Reconcile every ``every`` seconds, and when woken; until cancelled."""
        while True:
            await woken_or_after(self._wake, self._every)
            await self.reconcile()

    async def reconcile(self) -> None:
        held = list(self._registry)
        if not held:
            return
        closing = []
        for holder in await nodes.holders(self._pool, held, self._node_id):
            session = self._registry.get(holder.charge_point_id)
            if session is None or session.connected_at is None:
                continue
            newer_elsewhere = (
                holder.node is not None
                and holder.connected_at is not None
                and holder.connected_at >= session.connected_at
            )
            if newer_elsewhere:
                log.info("%s: a newer connection is held by %s; closing this one",
                         holder.charge_point_id, holder.node)
                closing.append(session.disconnect("replaced by a connection on another node"))
            else:
                self._live.connected(holder.charge_point_id, session.connected_at)
        # Closing waits for the charger's close frame: all at once, not one after another.
        await asyncio.gather(*closing, return_exceptions=True)
