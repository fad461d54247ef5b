"""Keeps the local authorization list of every connected charger that manages one in step with
csms's id tags (OCPP 1.6 S 3.5), so a charger that loses its connection still knows the cards.

A charger is synced when it connects (GetLocalListVersion, then a Full or Differential
SendLocalList: :func:`csms.domain.local_lists.plan_sync`) and whenever an id tag changes after
that: every ``every`` seconds the worker looks for chargers on this node whose list is behind.
At sites that ask for it, each pass first puts the codes of bookings whose window starts within
``code_lead`` on their chargers' lists and takes ended ones off
(:func:`csms.store.local_lists.list_codes`), so a charger offline when a window opens still
accepts its code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from csms.clock import Clock
from csms.commands import CommandRouter
from csms.domain.local_lists import ListEntry, SyncPlan, entry_for, plan_sync
from csms.errors import ChargePointCallError, ChargePointNotConnected, ChargePointTimeout
from csms.store import local_lists as store

log = logging.getLogger(__name__)

#: Configuration keys read before a sync (S 9.1, 9.3).
_KEYS = ["SupportedFeatureProfiles", "LocalAuthListMaxLength", "SendLocalListMaxLength"]
#: Entries per SendLocalList when the charger does not say (SendLocalListMaxLength).
DEFAULT_PER_MESSAGE = 100


class LocalListSync:
    def __init__(
        self,
        pool: asyncpg.Pool,
        router: CommandRouter,
        clock: Clock,
        *,
        node_id: str,
        call_timeout: float,
        every: float = 30.0,
        settle: float = 5.0,
        code_lead: timedelta = timedelta(minutes=15),
    ) -> None:
        self._pool, self._router, self._clock = pool, router, clock
        self._node_id, self._timeout, self._every = node_id, call_timeout, every
        self._settle, self._code_lead = settle, code_lead
        self._connected: set[str] = set()
        self._wake = asyncio.Event()

    async def charger_connected(self, charge_point_id: str) -> None:
        """Sync this charger soon, whatever csms sent it before (it may have rebooted)."""
        self._connected.add(charge_point_id)
        self._wake.set()

    async def run(self) -> None:
        """Sync chargers that connected or fell behind, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._every)
            if self._wake.is_set():
                # A charger that just connected boots first (S 4.2); its list comes after.
                await asyncio.sleep(self._settle)
            self._wake.clear()
            fresh, self._connected = self._connected, set()
            await store.list_codes(self._pool, self._clock(), self._code_lead)
            for charge_point_id in await store.due(
                self._pool, self._node_id, self._clock(), sorted(fresh)
            ):
                await self.sync(charge_point_id)

    async def sync(self, charge_point_id: str) -> None:
        """Bring one charger's list up to date; what happened is recorded, never raised."""
        try:
            plan = await self._plan(charge_point_id)
            if plan is not None:
                await self._apply(charge_point_id, plan)
        except ChargePointNotConnected:
            return  # It left; it is synced when it is back.
        except (ChargePointTimeout, ChargePointCallError) as error:
            await self._failed(charge_point_id, f"{type(error).__name__}: {error}")

    async def _plan(self, charge_point_id: str) -> SyncPlan | None:
        config = await self._configuration(charge_point_id)
        # A comma list; some chargers put spaces after the commas (OCPP-NOTES).
        listed = config.get("SupportedFeatureProfiles", "").split(",")
        profiles = [p.strip().casefold() for p in listed if p.strip()]
        if "localauthlistmanagement" not in profiles:
            await store.remember_profiles(self._pool, charge_point_id, profiles)
            return None
        answer = await self._call(charge_point_id, "GetLocalListVersion", {})
        sent = await store.sent(self._pool, charge_point_id)
        async with self._pool.acquire() as connection, connection.transaction(
            isolation="repeatable_read", readonly=True
        ):  # One snapshot: the version, the whole list and the changes agree.
            current = await store.current_version(connection, charge_point_id)
            now = self._clock()
            tags = await store.all_tags(connection, charge_point_id)
            full = [entry_for(tag, now) for tag in tags]
            changes = await self._changes(
                connection, charge_point_id, sent.version if sent else 0, now
            )
        return plan_sync(
            charger_version=int(answer.get("listVersion", -1)),
            sent_version=sent.version if sent and sent.problem is None else None,
            current_version=current, full=full, changes=changes,
            max_per_message=_int(config.get("SendLocalListMaxLength")) or DEFAULT_PER_MESSAGE,
            max_length=_int(config.get("LocalAuthListMaxLength")),
        )

    @staticmethod
    async def _changes(
        connection: asyncpg.Connection, charge_point_id: str, version: int, now: datetime
    ) -> list[ListEntry]:
        found = await store.changes_since(connection, charge_point_id, version)
        return [entry_for(tag, now) for tag in found.changed] + [
            ListEntry(id_tag, None) for id_tag in found.removed
        ]

    async def _apply(self, charge_point_id: str, plan: SyncPlan) -> None:
        if plan.problem is not None:
            await self._failed(charge_point_id, plan.problem)
            return
        for message in plan.messages:
            answer = await self._call(charge_point_id, "SendLocalList", message.payload())
            if answer.get("status") != "Accepted":  # Failed, NotSupported, VersionMismatch
                await self._failed(charge_point_id, f"SendLocalList {answer.get('status')}")
                return
        entries = sum(len(m.entries) for m in plan.messages if m.update_type == "Full")
        sent = await store.sent(self._pool, charge_point_id)
        if sent is not None and not any(m.update_type == "Full" for m in plan.messages):
            entries = sent.entries
        await store.record(self._pool, charge_point_id, version=plan.version,
                           entries=entries, at=self._clock())
        if plan.messages:
            log.info("%s: local list at version %d (%d message(s))", charge_point_id,
                     plan.version, len(plan.messages))

    async def _failed(self, charge_point_id: str, problem: str) -> None:
        log.warning("%s: local list not synced: %s", charge_point_id, problem)
        await store.record(self._pool, charge_point_id, version=-1, entries=0,
                           at=self._clock(), problem=problem)

    async def _configuration(self, charge_point_id: str) -> dict[str, str]:
        answer = await self._call(charge_point_id, "GetConfiguration", {"key": _KEYS})
        return {
            str(item.get("key")): str(item.get("value") or "")
            for item in answer.get("configurationKey", [])
        }

    async def _call(
        self, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._router.call(charge_point_id, action, payload, self._timeout)


def _int(text: str | None) -> int | None:
    """A positive number from a configuration value, or None (absent, empty, not a number)."""
    try:
        value = int(text) if text else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None
