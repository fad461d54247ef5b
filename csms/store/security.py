"""What chargers of the OCPP 1.6 security extension report ("Improved security for OCPP 1.6-J"):
security events (A04), and the progress of log uploads (N01) and signed firmware updates (L01).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Literal

import asyncpg

#: Which notification a status report comes from (the ``kind`` column).
ReportKind = Literal["log", "signed_firmware"]
_REPORT_ACTIONS: dict[ReportKind, str] = {
    "log": "LogStatusNotification",
    "signed_firmware": "SignedFirmwareStatusNotification",
}


@dataclasses.dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One SecurityEventNotification.req, as received."""

    type: str
    tech_info: str | None
    #: The charger's timestamp of the event: its clock, which may be wrong.
    occurred_at: datetime
    received_at: datetime
    #: Listed as critical by the white paper's table of security events.
    critical: bool


@dataclasses.dataclass(frozen=True, slots=True)
class StoredSecurityEvent:
    id: int
    charge_point_id: str
    type: str
    tech_info: str | None
    occurred_at: datetime
    received_at: datetime
    critical: bool


@dataclasses.dataclass(frozen=True, slots=True)
class StatusReport:
    """The latest LogStatusNotification or SignedFirmwareStatusNotification of a charger."""

    kind: ReportKind
    status: str
    #: The requestId of the GetLog / SignedUpdateFirmware it reports on (optional in 1.6).
    request_id: int | None
    reported_at: datetime


async def record_security_event(
    pool: asyncpg.Pool, charge_point_id: str, event: SecurityEvent
) -> int:
    """Store ``event``; return its id."""
    event_id: int = await pool.fetchval(
        """INSERT INTO security_events
               (charge_point_id, type, tech_info, occurred_at, received_at, critical)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        charge_point_id,
        event.type,
        event.tech_info,
        event.occurred_at,
        event.received_at,
        event.critical,
    )
    return event_id


async def list_security_events(
    pool: asyncpg.Pool, charge_point_id: str, *, before: int | None, limit: int
) -> list[StoredSecurityEvent]:
    """A charger's security events, newest (last received) first, ``limit`` of them with an id
    below ``before``."""
    rows = await pool.fetch(
        """SELECT id, charge_point_id, type, tech_info, occurred_at, received_at, critical
           FROM security_events
           WHERE charge_point_id = $1 AND ($2::bigint IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3""",
        charge_point_id,
        before,
        limit,
    )
    return [StoredSecurityEvent(**dict(row)) for row in rows]


async def record_status_report(
    pool: asyncpg.Pool, charge_point_id: str, report: StatusReport, payload: dict[str, Any]
) -> None:
    """Keep ``report`` as the charger's latest of its kind, and the notification in the
    charger's event history (``payload`` as sent) — one statement, so both or neither."""
    await pool.execute(
        """WITH latest AS (
               INSERT INTO charge_point_status_reports
                   (charge_point_id, kind, status, request_id, reported_at)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (charge_point_id, kind) DO UPDATE
               SET status = EXCLUDED.status, request_id = EXCLUDED.request_id,
                   reported_at = EXCLUDED.reported_at)
           INSERT INTO charge_point_events (charge_point_id, kind, payload)
           VALUES ($1, $6, $7)""",
        charge_point_id,
        report.kind,
        report.status,
        report.request_id,
        report.reported_at,
        _REPORT_ACTIONS[report.kind],
        payload,
    )


async def latest_status_report(
    pool: asyncpg.Pool, charge_point_id: str, kind: ReportKind
) -> StatusReport | None:
    row = await pool.fetchrow(
        """SELECT kind, status, request_id, reported_at FROM charge_point_status_reports
           WHERE charge_point_id = $1 AND kind = $2""",
        charge_point_id,
        kind,
    )
    return None if row is None else StatusReport(**dict(row))
