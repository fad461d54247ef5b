"""Firmware and diagnostics (OCPP 1.6 Firmware Management, S 4.4, 4.5, 5.9, 5.19).

Two audiences:

- operators (``/api/v1/…``, bearer token, operators only): upload firmware images, start
  updates, ask for diagnostics, read the statuses chargers report, download what they sent;
- chargers (``/ocpp-files/…``, served on the OCPP port, which chargers reach): download a
  firmware image and upload diagnostics at the locations they were sent. 1.6 lets a charger
  present no credentials there, so the unguessable token in the location is the capability.

File bodies are streamed to disk (never read whole) within ``CSMS_MAX_FILE_BYTES``: the app's
``client_max_size`` bounds only the bodies read at once (JSON), so these endpoints count what
they read themselves and answer 413 past the bound, keeping nothing.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.web_urldispatcher import _default_expect_handler  # aiohttp's 100 Continue

from csms.api.auth import operator
from csms.api.context import CLOCK, COMMANDS, POOL, SETTINGS
from csms.api.encoding import json_response
from csms.api.errors import error_response
from csms.api.requests import (
    INT32,
    cursor_param,
    int_field,
    json_body,
    limit_param,
    optional_int_field,
    page,
    path_id,
    path_text,
    query_text,
    time_value,
)
from csms.errors import NotFound, ValidationFailed
from csms.services.files import LOCATIONS_PREFIX as LOCATIONS_PREFIX  # for csms.app
from csms.services.files import ContentStore, FileTransfers, Retries
from csms.store import charge_points
from csms.store import files as store
from csms.store.files import DiagnosticsRequest, FirmwareUpdate, StoredFile

routes = web.RouteTableDef()

#: Bytes read from a body at a time.
CHUNK = 256 * 1024
#: Room for a multipart body's boundaries and part headers beyond the file it carries.
MULTIPART_ROOM = 64 * 1024
#: GetLog's logType (LogEnumType of the security extension).
LOG_TYPES = ("DiagnosticsLog", "SecurityLog")
#: Form fields a multipart upload may carry before its file part.
MAX_PARTS = 8
#: What :func:`csms.services.files.new_token` makes; anything else names no location.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_RETRY_BOUNDS = (0, INT32[1])


def _service(request: web.Request) -> FileTransfers:
    app = request.app
    settings = app[SETTINGS]
    contents = ContentStore(settings.data_dir / "files")
    return FileTransfers(app[POOL], app[COMMANDS], app[CLOCK], contents, settings.files_base())


# Reading file bodies within the bound.


def _too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=limit + 1,
        reason=f"a file may have at most {limit} bytes (CSMS_MAX_FILE_BYTES)",
    )


def _declared_too_large(request: web.BaseRequest, limit: int) -> bool:
    room = MULTIPART_ROOM if request.content_type == "multipart/form-data" else 0
    return request.content_length is not None and request.content_length > limit + room


async def _expect_within_limit(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue`` (curl sends it for large uploads): a body declared too large
    is refused before it is sent."""
    limit = request.app[SETTINGS].max_file_bytes
    if _declared_too_large(request, limit):
        return error_response(413, "body_too_large", _too_large(limit).reason)
    await _default_expect_handler(request)  # 100 Continue
    return None


