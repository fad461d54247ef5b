"""Stored files, firmware updates and diagnostics requests (OCPP 1.6 Firmware Management,
S 4.4, 4.5, 5.9, 5.19): the rows of ``schemas/migrations/0007_firmware_and_diagnostics.sql``.

The contents of a file are on disk (:class:`csms.services.files.ContentStore`); this module
keeps what csms knows about them. Tokens (the capabilities in the locations chargers are sent)
are written and looked up here, never answered to anyone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import asyncpg

FileKind = Literal["firmware", "diagnostics"]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredFile:
    id: int
    kind: str
    #: A display name only (see ``csms.services.files.check_name``), never a path.
    name: str
    size_bytes: int
    sha256: str
    upload_started_at: datetime
    #: When the whole contents were on disk.
    created_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class NewFile:
    kind: FileKind
    name: str
    size_bytes: int
    sha256: str
    upload_started_at: datetime
    created_at: datetime
    #: The operator who uploaded it (firmware); None for a charger's upload.
    uploaded_by: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class FirmwareUpdate:
    """An UpdateFirmware.req (S 6.55) sent to a charger, with its latest reported status."""

    id: int
    charge_point_id: str
    firmware: StoredFile
    location: str
    requested_at: datetime
    retrieve_at: datetime
    retries: int | None
    retry_interval: int | None
    #: ``requested``, then the latest FirmwareStatusNotification status (S 6.19).
    status: str
    status_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class DiagnosticsRequest:
    """A GetDiagnostics.req (S 6.25), or a GetLog.req (security extension N01) when it has a
    ``log_type``, sent to a charger, its answer and its upload."""

    id: int
    charge_point_id: str
    location: str
    requested_at: datetime
    start_time: datetime | None
    stop_time: datetime | None
    retries: int | None
    retry_interval: int | None
    #: GetDiagnostics.conf's fileName (S 6.26); None when it had none, or has not answered.
    file_name: str | None
    #: False: the charger answered without a fileName (no diagnostics); None: no answer yet.
    diagnostics_available: bool | None
    #: ``requested``, ``no_diagnostics`` or ``rejected`` (GetLog), then the latest
    #: DiagnosticsStatusNotification (or LogStatusNotification) status.
    status: str
    status_at: datetime
    #: The uploaded file; None until it arrives.
    file: StoredFile | None
    #: GetLog's logType (``DiagnosticsLog``, ``SecurityLog``); None for GetDiagnostics.
    log_type: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """What a new update or diagnostics request is recorded with."""

    charge_point_id: str
    token: str
    location: str
    requested_at: datetime
    retries: int | None
    retry_interval: int | None
    requested_by: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class UploadTarget:
    """The diagnostics request an upload location's token names."""

    request_id: int
    charge_point_id: str
    file_name: str | None
    received: bool


_FILE_COLUMNS = "id, kind, name, size_bytes, sha256, upload_started_at, created_at"
#: The columns of a joined stored file, prefixed ``f_`` (see :func:`_joined_file`).
_JOINED_FILE = (
    "f.id AS f_id, f.kind AS f_kind, f.name AS f_name, f.size_bytes AS f_size_bytes, "
    "f.sha256 AS f_sha256, f.upload_started_at AS f_upload_started_at, "
    "f.created_at AS f_created_at"
)
_UPDATE_SELECT = f"""
    SELECT u.id, u.charge_point_id, u.location, u.requested_at, u.retrieve_at, u.retries,
           u.retry_interval, u.status, u.status_at, {_JOINED_FILE}
    FROM firmware_updates u JOIN stored_files f ON f.id = u.file_id"""
_DIAGNOSTICS_SELECT = f"""
    SELECT d.id, d.charge_point_id, d.location, d.requested_at, d.start_time, d.stop_time,
           d.retries, d.retry_interval, d.file_name, d.diagnostics_available, d.status,
           d.status_at, d.log_type, {_JOINED_FILE}
    FROM diagnostics_requests d LEFT JOIN stored_files f ON f.id = d.file_id"""


def _joined_file(row: asyncpg.Record) -> StoredFile | None:
    if row["f_id"] is None:
        return None
    return StoredFile(**{field: row[f"f_{field}"] for field in StoredFile.__dataclass_fields__})


def _update(row: asyncpg.Record) -> FirmwareUpdate:
    fields = {k: v for k, v in dict(row).items() if not k.startswith("f_")}
    firmware = _joined_file(row)
    assert firmware is not None  # An inner join.
    return FirmwareUpdate(firmware=firmware, **fields)


def _diagnostics(row: asyncpg.Record) -> DiagnosticsRequest:
    fields = {k: v for k, v in dict(row).items() if not k.startswith("f_")}
    return DiagnosticsRequest(file=_joined_file(row), **fields)


# Files.


