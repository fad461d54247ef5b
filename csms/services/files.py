"""OCPP 1.6 Firmware Management (S 4.4, 4.5, 5.9, 5.19): firmware images csms serves to
chargers, the updates it sends (UpdateFirmware), the diagnostics it asks for (GetDiagnostics)
and receives, and what chargers report about both.

A charger fetches firmware from, and uploads diagnostics to, a *location* (a URL) it is sent;
1.6 gives it no way to present API credentials there, so each location carries an unguessable
token (``secrets.token_urlsafe``): the token is the capability, scoped to one update or one
request. Contents are stored on disk by their sha256, metadata in PostgreSQL
(:mod:`csms.store.files`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import re
import secrets
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import asyncpg

from csms.clock import Clock
from csms.commands import CommandRouter, Payload
from csms.domain.timestamps import format_timestamp
from csms.errors import ChargePointTimeout as _Timeout
from csms.errors import Conflict, NotFound, ValidationFailed
from csms.store import files as store
from csms.store.files import DiagnosticsRequest, FirmwareUpdate, NewFile, Request, StoredFile

#: The path of the charger-facing file locations (served on the OCPP port: chargers reach it).
LOCATIONS_PREFIX = "/ocpp-files/"
#: A stored file's name: a display name that can never be taken for a path (no separator, no
#: NUL, no leading dot so neither ``.`` nor ``..``), safe in a URL path segment unquoted.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,199}")
NAME_MAX = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._+~-]")
#: FirmwareStatus (S 7.25) and DiagnosticsStatus (S 7.24) values after which nothing more
#: happens for that update or request. ``Idle`` "SHALL only be used" when a TriggerMessage
#: asked (S 4.4, 4.5): it says the charger is doing nothing now, not that a finished update
#: was undone, so it never replaces these.
FIRMWARE_FINAL = ("Installed", "InstallationFailed", "DownloadFailed")
DIAGNOSTICS_FINAL = ("Uploaded", "UploadFailed")
#: LogStatusNotification statuses after which the upload is over (UploadLogStatusEnumType).
LOG_FINAL = ("Uploaded", "UploadFailure", "BadMessage", "NotSupportedOperation",
             "PermissionDenied")
#: Temporary files older than this are left-overs of an interrupted upload (seconds).
_STALE_UPLOAD_SECONDS = 24 * 3600


class AlreadyUploaded(Conflict):
    """A file was uploaded to this diagnostics location already (it takes one)."""

    code = "already_uploaded"


# Pure rules.


def check_name(name: str) -> str:
    """``name`` if it is a safe file name (:data:`NAME_PATTERN`); else 422."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValidationFailed(
            f"name must be 1-{NAME_MAX} characters of A-Z a-z 0-9 . _ + ~ -, "
            "not starting with a dot"
        )
    return name


def neutral_name(candidates: Sequence[str | None], fallback: str) -> str:
    """A safe name from what a charger sent (URL segment, multipart filename, fileName):
    the first usable one, reduced to its last path component, unsafe characters replaced.

    A charger cannot be asked to rename its upload, so its name is neutralised, not refused.
    """
    for raw in candidates:
        if not raw:
            continue
        base = re.split(r"[/\\]", raw)[-1]
        name = _UNSAFE.sub("_", base).lstrip(".")[:NAME_MAX]
        if any(character.isalnum() for character in name):  # Not only stand-ins.
            return name
    return check_name(fallback)


def firmware_location(base_url: str, token: str, name: str) -> str:
    """UpdateFirmware.req's location (S 6.55): where the charger downloads the image."""
    return f"{base_url}{LOCATIONS_PREFIX}firmware/{token}/{urllib.parse.quote(name)}"


def diagnostics_location(base_url: str, token: str) -> str:
    """GetDiagnostics.req's location (S 6.25), a directory: chargers upload to it, most of them
    appending the fileName they answered."""
    return f"{base_url}{LOCATIONS_PREFIX}diagnostics/{token}/"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _period(
    first: str, start: datetime | None, last: str, stop: datetime | None
) -> Payload:
    """The optional bounds of a diagnostics or log request, under their OCPP names."""
    bounds = ((first, start), (last, stop))
    return {key: format_timestamp(moment) for key, moment in bounds if moment is not None}


