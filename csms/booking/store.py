"""Bookings in PostgreSQL: the exclusion constraint does the deciding; these queries ask, and
:func:`transition` is the one writer of a booking's status.

Booking locks the connector's row first (``FOR UPDATE``): simultaneous attempts on one slot then
queue up and each meets the constraint in turn, instead of deadlocking inside the constraint
check (which PostgreSQL untangles only one ``deadlock_timeout`` at a time). Live statuses are
written into the SQL as literals (not parameters), so every plan can use the partial indexes
whose predicate they match.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg import Range

from csms.booking.records import BookableConnector, HistoryEntry, Reservation
from csms.booking.states import InvalidTransition, ReservationStatus, allowed_from
from csms.errors import Conflict
from csms.store import id_tags, notifications

WAKE_CHANNEL = "csms_reservations"


class SlotTaken(Conflict):
    """Someone else holds an overlapping booking of this connector."""

    code = "slot_taken"


class CodeCollision(Exception):
    """The drawn code is already used at this site, or is a card: draw another."""


#: The columns of a :class:`BookableConnector` (``bookable_connector`` reads them).
BOOKABLE_COLUMNS = """c.charge_point_id, c.connector_id, c.connector_type, c.max_power_kw,
       s.id AS site_id, s.name AS site_name, s.timezone, s.terms AS site_terms,
       t.currency, t.reservation_fee_per_hour, t.session_fee, t.periods"""
#: Which connectors can be booked at all, whatever the window: the one statement of that rule
#: (booking locks through it, the search in ``csms.booking.search`` adds its conditions to it).
BOOKABLE_FROM = """
FROM connectors c
JOIN charge_points cp ON cp.id = c.charge_point_id
JOIN sites s ON s.id = cp.site_id
JOIN tariffs t ON t.site_id = s.id
WHERE cp.registration_status = 'accepted' AND c.connector_type IS NOT NULL
  AND NOT c.out_of_service
