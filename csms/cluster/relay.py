"""The holding node's side of :mod:`csms.cluster.router`: it sends the calls other nodes
stored for chargers whose sockets it holds, and stores how each ended."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import asyncpg

from csms.commands import CommandRouter
from csms.errors import ChargePointCallError, ChargePointNotConnected, ChargePointTimeout
from csms.store import node_commands
from csms.store.node_commands import NodeCommand, Outcome
from csms.workers.supervisor import woken_or_after

log = logging.getLogger(__name__)

#: Commands that ended this long ago are forgotten (seconds).
KEEP_DONE = 300.0


class CommandRelay:
    def __init__(
        self, pool: asyncpg.Pool, local: CommandRouter, node_id: str, *, poll_every: float = 1.0
    ) -> None:
        self._pool, self._local, self._node_id = pool, local, node_id
        self._poll_every = poll_every
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()

    def notified(self, payload: str) -> None:
        """A ``COMMANDS_CHANNEL`` notification: look now if it is for this node."""
        if payload == self._node_id:
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Send what other nodes stored for this node, until cancelled."""
        purged = 0.0
        try:
            while True:
                await woken_or_after(self._wake, self._poll_every)
                for command in await node_commands.claim(self._pool, self._node_id):
                    task = asyncio.create_task(self._relay(command))
                    self._sending.add(task)
                    task.add_done_callback(self._sending.discard)
                if time.monotonic() - purged > KEEP_DONE:
                    await node_commands.purge(self._pool, KEEP_DONE)
                    purged = time.monotonic()
        finally:
            for task in self._sending:
                task.cancel()

    async def _relay(self, command: NodeCommand) -> None:
        outcome = await self._send(command)
        try:
            await node_commands.finish(self._pool, command, outcome)
        except Exception:  # The caller then times out, as for a silent charger.
            log.exception("%s: the answer to %s could not be stored", command.charge_point_id,
                          command.action)

    async def _send(self, command: NodeCommand) -> Outcome:
        left = (command.deadline - datetime.now(UTC)).total_seconds()
        if left <= 0:
            return Outcome("timeout")  # Too late: the caller has given up; it is not sent.
        try:
            answer = await self._local.call(
                command.charge_point_id, command.action, command.payload, left
            )
        except ChargePointNotConnected:
            return Outcome("not_connected")
        except ChargePointTimeout:
            return Outcome("timeout")
        except ChargePointCallError as error:
            return Outcome("call_error", {"code": error.error_code,
                                          "description": error.description,
                                          "details": error.details})
        except Exception:
            log.exception("%s: %s from another node failed", command.charge_point_id,
                          command.action)
            return Outcome("timeout")
        return Outcome("result", answer)
