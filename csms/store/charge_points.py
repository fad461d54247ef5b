"""Charge points and their connectors."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from csms.domain.charge_points import ConnectorSpec
from csms.errors import Conflict, NotFound
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


_DETAIL = """
SELECT cp.id, cp.site_id, cp.registration_status, cp.vendor, cp.model, cp.serial_number,
       cp.firmware_version, cp.booted_at, cp.last_seen_at, cp.connected_node, cp.connected_at,
       cp.status, cp.error_code, cp.status_at, cp.firmware_status, cp.diagnostics_status,
       cp.authorization_key_hash IS NOT NULL AS has_authorization_key,
       (cp.connected_node IS NOT NULL AND EXISTS (
            SELECT 1 FROM nodes n WHERE n.id = cp.connected_node
            AND n.heartbeat_at > now() - make_interval(secs => $NODE_TIMEOUT))) AS online,
       COALESCE((SELECT json_agg(json_build_object(
                    'connector_id', c.connector_id, 'connector_type', c.connector_type,
                    'max_power_kw', c.max_power_kw, 'status', c.status,
                    'error_code', c.error_code, 'info', c.info,
                    'status_at', to_char(c.status_at AT TIME ZONE 'UTC',
                                         'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                    'out_of_service', c.out_of_service)
                 ORDER BY c.connector_id)
                 FROM connectors c WHERE c.charge_point_id = cp.id), '[]') AS connectors
FROM charge_points cp
""".replace("$NODE_TIMEOUT", str(3 * NODE_HEARTBEAT_SECONDS))


async def get(pool: asyncpg.Pool, charge_point_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(_DETAIL + " WHERE cp.id = $1", charge_point_id)
    if row is None:
        raise NotFound(f"no charge point {charge_point_id!r}")
    return row


async def list_page(
    pool: asyncpg.Pool, *, after: str | None, limit: int, site_id: int | None = None
) -> list[asyncpg.Record]:
    """Charge points ordered by id, ``limit`` of them after id ``after``."""
    return list(
        await pool.fetch(
            _DETAIL
            + """ WHERE ($1::text IS NULL OR cp.id > $1) AND ($2::bigint IS NULL OR cp.site_id = $2)
                  ORDER BY cp.id LIMIT $3""",
            after,
            site_id,
            limit,
        )
    )


async def set_out_of_service(
    pool: asyncpg.Pool, charge_point_id: str, connector_id: int, out_of_service: bool
) -> None:
    """Take a connector out of booking (or put it back); live bookings are left as they are."""
    done = await pool.execute(
        """UPDATE connectors SET out_of_service = $3
           WHERE charge_point_id = $1 AND connector_id = $2 AND connector_type IS NOT NULL""",
        charge_point_id,
        connector_id,
        out_of_service,
    )
    if done.endswith(" 0"):
        raise NotFound(f"no registered connector {connector_id} at {charge_point_id!r}")
