"""Charge points and their connectors."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from csms.domain.charge_points import ConnectorSpec
from csms.errors import (
    AlreadyExists,
    ChargePointInUse,
    Conflict,
    ConnectorInUse,
    NotFound,
)
from csms.store.errors import translated

#: How often a node proves it is alive; a node silent for 3x this no longer holds connections.
NODE_HEARTBEAT_SECONDS = 5.0

@dataclasses.dataclass(frozen=True, slots=True)
class HandshakeRecord:
    """What the gateway needs to admit a connection."""

    id: str
    registration_status: str
    authorization_key_hash: str | None
    #: The lowest security profile a connection must prove, and a raise in progress (SEC 2).
    security_profile: int = 0
    security_profile_pending: int | None = None


async def fetch_for_handshake(pool: asyncpg.Pool, charge_point_id: str) -> HandshakeRecord | None:
    row = await pool.fetchrow(
        """SELECT id, registration_status, authorization_key_hash, security_profile,
                  security_profile_pending
           FROM charge_points WHERE id = $1""",
        charge_point_id,
    )
    return None if row is None else HandshakeRecord(**dict(row))


async def create(
    pool: asyncpg.Pool,
    charge_point_id: str,
    *,
    site_id: int | None,
    authorization_key_hash: str | None,
    connectors: list[ConnectorSpec],
    security_profile: int = 0,
) -> None:
    """Register a charge point and its connectors in one transaction."""
    async with pool.acquire() as connection, connection.transaction():
        with translated():
            await connection.execute(
                """INSERT INTO charge_points
                       (id, site_id, authorization_key_hash, security_profile)
                   VALUES ($1, $2, $3, $4)""",
                charge_point_id,
                site_id,
                authorization_key_hash,
                security_profile,
            )
            await _put_connectors(connection, charge_point_id, connectors)


async def admit_pending(pool: asyncpg.Pool, charge_point_id: str) -> HandshakeRecord:
    """Store an unknown charger as ``pending`` (CSMS_AUTO_REGISTER) and return its record."""
    await pool.execute(
        """INSERT INTO charge_points (id, registration_status) VALUES ($1, 'pending')
           ON CONFLICT (id) DO NOTHING""",
        charge_point_id,
    )
    record = await fetch_for_handshake(pool, charge_point_id)
    assert record is not None
    return record


async def accept(
    pool: asyncpg.Pool,
    charge_point_id: str,
    *,
    site_id: int | None,
    authorization_key_hash: str | None,
    connectors: list[ConnectorSpec],
    security_profile: int = 0,
) -> None:
    """Turn a ``pending`` charger into a registered one (operator's decision)."""
    async with pool.acquire() as connection, connection.transaction():
        with translated():
            status = await connection.fetchval(
                """UPDATE charge_points
                   SET registration_status = 'accepted', site_id = $2,
                       authorization_key_hash = COALESCE($3, authorization_key_hash),
                       security_profile = $4
                   WHERE id = $1 RETURNING registration_status""",
                charge_point_id,
                site_id,
                authorization_key_hash,
                security_profile,
            )
            if status is None:
                raise NotFound(f"no charge point {charge_point_id!r}")
            await _put_connectors(connection, charge_point_id, connectors)


async def _put_connectors(
    connection: asyncpg.Connection, charge_point_id: str, connectors: list[ConnectorSpec]
) -> None:
    """Register connectors; one the charger already reported gets its type and power."""
    await connection.executemany(
        """INSERT INTO connectors (charge_point_id, connector_id, connector_type, max_power_kw)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (charge_point_id, connector_id) DO UPDATE
           SET connector_type = EXCLUDED.connector_type, max_power_kw = EXCLUDED.max_power_kw""",
        [(charge_point_id, c.connector_id, c.connector_type, c.max_power_kw) for c in connectors],
    )


class KeyChangeInProgress(Conflict):
    """Another change of this charger's AuthorizationKey is under way."""

    code = "key_change_in_progress"


@contextlib.asynccontextmanager
async def key_change(pool: asyncpg.Pool, charge_point_id: str) -> AsyncIterator[asyncpg.Connection]:
    """A transaction in which this charger's AuthorizationKey may be changed, alone.

    One change at a time per charger, on every node: two rotations sent one after the other
    could otherwise be stored in the other order, leaving a hash of the key the charger no
    longer has (it could never connect again). A second change is refused at once
    (:class:`KeyChangeInProgress`) rather than queued behind a charger that may take the whole
    call timeout to answer. :class:`NotFound` for an unknown charger.
    """
    async with pool.acquire() as connection, connection.transaction():
        if not await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM charge_points WHERE id = $1)", charge_point_id
        ):
            raise NotFound(f"no charge point {charge_point_id!r}")
        if not await connection.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtextextended('csms AuthorizationKey ' || $1, 0))",
            charge_point_id,
        ):
            raise KeyChangeInProgress(
                f"the AuthorizationKey of {charge_point_id!r} is being changed; try again"
            )
        yield connection