"""
_BOOKABLE = "SELECT " + BOOKABLE_COLUMNS + BOOKABLE_FROM

COLUMNS = """r.id, r.user_id, r.site_id, r.charge_point_id, r.connector_id,
              lower(r.during) AS start, upper(r.during) AS "end", r.code, r.status,
              r.status_reason, r.price, r.tariff, r.timezone, r.parent_id_tag,
              r.idempotency_key, r.dispatched_at, r.on_charger, r.dispatch_attempts,
              r.redispatches, r.transaction_id, r.energy_kwh, r.cost, r.cost_breakdown,
              r.created_at, r.terms"""


def bookable_connector(row: asyncpg.Record) -> BookableConnector:
    return BookableConnector(
        row["charge_point_id"],
        row["connector_id"],
        row["connector_type"],
        row["max_power_kw"],
        row["site_id"],
        row["site_name"],
        row["timezone"],
        row["site_terms"],
        row,
    )


def reservation(row: asyncpg.Record) -> Reservation:
    values = dict(row)
    values["status"] = ReservationStatus(values["status"])
    return Reservation(**values)


def _maybe(row: asyncpg.Record | None) -> Reservation | None:
    return None if row is None else reservation(row)


async def lock_connector(
    connection: asyncpg.Connection, charge_point_id: str, connector_id: int
) -> BookableConnector | None:
    """The connector, if bookable, locked until the transaction ends."""
    row = await connection.fetchrow(
        _BOOKABLE + " AND c.charge_point_id = $1 AND c.connector_id = $2 FOR UPDATE OF c",
        charge_point_id,
        connector_id,
    )
    return None if row is None else bookable_connector(row)


@dataclasses.dataclass(frozen=True, slots=True)
class NewBooking:
    user_id: int
    site_id: int
    charge_point_id: str
    connector_id: int
    start: datetime
    end: datetime
    code: str
    price: dict[str, Any]
    tariff: dict[str, Any]
    timezone: str
    parent_id_tag: str | None
    idempotency_key: str | None
    next_action_at: datetime
    #: The site's terms as booked under (every term) and the range they make it hold.
    terms: dict[str, Any]
    held: tuple[datetime, datetime]


async def insert(connection: asyncpg.Connection, new: NewBooking, now: datetime) -> int:
    """Store a booking with its first history row and its ``booked`` notification (one
    statement); :class:`SlotTaken` or
    :class:`CodeCollision` when the database (or a card with the same name) says no."""
    await id_tags.lock_name(connection, new.code)  # Held until commit: no card can take it.
    if await id_tags.find(connection, new.code) is not None:
        raise CodeCollision
    try:
        async with connection.transaction():  # A savepoint: a refusal leaves the caller's intact.
            reservation_id: int = await connection.fetchval(
                """WITH booked AS (
                       INSERT INTO reservations (user_id, site_id, charge_point_id, connector_id,
                           during, code, status, status_reason, price, tariff, timezone,
                           parent_id_tag, idempotency_key, next_action_at, created_at, updated_at,
                           terms, held)
                       VALUES ($1, $2, $3, $4, $5, $6, 'booked', 'booked', $7, $8, $9, $10, $11,
                               $12, $13, $13, $14, $15)
                       RETURNING *),
                   logged AS (
                       INSERT INTO reservation_history (reservation_id, at, status, reason,
                                                        charge_point_id, connector_id)
                       SELECT id, $13, status, status_reason, charge_point_id, connector_id
                       FROM booked),
                   """ + notifications.outbox_cte("booked", "$13") + """
                   SELECT id FROM booked""",
                new.user_id,
                new.site_id,
                new.charge_point_id,
                new.connector_id,
                Range(new.start, new.end, lower_inc=True, upper_inc=False),
                new.code,
                new.price,
                new.tariff,
                new.timezone,
                new.parent_id_tag,
                new.idempotency_key,
                new.next_action_at,
                now,
                new.terms,
                Range(*new.held, lower_inc=True, upper_inc=False),
            )
    except asyncpg.ExclusionViolationError:
        raise SlotTaken("this connector is already booked for part of that window") from None
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == "reservations_live_code":
            raise CodeCollision from None
        raise
    return reservation_id


#: Columns a transition may change besides the status (named here, never taken from input).
_CHANGEABLE = frozenset(
    {
        "charge_point_id",
        "connector_id",
        "dispatched_at",
        "on_charger",
        "dispatch_attempts",
        "redispatches",
        "transaction_id",
        "energy_kwh",
        "cost",
        "cost_breakdown",
        "next_action_at",
        "claimed_until",
        # A move or change: another window (and what it holds), priced again by the booking's
        # own tariff.
        "during",
        "held",
        "price",
    }
)


async def transition(
    connection: asyncpg.Connection,
    reservation_id: int,
    target: ReservationStatus,
    reason: str,
    now: datetime,
    *,
    expect: Iterable[ReservationStatus] | None = None,
    **changes: Any,
) -> Reservation:
    """Move a booking to ``target`` — the one way any status changes.

    One guarded ``UPDATE … WHERE status = ANY(allowed_from)`` that also writes the history row
    and the notification the change is (:data:`csms.store.notifications.EVENT_TYPE`): same
    statement, so never one without the others. ``expect`` narrows the states it may
    come from. Raises :class:`InvalidTransition` when the booking was not in an allowed state,
    :class:`SlotTaken` when a move meets another booking.
    """
    if not changes.keys() <= _CHANGEABLE:
        raise TypeError(f"a transition cannot change {sorted(changes.keys() - _CHANGEABLE)}")
    allowed = allowed_from(target)
    if expect is not None:
        allowed &= frozenset(expect)
    assignments = "".join(f", {name} = ${n}" for n, name in enumerate(changes, start=6))
    # ``prior`` is the booking as this statement's snapshot saw it: what the event compares.
    sql = f"""WITH prior AS (SELECT * FROM reservations WHERE id = $1),
              changed AS (
                  UPDATE reservations SET status = $2, status_reason = $3, updated_at = $4
                                          {assignments}
                  WHERE id = $1 AND status = ANY($5::text[]) RETURNING *),
              logged AS (
                  INSERT INTO reservation_history (reservation_id, at, status, reason,
                                                   charge_point_id, connector_id)
                  SELECT id, $4, status, status_reason, charge_point_id, connector_id
                  FROM changed),
              {notifications.outbox_cte("changed", "$4", prior="prior")}
              SELECT {COLUMNS} FROM changed r"""
    args = (reservation_id, str(target), reason, now, sorted(allowed), *changes.values())
    try:
        if "connector_id" in changes:  # A move may meet another booking: keep the caller's tx.
            async with connection.transaction():
                row = await connection.fetchrow(sql, *args)
        else:
            row = await connection.fetchrow(sql, *args)
    except asyncpg.ExclusionViolationError:
        raise SlotTaken("that connector is already booked for part of the window") from None
    if row is None:
        current = await connection.fetchval(
            "SELECT status FROM reservations WHERE id = $1", reservation_id
        )
        raise InvalidTransition(reservation_id, current, target)
    return reservation(row)


async def get(
    executor: asyncpg.Pool | asyncpg.Connection, reservation_id: int, *, lock: bool = False
) -> Reservation | None:
    return _maybe(
        await executor.fetchrow(
            f"SELECT {COLUMNS} FROM reservations r WHERE r.id = $1"
            + (" FOR UPDATE" if lock else ""),
            reservation_id,
        )
    )


async def being_dispatched(
    connection: asyncpg.Connection, reservation_id: int, now: datetime
) -> bool:
    """Whether a scheduler holds the booking right now (it may be asking its charger)."""
    return bool(
        await connection.fetchval(
            "SELECT claimed_until > $2 FROM reservations WHERE id = $1", reservation_id, now
        )
    )


async def by_idempotency_key(
    connection: asyncpg.Connection, user_id: int, key: str
) -> Reservation | None:
    return _maybe(
        await connection.fetchrow(
            f"""SELECT {COLUMNS} FROM reservations r
                WHERE r.user_id = $1 AND r.idempotency_key = $2""",
            user_id,
            key,
        )
    )


async def history(
    executor: asyncpg.Pool | asyncpg.Connection, reservation_id: int
) -> list[HistoryEntry]:
    """Oldest first; the first entry is where the booking was made."""
    rows = await executor.fetch(
        """SELECT at, status, reason, charge_point_id, connector_id FROM reservation_history
           WHERE reservation_id = $1 ORDER BY id""",
        reservation_id,
    )
    return [
        HistoryEntry(
            r["at"], ReservationStatus(r["status"]), r["reason"], r["charge_point_id"],
            r["connector_id"],
        )
        for r in rows
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class ListFilter:
    """Which bookings a list shows: one user's (None: everyone's), at one charger, and those
    whose window overlaps [overlaps_from, overlaps_to)."""

    user_id: int | None = None
    charge_point_id: str | None = None
    overlaps_from: datetime | None = None
    overlaps_to: datetime | None = None


async def list_page(
    pool: asyncpg.Pool, where: ListFilter, *, before: int | None, limit: int
) -> list[Reservation]:
    """Newest first."""
    rows = await pool.fetch(
        f"""SELECT {COLUMNS} FROM reservations r
            WHERE ($1::bigint IS NULL OR r.user_id = $1) AND ($2::integer IS NULL OR r.id < $2)
              AND ($4::text IS NULL OR r.charge_point_id = $4)
              AND r.during && tstzrange($5, $6)
            ORDER BY r.id DESC LIMIT $3""",
        where.user_id,
        before,
        limit,
        where.charge_point_id,
        where.overlaps_from,
        where.overlaps_to,
    )
    return [reservation(row) for row in rows]


async def find_by_code(
    executor: asyncpg.Pool | asyncpg.Connection, charge_point_id: str, code: str
) -> Reservation | None:
    """The booking a code typed at this charger names: the live one at the charger's site,
    else the most recent one there (codes are unique per site among live bookings)."""
    return _maybe(
        await executor.fetchrow(
            f"""SELECT {COLUMNS} FROM reservations r
                WHERE r.site_id = (SELECT site_id FROM charge_points WHERE id = $1)
                  AND lower(r.code) = lower($2)
                ORDER BY (r.status IN ('booked', 'active', 'charging')) DESC, r.id DESC
                LIMIT 1""",
            charge_point_id,
            code,
        )
    )


async def live_on_connector(
    executor: asyncpg.Pool | asyncpg.Connection,
    charge_point_id: str,
    connector_id: int,
    at: datetime,
) -> Reservation | None:
    """The live booking whose window holds ``at`` on this connector, if any."""
    return _maybe(
        await executor.fetchrow(
            f"""SELECT {COLUMNS} FROM reservations r
                WHERE r.charge_point_id = $1 AND r.connector_id = $2
                  AND r.status IN ('booked', 'active', 'charging')
                  AND r.during @> $3::timestamptz""",
            charge_point_id,
            connector_id,
            at,
        )
    )


async def of_transaction(
    connection: asyncpg.Connection, transaction_id: int
) -> Reservation | None:
    """The booking a transaction fulfils (or fulfilled), locked."""
    return _maybe(
        await connection.fetchrow(
            f"""SELECT {COLUMNS} FROM reservations r
                WHERE r.id = (SELECT reservation_id FROM transactions WHERE id = $1)
                   OR r.transaction_id = $1
                ORDER BY r.id LIMIT 1 FOR UPDATE""",
            transaction_id,
        )
    )


async def notify(connection: asyncpg.Connection | asyncpg.Pool, payload: str) -> None:
    """Wake every node's scheduler (a new booking, a charger back, a connector in trouble)."""
    await connection.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, payload)


async def count_wrong_codes(
    executor: asyncpg.Pool | asyncpg.Connection, charge_point_id: str, since: datetime
) -> int:
    """Wrong codes typed at this charger since ``since`` (every node counts into one table)."""
    count: int = await executor.fetchval(
        "SELECT count(*) FROM wrong_codes WHERE charge_point_id = $1 AND at >= $2",
        charge_point_id,
        since,
    )
    return count


async def record_wrong_code(
    executor: asyncpg.Pool | asyncpg.Connection,
    charge_point_id: str,
    now: datetime,
    forget_before: datetime,
) -> None:
    """Count one wrong code; those that no longer count are dropped on the way."""
    await executor.execute(
        """WITH forgotten AS (DELETE FROM wrong_codes WHERE charge_point_id = $1 AND at < $3)
           INSERT INTO wrong_codes (charge_point_id, at) VALUES ($1, $2)""",
        charge_point_id,
        now,
        forget_before,
    )
