"""The notification outbox in PostgreSQL: what the booking writers add to their statement, the
reminders, the fan-out to channels and the delivery bookkeeping.

**Which change is which event** — :data:`EVENT_TYPE`, the one place that decides, a SQL
``CASE`` over the booking as it was (``p``, the statement's snapshot) and as it became (``r``):

=====================================================  ===============
booking inserted (:func:`csms.booking.store.insert`)    ``booked``
``reminder_minutes`` before its window (worker)         ``reminder``
becomes ``active`` from any other status                ``reserved``
stays/becomes ``booked`` on another connector/window    ``moved``
becomes ``failed``                                      ``failed``
becomes ``expired`` (never charged: a no-show)          ``no_show``
becomes ``cancelled``                                   ``cancelled``
becomes ``completed``, or settled again to another      ``completed``
cost or energy
anything else (charging, a retry's new reason, the     no event
CSMS taking over an active booking)
=====================================================  ===============

The payload never carries the booking's code (webhooks and operators see it): ``status``,
``reason``, ``charge_point_id``, ``connector_id``, ``site_id``, ``start``, ``end``; a ``moved``
event adds ``from`` (where and when it was), a ``completed`` one ``currency``, ``cost``,
``energy_kwh`` and ``cost_breakdown`` (so do ``no_show`` and ``cancelled`` when the booking's
terms charged a fee for it).

Events of one booking are ordered by id: every writer holds the booking's row lock while it
inserts (the UPDATE itself, or ``FOR UPDATE`` for reminders), so ids follow commit order.
"As it was" is the statement's snapshot: a writer that did not lock the booking first and lost
a race with another may compare with the state before that other change (then a
``reserved`` or ``completed`` may be told twice, and a move straight back not at all). Every
writer that moves a booking or settles it again locks it first.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import asyncpg

#: Woken (by a trigger, at commit) whenever events are added.
WAKE_CHANNEL = "csms_notifications"


def _utc(expression: str) -> str:
    """SQL writing a timestamptz as the API does: UTC, milliseconds, ``Z``."""
    return f"""to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


#: The event type of a change, from ``r`` (the booking after) and ``p`` (before).
EVENT_TYPE = """CASE
    WHEN r.status = 'active' AND p.status <> 'active' THEN 'reserved'
    WHEN r.status = 'booked' AND (r.charge_point_id, r.connector_id, r.during)
         IS DISTINCT FROM (p.charge_point_id, p.connector_id, p.during) THEN 'moved'
    WHEN r.status = 'failed' THEN 'failed'
    WHEN r.status = 'expired' THEN 'no_show'
    WHEN r.status = 'cancelled' THEN 'cancelled'
    WHEN r.status = 'completed' AND (p.status <> 'completed'
         OR (r.cost, r.energy_kwh) IS DISTINCT FROM (p.cost, p.energy_kwh)) THEN 'completed'
END"""

#: The payload of event ``e``: a booking row with ``type`` and ``from_*`` columns beside it.
PAYLOAD = f"""jsonb_build_object(
        'status', e.status, 'reason', e.status_reason, 'charge_point_id', e.charge_point_id,
        'connector_id', e.connector_id, 'site_id', e.site_id,
        'start', {_utc("lower(e.during)")}, 'end', {_utc("upper(e.during)")})
    || CASE WHEN e.type = 'moved' THEN jsonb_build_object('from', jsonb_build_object(
            'charge_point_id', e.from_charge_point_id, 'connector_id', e.from_connector_id,
            'start', {_utc("lower(e.from_during)")}, 'end', {_utc("upper(e.from_during)")}))
        ELSE '{{}}'::jsonb END
    || CASE WHEN e.type = 'completed'
                 OR (e.type IN ('no_show', 'cancelled') AND e.cost IS NOT NULL)
        THEN jsonb_build_object(
            'currency', e.price->>'currency', 'cost', e.cost::text,
            'energy_kwh', e.energy_kwh::text, 'cost_breakdown', e.cost_breakdown)
        ELSE '{{}}'::jsonb END"""

_NOT_MOVED = "NULL::text AS from_charge_point_id, NULL::integer AS from_connector_id, " \
    "NULL::tstzrange AS from_during"