async def set_authorization_key(
    executor: asyncpg.Pool | asyncpg.Connection, charge_point_id: str, key_hash: str | None
) -> None:
    """Store a new AuthorizationKey hash (None: connections need no Basic auth any more)."""
    await executor.execute(
        "UPDATE charge_points SET authorization_key_hash = $2 WHERE id = $1",
        charge_point_id,
        key_hash,
    )


_BOOT_FIELDS = {
    "chargePointVendor": "vendor",
    "chargePointModel": "model",
    "chargePointSerialNumber": "serial_number",
    "chargeBoxSerialNumber": "charge_box_serial_number",
    "firmwareVersion": "firmware_version",
    "iccid": "iccid",
    "imsi": "imsi",
    "meterType": "meter_type",
    "meterSerialNumber": "meter_serial_number",
}


async def record_boot(
    pool: asyncpg.Pool, charge_point_id: str, payload: dict[str, Any], now: datetime
) -> str:
    """Store what BootNotification tells (S 4.2); return the registration status."""
    status = await pool.fetchval(
        """UPDATE charge_points
           SET vendor = $2, model = $3, serial_number = $4, charge_box_serial_number = $5,
               firmware_version = $6, iccid = $7, imsi = $8, meter_type = $9,
               meter_serial_number = $10, booted_at = $11, last_seen_at = $11,
               supported_profiles = NULL, reserve_connector_zero = NULL
           WHERE id = $1 RETURNING registration_status""",
        charge_point_id,
        *(payload.get(key) for key in _BOOT_FIELDS),
        now,
    )
    if status is None:
        raise NotFound(f"no charge point {charge_point_id!r}")
    return str(status)


#: Connected to a live node: its socket is held by a node that proved it is alive lately.
ONLINE = """(cp.connected_node IS NOT NULL AND EXISTS (
            SELECT 1 FROM nodes n WHERE n.id = cp.connected_node
            AND n.heartbeat_at > now() - make_interval(secs => $NODE_TIMEOUT)))""".replace(
    "$NODE_TIMEOUT", str(3 * NODE_HEARTBEAT_SECONDS)
)

#: The one fleet state that best describes a charger (issue #12's console): offline when not
#: connected, else faulted (connector 0 or any connector Faulted, S 7.7) > charging (a connector
#: Charging or an open transaction) > reserved (a connector Reserved, a booking held on the
#: charger, or a booked window open now) > online. A LATERAL over ``cp``: one index probe per
#: table and charger (30 ms for a filter over 10,000 chargers here, so no index of its own).
STATES = ("online", "offline", "faulted", "charging", "reserved")
STATE_LATERAL = """LATERAL (
    SELECT CASE
        WHEN NOT $ONLINE THEN 'offline'
        WHEN cp.status = 'Faulted' OR seen.faulted THEN 'faulted'
        WHEN seen.charging OR EXISTS (
            SELECT 1 FROM transactions t
            WHERE t.charge_point_id = cp.id AND t.stopped_at IS NULL) THEN 'charging'
        WHEN seen.reserved OR EXISTS (
            SELECT 1 FROM reservations r
            WHERE r.charge_point_id = cp.id AND r.status IN ('booked', 'active')
              AND (r.status = 'active' OR r.during @> now())) THEN 'reserved'
        ELSE 'online'
    END AS state
    FROM (SELECT COALESCE(bool_or(c.status = 'Faulted'), false) AS faulted,
                 COALESCE(bool_or(c.status = 'Charging'), false) AS charging,
                 COALESCE(bool_or(c.status = 'Reserved'), false) AS reserved
          FROM connectors c WHERE c.charge_point_id = cp.id) seen
) fleet""".replace("$ONLINE", ONLINE)

