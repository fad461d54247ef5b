"""The OCPP message log of a charger: ``GET /api/v1/charge-points/{id}/messages``.

Newest first, paged by ``cursor``; ``?format=jsonl`` answers every matching frame as JSON lines
(``application/x-ndjson``), streamed from a server-side cursor, for export.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL
from csms.api.encoding import dumps, json_response
from csms.api.requests import (
    cursor_param,
    limit_param,
    page,
    path_text,
    query_text,
    query_time,
)
from csms.errors import NotFound, ValidationFailed
from csms.store import charge_points
from csms.store.message_log import FrameFilter, LoggedFrame, export, list_page

routes = web.RouteTableDef()

_DIRECTIONS = ("in", "out")
_FORMATS = ("json", "jsonl")


@routes.get("/api/v1/charge-points/{cp_id}/messages")
async def list_messages(request: web.Request) -> web.StreamResponse:
    """The frames of one charger, in and out, newest first (operators only)."""
    operator(request)
    pool = request.app[POOL]
    where = _filter(request)
    output = request.query.get("format", "json")
    if output not in _FORMATS:
        raise ValidationFailed("format must be json or jsonl")
    if await charge_points.fetch_for_handshake(pool, where.charge_point_id) is None:
        raise NotFound(f"no charge point {where.charge_point_id!r}")
    if output == "jsonl":
        return await _export(request, where)
    limit = limit_param(request)
    frames = await list_page(pool, where, limit)
    return json_response(page([present(frame) for frame in frames], limit, "id"))


def _filter(request: web.Request) -> FrameFilter:
    direction = query_text(request, "direction") or None
    if direction is not None and direction not in _DIRECTIONS:
        raise ValidationFailed("direction must be in or out")
    return FrameFilter(
        charge_point_id=path_text(request, "cp_id"),
        from_=query_time(request, "from"),
        to=query_time(request, "to"),
        action=query_text(request, "action") or None,
        message_id=query_text(request, "message_id") or None,
        direction=direction,
        before_id=cursor_param(request, int),
    )


async def _export(request: web.Request, where: FrameFilter) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/x-ndjson",
            "Content-Disposition": f'attachment; filename="{where.charge_point_id}-messages.jsonl"',
        }
    )
    await response.prepare(request)
    lines: list[bytes] = []
    async for frame in export(request.app[POOL], where):
        lines.append(dumps(present(frame)) + b"\n")
        if len(lines) >= 500:
            await response.write(b"".join(lines))
            lines.clear()
    await response.write(b"".join(lines))
    await response.write_eof()
    return response


def present(frame: LoggedFrame) -> dict[str, Any]:
    """A logged frame as the API answers it: the payload taken out of the frame."""
    return {
        "id": frame.id,
        "at": frame.at,
        "direction": frame.direction,
        "message_type": frame.message_type,
        "action": frame.action,
        "message_id": frame.message_id,
        "payload": _payload(frame),
        "node": frame.node,
    }


def _payload(frame: LoggedFrame) -> Any:
    """CALL and CALLRESULT: their payload; CALLERROR: its three fields; else the text as is."""
    try:
        message = orjson.loads(frame.frame)
    except orjson.JSONDecodeError:
        return frame.frame
    if not isinstance(message, list):
        return frame.frame
    if frame.message_type == "CALL" and len(message) == 4:
        return message[3]
    if frame.message_type == "CALLRESULT" and len(message) == 3:
        return message[2]
    if frame.message_type == "CALLERROR" and len(message) >= 4:
        details = message[4] if len(message) > 4 else {}
        return {"errorCode": message[2], "errorDescription": message[3], "errorDetails": details}
    return frame.frame