def outbox_cte(rows: str, at: str, prior: str | None = None) -> str:
    """A CTE (``outboxed AS (…)``) that writes the event of each booking row in CTE ``rows``
    at time ``at`` (a SQL expression): ``booked`` without ``prior``, else :data:`EVENT_TYPE`
    of the change from the same booking in CTE ``prior`` (rows without an event write none)."""
    if prior is None:
        source = f"SELECT r.*, 'booked'::text AS type, {_NOT_MOVED} FROM {rows} r"
    else:
        source = f"""SELECT r.*, {EVENT_TYPE} AS type, p.charge_point_id AS from_charge_point_id,
                            p.connector_id AS from_connector_id, p.during AS from_during
                     FROM {rows} r JOIN {prior} p ON p.id = r.id"""
    return f"""outboxed AS (
        INSERT INTO notifications (reservation_id, user_id, type, payload, created_at)
        SELECT e.id, e.user_id, e.type, {PAYLOAD}, {at}
        FROM ({source}) e WHERE e.type IS NOT NULL)"""


async def create_reminders(
    pool: asyncpg.Pool, now: datetime, lead: timedelta, limit: int = 500
) -> int:
    """Write a ``reminder`` for every live booking whose window opens within ``lead`` and that
    was booked before that (a booking made at the last minute needs none); once per booking
    and window start, whichever nodes run this at once. Returns how many were written."""
    rows = await pool.fetch(
        f"""INSERT INTO notifications (reservation_id, user_id, type, payload, created_at)
            SELECT e.id, e.user_id, e.type, {PAYLOAD}, $1
            FROM (SELECT r.*, 'reminder'::text AS type, {_NOT_MOVED}
                  FROM reservations r
                  WHERE r.status IN ('booked', 'active')
                    AND lower(r.during) > $1 AND lower(r.during) <= $1 + $2::interval
                    AND r.created_at < lower(r.during) - $2::interval
                    AND NOT EXISTS (
                        SELECT 1 FROM notifications n
                        WHERE n.reservation_id = r.id AND n.type = 'reminder'
                          AND n.payload->>'start' = {_utc("lower(r.during)")})
                  ORDER BY lower(r.during) LIMIT $3
                  FOR UPDATE OF r SKIP LOCKED) e
            ON CONFLICT (reservation_id, (payload->>'start')) WHERE type = 'reminder' DO NOTHING
            RETURNING id""",
        now,
        lead,
        limit,
    )
    return len(rows)