_DETAIL = """
SELECT cp.id, cp.site_id, cp.registration_status, cp.vendor, cp.model, cp.serial_number,
       cp.firmware_version, cp.booted_at, cp.last_seen_at, cp.connected_node, cp.connected_at,
       cp.status, cp.error_code, cp.status_at, cp.firmware_status, cp.diagnostics_status,
       cp.authorization_key_hash IS NOT NULL AS has_authorization_key,
       $ONLINE AS online, fleet.state,
       COALESCE((SELECT json_agg(json_build_object(
                    'connector_id', c.connector_id, 'connector_type', c.connector_type,
                    'max_power_kw', c.max_power_kw, 'status', c.status,
                    'error_code', c.error_code, 'info', c.info,
                    'status_at', to_char(c.status_at AT TIME ZONE 'UTC',
                                         'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                    'out_of_service', c.out_of_service)
                 ORDER BY c.connector_id)
                 FROM connectors c WHERE c.charge_point_id = cp.id), '[]') AS connectors
FROM charge_points cp, $STATE
""".replace("$STATE", STATE_LATERAL).replace("$ONLINE", ONLINE)


@dataclasses.dataclass(frozen=True, slots=True)
class FleetFilter:
    """Which chargers a fleet view shows: any of ``states`` (empty: all), one site, and a text
    found (without case) in the id, vendor, model or serial number."""

    states: tuple[str, ...] = ()
    site_id: int | None = None
    text: str | None = None


def like_pattern(text: str) -> str:
    """``text`` as a substring pattern for ILIKE (its own ``%``, ``_`` and ``\\`` literal)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


#: The :class:`FleetFilter` as a WHERE clause over ``cp`` (and ``fleet``), parameters $1-$3:
#: site id, ILIKE pattern, states.
FLEET_WHERE = """($1::bigint IS NULL OR cp.site_id = $1)
    AND ($2::text IS NULL OR cp.id ILIKE $2 OR cp.vendor ILIKE $2 OR cp.model ILIKE $2
         OR cp.serial_number ILIKE $2)
    AND (cardinality($3::text[]) = 0 OR fleet.state = ANY($3::text[]))"""


def fleet_args(where: FleetFilter) -> tuple[object, ...]:
    """The parameters of :data:`FLEET_WHERE` for ``where``."""
    pattern = None if not where.text else like_pattern(where.text)
    return where.site_id, pattern, list(where.states)


async def get(pool: asyncpg.Pool, charge_point_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(_DETAIL + " WHERE cp.id = $1", charge_point_id)
    if row is None:
        raise NotFound(f"no charge point {charge_point_id!r}")
    return row


async def list_page(
    pool: asyncpg.Pool,
    *,
    after: str | None,
    limit: int,
    site_id: int | None = None,
    where: FleetFilter = FleetFilter(),
) -> list[asyncpg.Record]:
    """Charge points matching ``where`` (and at ``site_id`` when given), ordered by id,
    ``limit`` of them after id ``after``; each with its fleet ``state``."""
    if site_id is not None:
        where = dataclasses.replace(where, site_id=site_id)
    return list(
        await pool.fetch(
            _DETAIL
            + f""" WHERE {FLEET_WHERE} AND ($4::text IS NULL OR cp.id > $4)
                   ORDER BY cp.id LIMIT $5""",
            *fleet_args(where),
            after,
            limit,
        )
    )


#: Registration states an operator may set (S 4.2 RegistrationStatus, stored in lower case).
REGISTRATION_STATUSES = ("accepted", "pending", "rejected")
_LIVE_OR_OPEN = """(EXISTS (SELECT 1 FROM reservations r WHERE r.charge_point_id = $1
                            AND ($2::integer IS NULL OR r.connector_id = $2)
                            AND r.status IN ('booked', 'active', 'charging'))
                    OR EXISTS (SELECT 1 FROM transactions t WHERE t.charge_point_id = $1
                               AND ($2::integer IS NULL OR t.connector_id = $2)
                               AND t.stopped_at IS NULL))"""


async def _lock(connection: asyncpg.Connection, charge_point_id: str) -> asyncpg.Record:
    """The charger's row and its connectors', locked as a booking locks a connector: bookings
    of it wait until the caller's transaction ends, and then see what it did."""
    row = await connection.fetchrow(
        "SELECT site_id, registration_status FROM charge_points WHERE id = $1 FOR UPDATE",
        charge_point_id,
    )
    if row is None:
        raise NotFound(f"no charge point {charge_point_id!r}")
    await connection.execute(
        "SELECT 1 FROM connectors WHERE charge_point_id = $1 FOR UPDATE", charge_point_id
    )
    return row


