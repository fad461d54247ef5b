"""Who may charge, with bookings: booking codes, drivers' cards, and everyone else.

The CSMS checks an idTag in Authorize (no connector known) and again in StartTransaction (S 5.2:
the charger may have used a stale cache or been offline). A card (an idTag the CSMS knows) is
decided by its record; anything else is a booking code, judged by
:func:`csms.booking.codes.verify_code`. During a booking's window its connector is refused to
anyone but the booking's code or its driver's cards, whatever the charger let through. Wrong
codes are counted per charger in PostgreSQL (every node shares the count, a restart keeps it);
too many lock codes (not cards) there for a while.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

import asyncpg

from csms.booking import store as bookings
from csms.booking.codes import UNKNOWN, CodeVerdict, WrongCodeRule, verify_code
from csms.booking.records import Reservation
from csms.clock import Clock
from csms.domain.authorization import (
    AuthorizationStatus,
    IdTagInfo,
    IdTagRecord,
    decide,
    normalize_id_tag,
)
from csms.store import id_tags

log = logging.getLogger(__name__)

REFUSED = IdTagInfo(AuthorizationStatus.INVALID)
_LOCKED = CodeVerdict(REFUSED, wrong=False)


@dataclasses.dataclass(frozen=True, slots=True)
class StartDecision:
    info: IdTagInfo
    #: The booking this transaction fulfils, if any.
    reservation_id: int | None


class IdTagVerifier:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, rule: WrongCodeRule) -> None:
        self._pool = pool
        self._clock = clock
        self._rule = rule

    async def authorize(self, charge_point_id: str, id_tag: str) -> IdTagInfo:
        """``idTagInfo`` for Authorize.req at ``charge_point_id`` (S 4.1)."""
        now = self._clock()
        record = await id_tags.find(self._pool, id_tag)
        if record is not None:
            info = decide(record, now)
        else:
            info = (await self._code(self._pool, charge_point_id, None, id_tag, now))[0].info
        log.info("authorize %s at %s: %s", _masked(id_tag), charge_point_id, info.status)
        return info

    async def start(
        self,
        connection: asyncpg.Connection,
        charge_point_id: str,
        connector_id: int,
        id_tag: str,
        at: datetime,
        has_other_transaction: bool,
    ) -> StartDecision:
        """Decide a StartTransaction and find the booking it fulfils (S 4.8, 5.2).

        ``at`` is when the charge started: a message queued while offline is judged by the
        moment it describes.
        """
        record = await id_tags.find(connection, id_tag)
        if record is None:
            verdict, booking = await self._code(
                connection, charge_point_id, connector_id, id_tag, at
            )
            return StartDecision(verdict.info, booking.id if verdict.accepted and booking else None)
        info = decide(record, self._clock(), has_other_transaction=has_other_transaction)
        booking = await bookings.live_on_connector(connection, charge_point_id, connector_id, at)
        if booking is None:
            return StartDecision(info, None)
        if _owns(record, booking):
            accepted = info.status is AuthorizationStatus.ACCEPTED
            return StartDecision(info, booking.id if accepted else None)
        log.warning("%s/%s is booked: %s refused", charge_point_id, connector_id, _masked(id_tag))
        return StartDecision(REFUSED, None)

    async def stop(
        self, connection: asyncpg.Connection, started_by: str | None, id_tag: str
    ) -> IdTagInfo:
        """``idTagInfo`` for the idTag that stopped a transaction (S 6.50): Accepted for the
        code or card that started it; another card by its record; anything else is refused."""
        record = await id_tags.find(connection, id_tag)
        if started_by is not None and normalize_id_tag(started_by) == normalize_id_tag(id_tag):
            parent = None if record is None else record.parent_id_tag
            return IdTagInfo(AuthorizationStatus.ACCEPTED, parent_id_tag=parent)
        return REFUSED if record is None else decide(record, self._clock())

    async def _code(
        self,
        executor: asyncpg.Pool | asyncpg.Connection,
        charge_point_id: str,
        connector_id: int | None,
        code: str,
        at: datetime,
    ) -> tuple[CodeVerdict, Reservation | None]:
        """The verdict for a booking code, and the booking it names (if any)."""
        now = self._clock()
        failures = await bookings.count_wrong_codes(
            executor, charge_point_id, self._rule.counted_since(now)
        )
        if self._rule.locked(failures):
            log.warning("%s: code refused, too many wrong codes lately", charge_point_id)
            return _LOCKED, None
        booking = await bookings.find_by_code(executor, charge_point_id, code)
        verdict = UNKNOWN if booking is None else verify_code(
            booking.booked_code, charge_point_id, connector_id, at
        )
        if verdict.wrong:
            await bookings.record_wrong_code(
                executor, charge_point_id, now, self._rule.counted_since(now)
            )
        return verdict, booking


def _owns(record: IdTagRecord, booking: Reservation) -> bool:
    """A card belongs to the booking's driver: its group is the booking's parentIdTag."""
    parent = booking.parent_id_tag
    return (
        parent is not None
        and record.parent_id_tag is not None
        and (record.parent_id_tag.casefold() == parent.casefold())
    )


def _masked(id_tag: str) -> str:
    """Logs name idTags without giving away codes."""
    return id_tag[:2] + "…" if len(id_tag) > 2 else "…"
