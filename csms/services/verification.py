"""Who may charge, with bookings: booking codes, drivers' cards, and everyone else.

The CSMS checks an idTag in Authorize (no connector known) and again in StartTransaction (S 5.2:
the charger may have used a stale cache or been offline). A booking code is good at its charger,
on its connector, from dispatch until its window ends. During a booking's window, its connector
is refused to anyone but the booking's code or its driver's cards, whatever the charger let
through. Wrong codes are counted per charger; too many lock codes (not cards) there for a while.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

import asyncpg

from csms.clock import Clock
from csms.domain.attempts import WrongCodeLimiter
from csms.domain.authorization import AuthorizationStatus, IdTagInfo, IdTagRecord, decide
from csms.domain.reservations import verify_code
from csms.store import id_tags
from csms.store import reservations as bookings

log = logging.getLogger(__name__)

REFUSED = IdTagInfo(AuthorizationStatus.INVALID)


@dataclasses.dataclass(frozen=True, slots=True)
class StartDecision:
    info: IdTagInfo
    #: The booking this transaction fulfils, if any.
    reservation_id: int | None


class IdTagVerifier:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, limiter: WrongCodeLimiter) -> None:
        self._pool = pool
        self._clock = clock
        self._limiter = limiter

    async def authorize(self, charge_point_id: str, id_tag: str) -> IdTagInfo:
        """``idTagInfo`` for Authorize.req at ``charge_point_id`` (S 4.1)."""
        now = self._clock()
        record = await id_tags.find(self._pool, id_tag)
        if record is not None:
            info = decide(record, now)
        else:
            info, _ = await self._code(self._pool, charge_point_id, None, id_tag, now)
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
        booking = await bookings.live_on_connector(connection, charge_point_id, connector_id, at)
        if record is None:
            info, reservation_id = await self._code(
                connection, charge_point_id, connector_id, id_tag, at
            )
            accepted = info.status is AuthorizationStatus.ACCEPTED
            return StartDecision(info, reservation_id if accepted else None)
        info = decide(record, self._clock(), has_other_transaction=has_other_transaction)
        if booking is None:
            return StartDecision(info, None)
        if _owns(record, booking):
            accepted = info.status is AuthorizationStatus.ACCEPTED
            return StartDecision(info, booking["id"] if accepted else None)
        log.warning("%s/%s is booked: %s refused", charge_point_id, connector_id, _masked(id_tag))
        return StartDecision(REFUSED, None)

    async def _code(
        self,
        executor: asyncpg.Pool | asyncpg.Connection,
        charge_point_id: str,
        connector_id: int | None,
        code: str,
        at: datetime,
    ) -> tuple[IdTagInfo, int | None]:
        """The answer for a booking code, and the booking it names (if any)."""
        now = self._clock()
        if self._limiter.locked(charge_point_id, now):
            log.warning("%s: code refused, too many wrong codes lately", charge_point_id)
            return REFUSED, None
        row = await bookings.find_by_code(executor, code)
        if row is None:
            self._limiter.record_failure(charge_point_id, now)
            return REFUSED, None
        info = verify_code(bookings.booked_code(row), charge_point_id, connector_id, at)
        if info.status is AuthorizationStatus.INVALID:
            self._limiter.record_failure(charge_point_id, now)
        return info, row["id"]


def _owns(record: IdTagRecord, booking: asyncpg.Record) -> bool:
    """A card belongs to the booking's driver: its group is the booking's parentIdTag."""
    parent = booking["parent_id_tag"]
    return (
        parent is not None
        and record.parent_id_tag is not None
        and (record.parent_id_tag.casefold() == parent.casefold())
    )


def _masked(id_tag: str) -> str:
    """Logs name idTags without giving away codes."""
    return id_tag[:2] + "…" if len(id_tag) > 2 else "…"