async def in_use(
    connection: asyncpg.Connection, charge_point_id: str, connector_id: int | None = None
) -> bool:
    """Whether the charger (or one connector) has a live booking or an open transaction."""
    return bool(
        await connection.fetchval(f"SELECT {_LIVE_OR_OPEN}", charge_point_id, connector_id)
    )


async def update(pool: asyncpg.Pool, charge_point_id: str, changes: dict[str, Any]) -> None:
    """Change ``site_id`` (None: no site) and/or ``registration_status``.

    :class:`ChargePointInUse` when the change would strand a live booking: a move to another
    site (its code is unique only at its own) or a status other than accepted."""
    assert set(changes) <= {"site_id", "registration_status"}, changes
    async with pool.acquire() as connection, connection.transaction():
        current = await _lock(connection, charge_point_id)
        moves = "site_id" in changes and changes["site_id"] != current["site_id"]
        leaves = changes.get("registration_status", "accepted") != "accepted"
        if (moves or leaves) and await connection.fetchval(
            """SELECT EXISTS (SELECT 1 FROM reservations WHERE charge_point_id = $1
                              AND status IN ('booked', 'active', 'charging'))""",
            charge_point_id,
        ):
            raise ChargePointInUse(
                f"{charge_point_id} has live bookings: cancel or move them first"
            )
        with translated():
            await connection.execute(
                """UPDATE charge_points
                   SET site_id = CASE WHEN $2 THEN $3 ELSE site_id END,
                       registration_status = COALESCE($4, registration_status)
                   WHERE id = $1""",
                charge_point_id,
                "site_id" in changes,
                changes.get("site_id"),
                changes.get("registration_status"),
            )


async def delete(pool: asyncpg.Pool, charge_point_id: str) -> None:
    """Remove a charger with its connectors and what it reported; its past bookings and
    transactions stay on record. :class:`ChargePointInUse` while it has a live booking or an
    open transaction."""
    async with pool.acquire() as connection, connection.transaction():
        await _lock(connection, charge_point_id)
        if await in_use(connection, charge_point_id):
            raise ChargePointInUse(
                f"{charge_point_id} has a live booking or an open transaction"
            )
        try:
            await connection.execute("DELETE FROM charge_points WHERE id = $1", charge_point_id)
        except asyncpg.ForeignKeyViolationError as error:
            raise ChargePointInUse(
                f"{charge_point_id} is still referred to ({error.constraint_name})"
            ) from None