class _Budget:
    """Counts the bytes read from one request; past the limit: 413."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise _too_large(self.limit)


async def _upload(request: web.Request) -> tuple[str | None, AsyncIterator[bytes]]:
    """The uploaded file: its name in a multipart body (if any) and its bytes, streamed.

    Chargers upload either way: the raw body (PUT, POST), or multipart/form-data with one
    file part (POST, as an HTML form would).
    """
    limit = request.app[SETTINGS].max_file_bytes
    if _declared_too_large(request, limit):
        raise _too_large(limit)
    budget = _Budget(limit)
    if request.content_type == "multipart/form-data":
        part = await _file_part(request, budget)
        # RFC 7578 4.2: a sender may percent-encode the file name (aiohttp's client does).
        name = None if part.filename is None else urllib.parse.unquote(part.filename)
        return name, _part_chunks(part, budget)
    return None, _raw_chunks(request, budget)


async def _raw_chunks(request: web.Request, budget: _Budget) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(CHUNK):
        budget.take(len(chunk))
        yield chunk


async def _file_part(request: web.Request, budget: _Budget) -> BodyPartReader:
    """The first part with a file name (or named ``file``); form fields before it are read
    and dropped, within the budget."""
    try:
        reader = await request.multipart()
        for _ in range(MAX_PARTS):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise ValidationFailed("a nested multipart body is not a file upload")
            if part.filename is not None or part.name == "file":
                return part
            async for _ in _part_chunks(part, budget):
                pass  # A form field before the file: read within the budget, dropped.
    except ValueError as error:  # aiohttp's word for a malformed multipart body
        raise ValidationFailed(f"not a valid multipart/form-data body: {error}") from None
    raise ValidationFailed("the multipart/form-data body has no file part")


async def _part_chunks(part: BodyPartReader, budget: _Budget) -> AsyncIterator[bytes]:
    try:
        while chunk := await part.read_chunk(CHUNK):
            budget.take(len(chunk))
            yield chunk
    except ValueError as error:
        raise ValidationFailed(f"not a valid multipart/form-data body: {error}") from None


# Answers.


def _file_json(stored: StoredFile) -> dict[str, Any]:
    return dataclasses.asdict(stored)


def _update_json(update: FirmwareUpdate) -> dict[str, Any]:
    return dataclasses.asdict(update)


def _diagnostics_json(request: DiagnosticsRequest) -> dict[str, Any]:
    return {**dataclasses.asdict(request), "file_received": request.file is not None}


def _file_response(stored: StoredFile, path: Path) -> web.FileResponse:
    """The contents, streamed from disk (Content-Length, HEAD and ranges by aiohttp)."""
    headers = {
        "Content-Type": "application/octet-stream",
        # The name is safe (csms.services.files.NAME_PATTERN): nothing to quote or escape.
        "Content-Disposition": f'attachment; filename="{stored.name}"',
    }
    return web.FileResponse(path, headers=headers)


def _retries(body: dict[str, Any]) -> Retries:
    return Retries(
        retries=optional_int_field(body, "retries", bounds=_RETRY_BOUNDS),
        retry_interval=optional_int_field(body, "retry_interval", bounds=_RETRY_BOUNDS),
    )


def _optional_time(body: dict[str, Any], name: str) -> datetime | None:
    return None if body.get(name) is None else time_value(body[name], name)


async def _known_charge_point(request: web.Request) -> str:
    cp_id = path_text(request, "cp_id")
    if await charge_points.fetch_for_handshake(request.app[POOL], cp_id) is None:
        raise NotFound(f"no charge point {cp_id!r}")
    return cp_id


# Operators.


@routes.post("/api/v1/firmware", expect_handler=_expect_within_limit)
async def upload_firmware(request: web.Request) -> web.Response:
    """A firmware image, the body (streamed); ``?name=`` names it."""
    user = operator(request)
    name = query_text(request, "name")
    if name is None:
        raise ValidationFailed("name is required (?name=firmware-1.2.3.bin)")
    _, chunks = await _upload(request)
    stored = await _service(request).upload_firmware(name, chunks, user.id)
    return json_response(_file_json(stored), status=201)


@routes.get("/api/v1/firmware")
async def list_firmware(request: web.Request) -> web.Response:
    operator(request)
    limit = limit_param(request)
    rows = await store.list_files(
        request.app[POOL], "firmware", before=cursor_param(request, int), limit=limit
    )
    return json_response(page([_file_json(row) for row in rows], limit, "id"))


@routes.post("/api/v1/charge-points/{cp_id}/firmware-updates")
async def start_firmware_update(request: web.Request) -> web.Response:
    """Send UpdateFirmware (S 5.19) for a stored image; 201 with the update."""
    user = operator(request)
    body = await json_body(
        request,
        required=frozenset({"firmware_id"}),
        optional=frozenset({"retrieve_at", "retries", "retry_interval"}),
    )
    update = await _service(request).start_update(
        path_text(request, "cp_id"),
        int_field(body, "firmware_id"),
        _optional_time(body, "retrieve_at"),
        _retries(body),
        user.id,
    )
    return json_response(_update_json(update), status=201)


@routes.get("/api/v1/charge-points/{cp_id}/firmware-updates")
async def list_firmware_updates(request: web.Request) -> web.Response:
    operator(request)
    limit = limit_param(request)
    before = cursor_param(request, int)
    cp_id = await _known_charge_point(request)
    rows = await store.list_firmware_updates(
        request.app[POOL], cp_id, before=before, limit=limit
    )
    return json_response(page([_update_json(row) for row in rows], limit, "id"))


@routes.post("/api/v1/charge-points/{cp_id}/diagnostics")
async def request_diagnostics(request: web.Request) -> web.Response:
    """Send GetDiagnostics (S 5.9), or GetLog (security extension N01) with a ``log_type``;
    201 with the request and the file name answered."""
    user = operator(request)
    fields = frozenset({"start_time", "stop_time", "retries", "retry_interval", "log_type"})
    # Every field is optional: an empty body asks for everything the charger has.
    empty = not await request.read()
    body = {} if empty else await json_body(request, required=frozenset(), optional=fields)
    start, stop = _optional_time(body, "start_time"), _optional_time(body, "stop_time")
    if start is not None and stop is not None and start > stop:
        raise ValidationFailed("start_time must not be after stop_time")
    log_type = body.get("log_type")
    if log_type is not None and log_type not in LOG_TYPES:
        raise ValidationFailed(f"log_type must be one of {', '.join(LOG_TYPES)}")
    requested = await _service(request).request_diagnostics(
        path_text(request, "cp_id"), start, stop, _retries(body), user.id, log_type
    )
    return json_response(_diagnostics_json(requested), status=201)


@routes.get("/api/v1/charge-points/{cp_id}/diagnostics")
async def list_diagnostics(request: web.Request) -> web.Response:
    operator(request)
    limit = limit_param(request)
    before = cursor_param(request, int)
    cp_id = await _known_charge_point(request)
    rows = await store.list_diagnostics_requests(
        request.app[POOL], cp_id, before=before, limit=limit
    )
    return json_response(page([_diagnostics_json(row) for row in rows], limit, "id"))


@routes.get("/api/v1/diagnostics/{diagnostics_id}/file")
async def download_diagnostics(request: web.Request) -> web.FileResponse:
    operator(request)
    stored, path = await _service(request).diagnostics_file(path_id(request, "diagnostics_id"))
    return _file_response(stored, path)


# Chargers (on the OCPP port; see csms.app).


def _token(request: web.Request) -> str:
    token = request.match_info["token"]
    if not _TOKEN.fullmatch(token):
        raise NotFound("no file location here")
    return token


@routes.get(LOCATIONS_PREFIX + "firmware/{token}/{name}")
async def download_firmware(request: web.Request) -> web.FileResponse:
    """UpdateFirmware's location (S 5.19): the image, for GET and HEAD."""
    stored, path = await _service(request).firmware_download(
        _token(request), request.match_info["name"]
    )
    return _file_response(stored, path)


@routes.put(LOCATIONS_PREFIX + "diagnostics/{token}/{name}", expect_handler=_expect_within_limit)
@routes.post(LOCATIONS_PREFIX + "diagnostics/{token}/{name}", expect_handler=_expect_within_limit)
async def upload_named_diagnostics(request: web.Request) -> web.Response:
    """GetDiagnostics' location (S 5.9) with the file's name appended, as most chargers do."""
    return await _receive(request, request.match_info["name"])


@routes.put(LOCATIONS_PREFIX + "diagnostics/{token}/", expect_handler=_expect_within_limit)
@routes.post(LOCATIONS_PREFIX + "diagnostics/{token}/", expect_handler=_expect_within_limit)
async def upload_diagnostics(request: web.Request) -> web.Response:
    """GetDiagnostics' location itself (a charger posting a form there)."""
    return await _receive(request, None)


async def _receive(request: web.Request, url_name: str | None) -> web.Response:
    token = _token(request)
    part_name, chunks = await _upload(request)
    stored = await _service(request).receive_diagnostics(token, [url_name, part_name], chunks)
    return json_response(_file_json(stored), status=201)