async def insert_file(executor: asyncpg.Pool | asyncpg.Connection, new: NewFile) -> StoredFile:
    row = await executor.fetchrow(
        f"""INSERT INTO stored_files
                (kind, name, size_bytes, sha256, upload_started_at, created_at, uploaded_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_FILE_COLUMNS}""",
        new.kind,
        new.name,
        new.size_bytes,
        new.sha256,
        new.upload_started_at,
        new.created_at,
        new.uploaded_by,
    )
    return StoredFile(**dict(row))


async def get_file(pool: asyncpg.Pool, kind: FileKind, file_id: int) -> StoredFile | None:
    row = await pool.fetchrow(
        f"SELECT {_FILE_COLUMNS} FROM stored_files WHERE id = $1 AND kind = $2", file_id, kind
    )
    return None if row is None else StoredFile(**dict(row))


async def list_files(
    pool: asyncpg.Pool, kind: FileKind, *, before: int | None, limit: int
) -> list[StoredFile]:
    """Files of ``kind``, newest first, ``limit`` of them with an id below ``before``."""
    rows = await pool.fetch(
        f"""SELECT {_FILE_COLUMNS} FROM stored_files
            WHERE kind = $1 AND ($2::bigint IS NULL OR id < $2)
            ORDER BY id DESC LIMIT $3""",
        kind,
        before,
        limit,
    )
    return [StoredFile(**dict(row)) for row in rows]


# Firmware updates.


async def insert_firmware_update(
    pool: asyncpg.Pool, request: Request, file_id: int, retrieve_at: datetime
) -> FirmwareUpdate | None:
    """Record an update of the charger to firmware ``file_id``, status ``requested``; None
    when the charger or the firmware is not known."""
    update_id = await pool.fetchval(
        """INSERT INTO firmware_updates
               (charge_point_id, file_id, token, location, requested_at, retrieve_at, retries,
                retry_interval, status, status_at, requested_by)
           SELECT cp.id, f.id, $3, $4, $5, $6, $7, $8, 'requested', $5, $9
           FROM charge_points cp, stored_files f
           WHERE cp.id = $1 AND f.id = $2 AND f.kind = 'firmware'
           RETURNING id""",
        request.charge_point_id,
        file_id,
        request.token,
        request.location,
        request.requested_at,
        retrieve_at,
        request.retries,
        request.retry_interval,
        request.requested_by,
    )
    if update_id is None:
        return None
    row = await pool.fetchrow(_UPDATE_SELECT + " WHERE u.id = $1", update_id)
    return _update(row)


async def delete_firmware_update(pool: asyncpg.Pool, update_id: int) -> None:
    await pool.execute("DELETE FROM firmware_updates WHERE id = $1", update_id)


async def list_firmware_updates(
    pool: asyncpg.Pool, charge_point_id: str, *, before: int | None, limit: int
) -> list[FirmwareUpdate]:
    rows = await pool.fetch(
        _UPDATE_SELECT
        + """ WHERE u.charge_point_id = $1 AND ($2::bigint IS NULL OR u.id < $2)
              ORDER BY u.id DESC LIMIT $3""",
        charge_point_id,
        before,
        limit,
    )
    return [_update(row) for row in rows]


async def firmware_by_token(pool: asyncpg.Pool, token: str) -> StoredFile | None:
    """The firmware image an update's location names."""
    row = await pool.fetchrow(
        f"""SELECT {_JOINED_FILE} FROM firmware_updates u
            JOIN stored_files f ON f.id = u.file_id WHERE u.token = $1""",
        token,
    )
    return None if row is None else _joined_file(row)


async def record_firmware_status(
    pool: asyncpg.Pool, charge_point_id: str, status: str, at: datetime, kept: Sequence[str]
) -> int | None:
    """Give the charger's latest update ``status``, unless its status is one of ``kept``;
    return the update's id (None: no update, or its status was kept)."""
    update_id: int | None = await pool.fetchval(
        """UPDATE firmware_updates SET status = $2, status_at = $3
           WHERE id = (SELECT id FROM firmware_updates WHERE charge_point_id = $1
                       ORDER BY id DESC LIMIT 1)
             AND NOT (status = ANY($4::text[]))
           RETURNING id""",
        charge_point_id,
        status,
        at,
        list(kept),
    )
    return update_id


# Diagnostics requests.


async def insert_diagnostics_request(
    pool: asyncpg.Pool,
    request: Request,
    start_time: datetime | None,
    stop_time: datetime | None,
    log_type: str | None = None,
) -> DiagnosticsRequest | None:
    """Record a diagnostics request, status ``requested``; None for an unknown charger."""
    request_id = await pool.fetchval(
        """INSERT INTO diagnostics_requests
               (charge_point_id, token, location, requested_at, start_time, stop_time, retries,
                retry_interval, status, status_at, requested_by, log_type)
           SELECT id, $2, $3, $4, $5, $6, $7, $8, 'requested', $4, $9, $10
           FROM charge_points WHERE id = $1
           RETURNING id""",
        request.charge_point_id,
        request.token,
        request.location,
        request.requested_at,
        start_time,
        stop_time,
        request.retries,
        request.retry_interval,
        request.requested_by,
        log_type,
    )
    return None if request_id is None else await get_diagnostics_request(pool, request_id)