def kept_statuses(reported: str, final: Sequence[str]) -> Sequence[str]:
    """The statuses a reported one does not replace (see :data:`FIRMWARE_FINAL`)."""
    return final if reported == "Idle" else ()


def _storable(text: str) -> str:
    # PostgreSQL text holds no NUL; a charger's fileName is kept as evidence, not refused.
    return text.replace("\x00", "\N{REPLACEMENT CHARACTER}")


# Contents on disk.


@dataclasses.dataclass(frozen=True, slots=True)
class Content:
    sha256: str
    size_bytes: int


class ContentStore:
    """Files' contents under ``root``, named by their sha256 (``ab/abcdef…``).

    A write streams into a temporary file beside them (hashing as it goes, nothing held in
    memory), syncs it and renames it into place: a reader sees a whole file or none, and a
    crash leaves only a temporary file, removed by a later write. The same contents are stored
    once. Blocking file work runs in threads.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._incoming = root / "tmp"

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def write(self, chunks: AsyncIterable[bytes]) -> Content:
        """Store what ``chunks`` yields; an exception from it leaves nothing behind."""
        out, temporary = await asyncio.to_thread(self._open_temporary)
        digest, size = hashlib.sha256(), 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                await asyncio.to_thread(_append, out, digest, chunk)
            await asyncio.to_thread(_sync_and_close, out)
            sha256 = digest.hexdigest()
            await asyncio.to_thread(_install, temporary, self.path(sha256))
        except BaseException:
            out.close()
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise
        return Content(sha256, size)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path(sha256).is_file)

    def _open_temporary(self) -> tuple[BinaryIO, Path]:
        self._incoming.mkdir(parents=True, exist_ok=True)
        _remove_stale(self._incoming)
        fd, name = tempfile.mkstemp(dir=self._incoming, prefix="upload-")
        return os.fdopen(fd, "wb"), Path(name)


def _append(out: BinaryIO, digest: hashlib._Hash, chunk: bytes) -> None:
    digest.update(chunk)
    out.write(chunk)


def _sync_and_close(out: BinaryIO) -> None:
    with out:
        out.flush()
        os.fsync(out.fileno())


def _install(temporary: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # The same contents, stored before.
        temporary.unlink()
        return
    os.replace(temporary, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # The rename itself survives a crash.
    finally:
        os.close(directory)


def _remove_stale(incoming: Path) -> None:
    cutoff = time.time() - _STALE_UPLOAD_SECONDS
    for leftover in incoming.glob("upload-*"):
        with contextlib.suppress(FileNotFoundError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


# The service.


@dataclasses.dataclass(frozen=True, slots=True)
class Retries:
    """The retries and retryInterval (seconds) fields of both requests; None: not sent."""

    retries: int | None = None
    retry_interval: int | None = None

    def payload(self) -> Payload:
        fields = {"retries": self.retries, "retryInterval": self.retry_interval}
        return {key: value for key, value in fields.items() if value is not None}


class FileTransfers:
    """Firmware uploads and updates, diagnostics requests and uploads."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        router: CommandRouter,
        clock: Clock,
        contents: ContentStore,
        base_url: str,
    ) -> None:
        self._pool = pool
        self._router = router
        self._clock = clock
        self._contents = contents
        self._base_url = base_url

    async def upload_firmware(
        self, name: str, chunks: AsyncIterable[bytes], operator_id: int
    ) -> StoredFile:
        name = check_name(name)
        started = self._clock()
        content = await self._contents.write(chunks)
        if content.size_bytes == 0:
            raise ValidationFailed("the firmware image is empty")
        return await store.insert_file(
            self._pool, self._new_file("firmware", name, content, started, operator_id)
        )

    async def start_update(
        self,
        charge_point_id: str,
        firmware_id: int,
        retrieve_at: datetime | None,
        retries: Retries,
        operator_id: int,
    ) -> FirmwareUpdate:
        """Record an update and send UpdateFirmware (S 5.19); 201 material.

        The row exists before the call, so a charger that starts downloading at once finds its
        location; a charger that is not connected or refuses the call leaves no record.
        """
        firmware = await store.get_file(self._pool, "firmware", firmware_id)
        if firmware is None:
            raise NotFound(f"no firmware {firmware_id}")
        now = self._clock()
        request = self._request(charge_point_id, retries, operator_id, now)
        location = firmware_location(self._base_url, request.token, firmware.name)
        request = dataclasses.replace(request, location=location)
        update = await store.insert_firmware_update(
            self._pool, request, firmware_id, retrieve_at or now
        )
        if update is None:
            raise NotFound(f"no charge point {charge_point_id!r}")
        payload = {
            "location": location,
            "retrieveDate": format_timestamp(update.retrieve_at),
            **retries.payload(),
        }
        await self._send(charge_point_id, "UpdateFirmware", payload, update.id, "firmware update")
        return update

    async def request_diagnostics(
        self,
        charge_point_id: str,
        start_time: datetime | None,
        stop_time: datetime | None,
        retries: Retries,
        operator_id: int,
        log_type: str | None = None,
    ) -> DiagnosticsRequest:
        """Record a request and send GetDiagnostics (S 5.9) or, with a ``log_type``, GetLog
        (security extension N01), both to a csms upload location; keep the file name answered."""
        request = self._request(charge_point_id, retries, operator_id, self._clock())
        request = dataclasses.replace(
            request, location=diagnostics_location(self._base_url, request.token)
        )
        recorded = await store.insert_diagnostics_request(
            self._pool, request, start_time, stop_time, log_type
        )
        if recorded is None:
            raise NotFound(f"no charge point {charge_point_id!r}")
        if log_type is not None:
            return await self._get_log(recorded, log_type, retries)
        payload: Payload = {"location": request.location, **retries.payload()}
        payload.update(_period("startTime", start_time, "stopTime", stop_time))
        answer = await self._send(
            charge_point_id, "GetDiagnostics", payload, recorded.id, "diagnostics request"
        )
        # S 6.26: fileName "is not present when no diagnostic information is available"
        # (an empty one, seen in the field, says the same).
        file_name = answer.get("fileName") or None
        answered = await store.record_diagnostics_answer(
            self._pool, recorded.id, None if file_name is None else _storable(file_name)
        )
        assert answered is not None
        return answered

    async def _get_log(
        self, recorded: DiagnosticsRequest, log_type: str, retries: Retries
    ) -> DiagnosticsRequest:
        """GetLog.req with the request's id as requestId; Rejected is kept as ``rejected``."""
        log: Payload = {"remoteLocation": recorded.location}
        log.update(_period("oldestTimestamp", recorded.start_time,
                           "latestTimestamp", recorded.stop_time))
        payload: Payload = {"logType": log_type, "requestId": recorded.id, "log": log,
                            **retries.payload()}
        answer = await self._send(
            recorded.charge_point_id, "GetLog", payload, recorded.id, "log request"
        )
        file_name = answer.get("filename") or None
        answered = await store.record_log_answer(
            self._pool, recorded.id, answer.get("status") != "Rejected",
            None if file_name is None else _storable(file_name),
        )
        assert answered is not None
        return answered

    async def receive_diagnostics(
        self, token: str, names: Sequence[str | None], chunks: AsyncIterable[bytes]
    ) -> StoredFile:
        """Store an upload to a diagnostics location: once, for a request that has none."""
        target = await store.upload_target(self._pool, token)
        if target is None:
            raise NotFound("no diagnostics upload is expected at this location")
        if target.received:
            raise AlreadyUploaded("this location has received its diagnostics file already")
        started = self._clock()
        content = await self._contents.write(chunks)
        fallback = f"diagnostics-{target.request_id}"
        name = neutral_name([*names, target.file_name], fallback)
        new = self._new_file("diagnostics", name, content, started, None)
        stored = await store.attach_diagnostics_file(self._pool, target.request_id, new)
        if stored is None:  # Another upload won the race: its file stays, this one is not kept.
            raise AlreadyUploaded("this location has received its diagnostics file already")
        return stored

    async def firmware_download(self, token: str, name: str) -> tuple[StoredFile, Path]:
        """The image and its contents behind a firmware location (S 5.19)."""
        firmware = await store.firmware_by_token(self._pool, token)
        if firmware is None or firmware.name != name:
            raise NotFound("no firmware at this location")
        return firmware, await self._contents_of(firmware)

    async def diagnostics_file(self, request_id: int) -> tuple[StoredFile, Path]:
        request = await store.get_diagnostics_request(self._pool, request_id)
        if request is None:
            raise NotFound(f"no diagnostics request {request_id}")
        if request.file is None:
            raise NotFound(f"diagnostics request {request_id} has received no file yet")
        return request.file, await self._contents_of(request.file)

    async def _contents_of(self, stored: StoredFile) -> Path:
        if not await self._contents.exists(stored.sha256):
            # Several nodes need CSMS_DATA_DIR/files on storage they share.
            raise NotFound(f"the contents of file {stored.id} are not on this node")
        return self._contents.path(stored.sha256)

    async def _send(
        self, charge_point_id: str, action: str, payload: Payload, record_id: int, what: str
    ) -> Payload:
        """Send the call; forget the record unless the charger may have it."""
        try:
            return await self._router.call(charge_point_id, action, payload)
        except _Timeout as error:
            # No answer: the charger may act on it, and its location must keep working.
            raise _Timeout(f"{error.message}; kept as {what} {record_id}") from None
        except BaseException:
            delete = (
                store.delete_firmware_update
                if action == "UpdateFirmware"
                else store.delete_diagnostics_request
            )
            await delete(self._pool, record_id)
            raise

    def _request(
        self, charge_point_id: str, retries: Retries, operator_id: int, now: datetime
    ) -> Request:
        return Request(
            charge_point_id=charge_point_id,
            token=new_token(),
            location="",
            requested_at=now,
            retries=retries.retries,
            retry_interval=retries.retry_interval,
            requested_by=operator_id,
        )

    def _new_file(
        self,
        kind: store.FileKind,
        name: str,
        content: Content,
        started: datetime,
        operator_id: int | None,
    ) -> NewFile:
        return NewFile(
            kind=kind,
            name=name,
            size_bytes=content.size_bytes,
            sha256=content.sha256,
            upload_started_at=started,
            created_at=self._clock(),
            uploaded_by=operator_id,
        )


