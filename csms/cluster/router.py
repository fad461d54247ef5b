"""A :class:`csms.commands.CommandRouter` for many nodes.

A call to a charger whose socket this node holds goes straight to it. One held by another live
node is stored in ``node_commands`` for that node, which sends it and stores the charger's
answer; the caller's node is notified and, since a notification can be lost, also polls. The
caller sees the same errors as on one node: not connected, no answer in time, the CALLERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg

from csms.commands import CommandRouter, Payload
from csms.errors import ChargePointCallError, ChargePointNotConnected, ChargePointTimeout
from csms.gateway.commands import check_command
from csms.store import node_commands, nodes
from csms.store.node_commands import Outcome

#: How long past its timeout a caller waits for the holding node to report the answer.
RELAY_GRACE = 2.0
#: How often a waiting caller looks at its command (in case its wake-up was lost).
POLL_EVERY = 0.5


class LocalRouter(CommandRouter, Protocol):
    def holds(self, charge_point_id: str) -> bool:
        """Whether this node holds the charger's socket."""
        ...


class ClusterCommandRouter:
    def __init__(
        self,
        local: LocalRouter,
        pool: asyncpg.Pool,
        node_id: str,
        default_timeout: float,
        *,
        poll_every: float = POLL_EVERY,
    ) -> None:
        self._local, self._pool, self._node_id = local, pool, node_id
        self._default_timeout, self._poll_every = default_timeout, poll_every
        self._waiting: dict[int, asyncio.Event] = {}
        #: Answers notified before their caller began to wait (a fast charger).
        self._early: set[int] = set()

    def answered(self, payload: str) -> None:
        """An ``ANSWERS_CHANNEL`` notification: wake the caller waiting for that command."""
        node, _, command_id = payload.rpartition(" ")
        if node != self._node_id or not command_id.isdigit():
            return
        event = self._waiting.get(int(command_id))
        if event is not None:
            event.set()
        else:
            if len(self._early) > 10_000:  # Callers that gave up: bounded all the same.
                self._early.clear()
            self._early.add(int(command_id))

    def resync(self) -> None:
        """Wake-ups may have been lost: every waiting caller looks now."""
        for event in self._waiting.values():
            event.set()

    async def call(
        self, charge_point_id: str, action: str, payload: Payload, timeout: float | None = None
    ) -> Payload:
        check_command(action, payload)
        timeout = self._default_timeout if timeout is None else timeout
        if self._local.holds(charge_point_id):
            return await self._local.call(charge_point_id, action, payload, timeout)
        holder = await nodes.live_holder(self._pool, charge_point_id)
        if holder is None or holder == self._node_id:
            raise ChargePointNotConnected(f"{charge_point_id} is not connected")
        command_id = await node_commands.send(
            self._pool, target_node=holder, reply_node=self._node_id,
            charge_point_id=charge_point_id, action=action, payload=payload,
            deadline=datetime.now(UTC) + timedelta(seconds=timeout),
        )
        return _answer(charge_point_id, action, await self._wait(command_id, timeout))

    async def _wait(self, command_id: int, timeout: float) -> Outcome:
        """The command's outcome: read when woken, or every ``poll_every`` seconds."""
        event = self._waiting[command_id] = asyncio.Event()
        if command_id in self._early:
            self._early.discard(command_id)
            event.set()
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + timeout + RELAY_GRACE
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    left = give_up_at - loop.time()
                    await asyncio.wait_for(event.wait(), max(0.0, min(left, self._poll_every)))
                event.clear()
                found = await node_commands.outcome(self._pool, command_id)
                if found is not None or give_up_at - loop.time() <= 0:
                    break
        finally:
            del self._waiting[command_id]
        if found is None:
            # Never taken: it is withdrawn. Taken: the node holding the charger did not say.
            await node_commands.give_up(self._pool, command_id)
            return Outcome("timeout")
        return found


def _answer(charge_point_id: str, action: str, outcome: Outcome) -> Payload:
    """The charger's answer, or the error it stands for."""
    if outcome.kind == "result" and isinstance(outcome.answer, dict):
        return outcome.answer
    if outcome.kind == "call_error" and isinstance(outcome.answer, dict):
        raise ChargePointCallError(
            str(outcome.answer.get("code")), str(outcome.answer.get("description")),
            outcome.answer.get("details"),
        )
    if outcome.kind == "not_connected":
        raise ChargePointNotConnected(f"{charge_point_id} is not connected")
    raise ChargePointTimeout(f"{charge_point_id} did not answer {action} in time")