async def get_diagnostics_request(
    pool: asyncpg.Pool, request_id: int
) -> DiagnosticsRequest | None:
    row = await pool.fetchrow(_DIAGNOSTICS_SELECT + " WHERE d.id = $1", request_id)
    return None if row is None else _diagnostics(row)


async def record_diagnostics_answer(
    pool: asyncpg.Pool, request_id: int, file_name: str | None
) -> DiagnosticsRequest | None:
    """Keep GetDiagnostics.conf's fileName; without one the charger has no diagnostics (S 6.26),
    which the status says — unless a notification has told more already."""
    await pool.execute(
        """UPDATE diagnostics_requests
           SET file_name = $2, diagnostics_available = ($2::text IS NOT NULL),
               status = CASE WHEN $2::text IS NULL AND status = 'requested'
                             THEN 'no_diagnostics' ELSE status END
           WHERE id = $1""",
        request_id,
        file_name,
    )
    return await get_diagnostics_request(pool, request_id)


async def record_log_answer(
    pool: asyncpg.Pool, request_id: int, accepted: bool, file_name: str | None
) -> DiagnosticsRequest | None:
    """Keep GetLog.conf: Rejected ends the request (``rejected``); Accepted keeps the filename
    the upload will have."""
    await pool.execute(
        """UPDATE diagnostics_requests
           SET file_name = $3, diagnostics_available = $2,
               status = CASE WHEN NOT $2 AND status = 'requested' THEN 'rejected'
                             ELSE status END
           WHERE id = $1""",
        request_id,
        accepted,
        file_name,
    )
    return await get_diagnostics_request(pool, request_id)


async def delete_diagnostics_request(pool: asyncpg.Pool, request_id: int) -> None:
    await pool.execute("DELETE FROM diagnostics_requests WHERE id = $1", request_id)


async def list_diagnostics_requests(
    pool: asyncpg.Pool, charge_point_id: str, *, before: int | None, limit: int
) -> list[DiagnosticsRequest]:
    rows = await pool.fetch(
        _DIAGNOSTICS_SELECT
        + """ WHERE d.charge_point_id = $1 AND ($2::bigint IS NULL OR d.id < $2)
              ORDER BY d.id DESC LIMIT $3""",
        charge_point_id,
        before,
        limit,
    )
    return [_diagnostics(row) for row in rows]


async def record_diagnostics_status(
    pool: asyncpg.Pool, charge_point_id: str, status: str, at: datetime, kept: Sequence[str]
) -> int | None:
    """As :func:`record_firmware_status`, for the charger's latest GetDiagnostics request."""
    request_id: int | None = await pool.fetchval(
        """UPDATE diagnostics_requests SET status = $2, status_at = $3
           WHERE id = (SELECT id FROM diagnostics_requests
                       WHERE charge_point_id = $1 AND log_type IS NULL
                       ORDER BY id DESC LIMIT 1)
             AND NOT (status = ANY($4::text[]))
           RETURNING id""",
        charge_point_id,
        status,
        at,
        list(kept),
    )
    return request_id


async def record_log_status(
    pool: asyncpg.Pool,
    charge_point_id: str,
    request_id: int | None,
    status: str,
    at: datetime,
    kept: Sequence[str],
) -> int | None:
    """A LogStatusNotification's status, for the GetLog it names or, when it names none of
    this charger's, the charger's latest GetLog; None when there is none or its status is
    ``kept``."""
    updated: int | None = await pool.fetchval(
        """WITH logs AS (SELECT id FROM diagnostics_requests
                         WHERE charge_point_id = $1 AND log_type IS NOT NULL)
           UPDATE diagnostics_requests SET status = $3, status_at = $4
           WHERE id = COALESCE((SELECT id FROM logs WHERE id = $2),
                               (SELECT max(id) FROM logs))
             AND NOT (status = ANY($5::text[]))
           RETURNING id""",
        charge_point_id,
        request_id,
        status,
        at,
        list(kept),
    )
    return updated


async def upload_target(pool: asyncpg.Pool, token: str) -> UploadTarget | None:
    row = await pool.fetchrow(
        """SELECT id AS request_id, charge_point_id, file_name, file_id IS NOT NULL AS received
           FROM diagnostics_requests WHERE token = $1""",
        token,
    )
    return None if row is None else UploadTarget(**dict(row))


async def attach_diagnostics_file(
    pool: asyncpg.Pool, request_id: int, new: NewFile
) -> StoredFile | None:
    """Store ``new`` as the request's upload; None (and nothing stored) when it has one."""
    async with pool.acquire() as connection, connection.transaction():
        # The row lock makes "once" hold for two uploads at the same moment.
        free = await connection.fetchval(
            "SELECT file_id IS NULL FROM diagnostics_requests WHERE id = $1 FOR UPDATE",
            request_id,
        )
        if not free:
            return None
        stored = await insert_file(connection, new)
        await connection.execute(
            "UPDATE diagnostics_requests SET file_id = $2 WHERE id = $1", request_id, stored.id
        )
        return stored
