"""The fleet at a glance: how many chargers are in each state, and what needs an operator.

The state of a charger is decided in one SQL expression (:data:`csms.store.charge_points.
STATE_LATERAL`), so the list, its filters and these counts never disagree.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import asyncpg

from csms.store.charge_points import (
    FLEET_WHERE,
    ONLINE,
    STATE_LATERAL,
    STATES,
    FleetFilter,
    fleet_args,
)

#: Failed bookings stay on the alerts panel this long.
FAILED_BOOKINGS_FOR = timedelta(hours=24)
ALERT_KINDS = ("faulted", "offline", "booking_failed")


@dataclasses.dataclass(frozen=True, slots=True)
class FleetSummary:
    total: int
    by_state: dict[str, int]


async def summary(pool: asyncpg.Pool, where: FleetFilter) -> FleetSummary:
    """How many chargers match ``where`` (its ``states`` ignored), per state (every state named,
    zero included)."""
    rows = await pool.fetch(
        f"""SELECT fleet.state, count(*) AS n FROM charge_points cp, {STATE_LATERAL}
            WHERE {FLEET_WHERE} GROUP BY fleet.state""",
        *fleet_args(dataclasses.replace(where, states=())),
    )
    by_state = dict.fromkeys(STATES, 0) | {row["state"]: row["n"] for row in rows}
    return FleetSummary(total=sum(by_state.values()), by_state=by_state)


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    """Something an operator should look at: a Faulted connector (0: the charger itself) of a
    connected charger, a charger that was seen once and is not connected now, or a booking that
    failed lately."""

    kind: str
    charge_point_id: str
    connector_id: int | None
    reservation_id: int | None
    since: datetime
    message: str

    def position(self) -> AlertPosition:
        return AlertPosition(
            self.since,
            self.kind,
            self.charge_point_id,
            -1 if self.connector_id is None else self.connector_id,
            -1 if self.reservation_id is None else self.reservation_id,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class AlertPosition:
    """Where a page of alerts ended (newest first; the rest breaks ties)."""

    since: datetime
    kind: str
    charge_point_id: str
    connector_id: int
    reservation_id: int


def _fault_message(table: str, *, info: bool) -> str:
    """SQL: "Faulted: GroundFailure (info)" from a status row's error code (and info)."""
    text = f"'Faulted' || COALESCE(': ' || NULLIF({table}.error_code, 'NoError'), '')"
    return text + (f" || COALESCE(' (' || {table}.info || ')', '')" if info else "")


_ALERTS = f"""
SELECT kind, charge_point_id, connector_id, reservation_id, since, message FROM (
    SELECT 'faulted' AS kind, cp.id AS charge_point_id, 0 AS connector_id,
           NULL::integer AS reservation_id, COALESCE(cp.status_at, cp.last_seen_at) AS since,
           'The charger reports ' || {_fault_message("cp", info=False)}
               AS message
    FROM charge_points cp WHERE cp.status = 'Faulted' AND {ONLINE}
    UNION ALL
    SELECT 'faulted', c.charge_point_id, c.connector_id, NULL,
           COALESCE(c.status_at, cp.last_seen_at),
           'Connector ' || c.connector_id || ' reports ' || {_fault_message("c", info=True)}
    FROM connectors c JOIN charge_points cp ON cp.id = c.charge_point_id
    WHERE c.status = 'Faulted' AND {ONLINE}
    UNION ALL
    SELECT 'offline', cp.id, NULL, NULL,
           COALESCE(CASE WHEN cp.connected_node IS NULL THEN cp.connection_changed_at END,
                    cp.last_seen_at),
           'Not connected'
    FROM charge_points cp WHERE cp.last_seen_at IS NOT NULL AND NOT {ONLINE}
    UNION ALL
    SELECT 'booking_failed', r.charge_point_id, r.connector_id, r.id, r.updated_at,
           'Booking #' || r.id || ' failed' || COALESCE(': ' || r.status_reason, '')
    FROM reservations r
    WHERE r.status = 'failed' AND r.updated_at > now() - $1::interval
) alerts
WHERE since IS NOT NULL
  AND ($2::timestamptz IS NULL OR (since, kind, charge_point_id, COALESCE(connector_id, -1),
                                   COALESCE(reservation_id, -1)) < ($2, $3, $4, $5, $6))
ORDER BY since DESC, kind DESC, charge_point_id DESC, COALESCE(connector_id, -1) DESC,
         COALESCE(reservation_id, -1) DESC
LIMIT $7
"""


async def alerts(pool: asyncpg.Pool, *, after: AlertPosition | None, limit: int) -> list[Alert]:
    """Alerts newest first, ``limit`` of them after ``after``."""
    position = (None,) * 5 if after is None else dataclasses.astuple(after)
    rows = await pool.fetch(_ALERTS, FAILED_BOOKINGS_FOR, *position, limit)
    return [Alert(**dict(row)) for row in rows]