async def fan_out(pool: asyncpg.Pool, now: datetime, *, email: bool, limit: int = 200) -> int:
    """Give events not fanned out yet one delivery per active webhook that subscribes to
    their type, and one to the driver's email when ``email``; returns how many events."""
    count: int = await pool.fetchval(
        """WITH batch AS (
               SELECT n.id, n.reservation_id, n.type FROM notifications n
               WHERE n.fanned_out_at IS NULL ORDER BY n.id LIMIT $2 FOR UPDATE SKIP LOCKED),
           marked AS (
               UPDATE notifications n SET fanned_out_at = $1 FROM batch b WHERE n.id = b.id),
           hooks AS (
               INSERT INTO notification_deliveries (notification_id, reservation_id,
                                                    webhook_id, next_attempt_at)
               SELECT b.id, b.reservation_id, w.id, $1
               FROM batch b JOIN webhooks w ON w.active AND b.type = ANY(w.events)
               ON CONFLICT DO NOTHING),
           mails AS (
               INSERT INTO notification_deliveries (notification_id, reservation_id,
                                                    webhook_id, next_attempt_at)
               SELECT b.id, b.reservation_id, NULL, $1 FROM batch b WHERE $3::boolean
               ON CONFLICT DO NOTHING)
           SELECT count(*) FROM batch""",
        now,
        limit,
        email,
    )
    return count


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one channel: a webhook (``url``, ``secret``) or an email
    (``webhook_id`` None: to ``email``, with the booking's ``code`` for its owner)."""

    id: int
    attempts: int
    webhook_id: int | None
    url: str | None
    secret: str | None
    email: str | None
    code: str
    notification_id: int
    reservation_id: int
    type: str
    payload: dict[str, Any]
    created_at: datetime


async def claim_due(
    pool: asyncpg.Pool, now: datetime, lease_until: datetime, limit: int
) -> list[Delivery]:
    """Claim deliveries that are due, counting an attempt for each: per booking and channel
    only the oldest pending one, and only once every older event of the booking was fanned
    out (so a later event never overtakes an earlier one). Safe with many nodes: ``SKIP
    LOCKED`` and a lease; a node that dies lets its lease run out and another sends it."""
    rows = await pool.fetch(
        """WITH due AS (
               SELECT d.id FROM notification_deliveries d
               WHERE d.state = 'pending' AND d.next_attempt_at <= $1
                 AND (d.claimed_until IS NULL OR d.claimed_until <= $1)
                 AND NOT EXISTS (
                     SELECT 1 FROM notification_deliveries o
                     WHERE o.reservation_id = d.reservation_id AND o.state = 'pending'
                       AND o.notification_id < d.notification_id
                       AND o.webhook_id IS NOT DISTINCT FROM d.webhook_id)
                 AND NOT EXISTS (
                     SELECT 1 FROM notifications o
                     WHERE o.reservation_id = d.reservation_id AND o.id < d.notification_id
                       AND o.fanned_out_at IS NULL)
               ORDER BY d.next_attempt_at, d.id LIMIT $3
               FOR UPDATE OF d SKIP LOCKED)
           UPDATE notification_deliveries d SET claimed_until = $2, attempts = d.attempts + 1
           FROM due, notifications n, reservations r
           WHERE d.id = due.id AND n.id = d.notification_id AND r.id = n.reservation_id
           RETURNING d.id, d.attempts, d.webhook_id,
                     (SELECT url FROM webhooks w WHERE w.id = d.webhook_id) AS url,
                     (SELECT secret FROM webhooks w WHERE w.id = d.webhook_id) AS secret,
                     (SELECT email FROM users u WHERE u.id = n.user_id) AS email,
                     r.code, n.id AS notification_id, n.reservation_id, n.type,
                     n.payload, n.created_at""",
        now,
        lease_until,
        limit,
    )
    return [Delivery(**dict(row)) for row in rows]


async def delivered(pool: asyncpg.Pool, delivery_id: int, now: datetime) -> None:
    await pool.execute(
        """UPDATE notification_deliveries
           SET state = 'delivered', delivered_at = $2, claimed_until = NULL, last_error = NULL
           WHERE id = $1 AND state = 'pending'""",
        delivery_id,
        now,
    )


async def delivered_many(pool: asyncpg.Pool, delivery_ids: list[int], now: datetime) -> None:
    """:func:`delivered` for many at once."""
    await pool.execute(
        """UPDATE notification_deliveries
           SET state = 'delivered', delivered_at = $2, claimed_until = NULL, last_error = NULL
           WHERE id = ANY($1::bigint[]) AND state = 'pending'""",
        delivery_ids,
        now,
    )


async def failed(
    pool: asyncpg.Pool, delivery_id: int, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """A failed attempt: tried again at ``retry_at``, or dead-lettered when it is None."""
    await pool.execute(
        """UPDATE notification_deliveries
           SET state = CASE WHEN $3::timestamptz IS NULL THEN 'dead' ELSE 'pending' END,
               dead_at = CASE WHEN $3::timestamptz IS NULL THEN $4::timestamptz END,
               next_attempt_at = COALESCE($3, next_attempt_at),
               last_error = left($2, 500), claimed_until = NULL
           WHERE id = $1 AND state = 'pending'""",
        delivery_id,
        error,
        retry_at,
        now,
    )


async def release(pool: asyncpg.Pool, delivery_ids: list[int]) -> None:
    """Give back claims of attempts that were cut short (the node is stopping): they are due
    again at once, on any node, and the cut attempt does not count."""
    await pool.execute(
        """UPDATE notification_deliveries
           SET claimed_until = NULL, attempts = greatest(attempts - 1, 0)
           WHERE id = ANY($1::bigint[]) AND state = 'pending'""",
        delivery_ids,
    )


async def next_due(pool: asyncpg.Pool, now: datetime) -> datetime | None:
    """When the next retry is due (a failed attempt waiting for its time). Deliveries due
    already but held behind an earlier event of their booking are not counted: they become
    claimable when that one is done (whose node wakes up then; other nodes poll)."""
    due: datetime | None = await pool.fetchval(
        """SELECT min(next_attempt_at) FROM notification_deliveries
           WHERE state = 'pending' AND next_attempt_at > $1 AND claimed_until IS NULL""",
        now,
    )
    return due