# What chargers report (the gateway's handlers call these).


async def firmware_status_reported(
    pool: asyncpg.Pool, charge_point_id: str, status: str, at: datetime
) -> None:
    """FirmwareStatusNotification (S 4.5, 6.19) names no update: in 1.6 a charger reports on
    the last UpdateFirmware it was sent, so the charger's latest update takes the status."""
    await store.record_firmware_status(
        pool, charge_point_id, status, at, kept_statuses(status, FIRMWARE_FINAL)
    )


async def diagnostics_status_reported(
    pool: asyncpg.Pool, charge_point_id: str, status: str, at: datetime
) -> None:
    """DiagnosticsStatusNotification (S 4.4, 6.17) names no request either: the charger's
    latest GetDiagnostics is the one it reports on."""
    await store.record_diagnostics_status(
        pool, charge_point_id, status, at, kept_statuses(status, DIAGNOSTICS_FINAL)
    )


async def log_status_reported(
    pool: asyncpg.Pool, charge_point_id: str, request_id: object, status: str, at: datetime
) -> None:
    """LogStatusNotification (N01) names its GetLog by requestId (optional): that request of
    this charger takes the status, or its latest GetLog when it names none of them (chargers
    forget ids, as they forget reservationId)."""
    named = request_id if isinstance(request_id, int) and 0 < request_id < 2**63 else None
    await store.record_log_status(
        pool, charge_point_id, named, status, at, kept_statuses(status, LOG_FINAL)
    )