async def add_connector(pool: asyncpg.Pool, charge_point_id: str, spec: ConnectorSpec) -> None:
    """Register a connector; one the charger reported but nobody registered gets its type and
    power. :class:`AlreadyExists` for a registered one, :class:`NotFound` for no charger."""
    async with pool.acquire() as connection, connection.transaction():
        await _lock(connection, charge_point_id)
        added = await connection.fetchval(
            """INSERT INTO connectors (charge_point_id, connector_id, connector_type, max_power_kw)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (charge_point_id, connector_id) DO UPDATE
               SET connector_type = EXCLUDED.connector_type,
                   max_power_kw = EXCLUDED.max_power_kw
               WHERE connectors.connector_type IS NULL
               RETURNING true""",
            charge_point_id,
            spec.connector_id,
            spec.connector_type,
            spec.max_power_kw,
        )
    if not added:
        raise AlreadyExists(f"connector {spec.connector_id} of {charge_point_id} is registered")


#: What PATCH …/connectors/{n} may change.
CONNECTOR_UPDATABLE = frozenset({"out_of_service", "connector_type", "max_power_kw"})


async def update_connector(
    pool: asyncpg.Pool, charge_point_id: str, connector_id: int, changes: dict[str, Any]
) -> None:
    """Change the given :data:`CONNECTOR_UPDATABLE` of a registered connector (live
    bookings keep the price they were booked at). :class:`NotFound`."""
    assert changes and set(changes) <= CONNECTOR_UPDATABLE, changes
    assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(changes, start=3))
    done = await pool.execute(
        f"""UPDATE connectors SET {assignments}
            WHERE charge_point_id = $1 AND connector_id = $2 AND connector_type IS NOT NULL""",
        charge_point_id,
        connector_id,
        *changes.values(),
    )
    if done.endswith(" 0"):
        raise NotFound(f"no registered connector {connector_id} at {charge_point_id!r}")


async def delete_connector(pool: asyncpg.Pool, charge_point_id: str, connector_id: int) -> None:
    """Remove a connector; :class:`ConnectorInUse` with a live booking or an open
    transaction on it. A charger that still has it reports it again (unregistered)."""
    async with pool.acquire() as connection, connection.transaction():
        locked = await connection.fetchval(
            """SELECT true FROM connectors WHERE charge_point_id = $1 AND connector_id = $2
               FOR UPDATE""",
            charge_point_id,
            connector_id,
        )
        if not locked:
            raise NotFound(f"no connector {connector_id} at {charge_point_id!r}")
        if await in_use(connection, charge_point_id, connector_id):
            raise ConnectorInUse(
                f"connector {connector_id} of {charge_point_id} has a live booking or an "
                "open transaction"
            )
        try:
            await connection.execute(
                "DELETE FROM connectors WHERE charge_point_id = $1 AND connector_id = $2",
                charge_point_id,
                connector_id,
            )
        except asyncpg.ForeignKeyViolationError as error:
            raise ConnectorInUse(
                f"connector {connector_id} of {charge_point_id} is still referred to "
                f"({error.constraint_name})"
            ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class BootRecord:
    """What a charger said of itself at its last BootNotification (S 4.2), and the feature
    profiles it listed since (None: not asked yet)."""

    vendor: str | None
    model: str | None
    serial_number: str | None
    charge_box_serial_number: str | None
    firmware_version: str | None
    iccid: str | None
    imsi: str | None
    meter_type: str | None
    meter_serial_number: str | None
    booted_at: datetime | None
    supported_profiles: list[str] | None


async def boot_record(pool: asyncpg.Pool, charge_point_id: str) -> BootRecord:
    """The charger's :class:`BootRecord`; :class:`NotFound` for an unknown charger."""
    row = await pool.fetchrow(
        f"""SELECT {", ".join(_BOOT_FIELDS.values())}, booted_at, supported_profiles
            FROM charge_points WHERE id = $1""",
        charge_point_id,
    )
    if row is None:
        raise NotFound(f"no charge point {charge_point_id!r}")
    return BootRecord(**dict(row))
