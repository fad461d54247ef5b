"""What the operator's charger page reads beyond the charge point itself (operators only):

- ``GET /api/v1/charge-points/{id}/status-history``: every status its connectors reported
  (S 4.9), newest first, paged, optionally of one connector (0: the charger as a whole);
- ``GET /api/v1/charge-points/{id}/identity``: what it said of itself at boot (S 4.2);
- ``GET /api/v1/charge-points/{id}/local-list``: its local authorization list (S 3.5) as csms
  last sent it, against the version csms has now.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL, SETTINGS
from csms.api.encoding import json_response
from csms.api.requests import cursor_param, limit_param, page, path_text, query_int
from csms.domain.identifiers import INT32_MAX
from csms.errors import NotFound
from csms.store import charge_points, local_lists, status_history

routes = web.RouteTableDef()

_PROFILE = "localauthlistmanagement"


@routes.get("/api/v1/charge-points/{cp_id}/status-history")
async def list_status_history(request: web.Request) -> web.Response:
    """The charger's reported statuses, newest first; 404 for an unknown charger."""
    operator(request)
    pool, cp_id = request.app[POOL], path_text(request, "cp_id")
    connector_id = query_int(request, "connector_id", maximum=INT32_MAX)
    before = cursor_param(request, int)
    limit = limit_param(request)
    if await charge_points.fetch_for_handshake(pool, cp_id) is None:
        raise NotFound(f"no charge point {cp_id!r}")
    changes = await status_history.list_page(
        pool, cp_id, connector_id=connector_id, before_id=before, limit=limit
    )
    return json_response(page([dataclasses.asdict(c) for c in changes], limit, "id"))


@routes.get("/api/v1/charge-points/{cp_id}/identity")
async def get_identity(request: web.Request) -> web.Response:
    """The BootNotification fields the charger sent last (null before its first boot)."""
    operator(request)
    cp_id = path_text(request, "cp_id")
    record = await charge_points.boot_record(request.app[POOL], cp_id)
    return json_response({"charge_point_id": cp_id, **dataclasses.asdict(record)})


@routes.get("/api/v1/charge-points/{cp_id}/local-list")
async def get_local_list(request: web.Request) -> web.Response:
    """The charger's local list: what it was last sent, and whether it is in step."""
    operator(request)
    pool, cp_id = request.app[POOL], path_text(request, "cp_id")
    record = await charge_points.boot_record(pool, cp_id)  # 404 first
    sent = await local_lists.sent(pool, cp_id)
    current = await local_lists.current_version(pool, cp_id)
    return json_response(_local_list(cp_id, request.app[SETTINGS].local_lists, record, sent,
                                     current))


def _local_list(
    cp_id: str,
    enabled: bool,
    record: charge_points.BootRecord,
    sent: local_lists.SentList | None,
    current: int,
) -> dict[str, Any]:
    profiles = record.supported_profiles
    managed = None if profiles is None else any(p.lower() == _PROFILE for p in profiles)
    # A failed attempt leaves the version the charger had (or -1: it never took one).
    version = None if sent is None or sent.version < 0 else sent.version
    return {
        "charge_point_id": cp_id,
        "enabled": enabled,
        "managed": managed,
        "version": version,
        "entries": None if version is None or sent is None else sent.entries,
        "synced_at": None if sent is None else sent.synced_at,
        "problem": None if sent is None else sent.problem,
        "current_version": current,
        "in_step": version is not None and sent is not None and sent.problem is None
        and version >= current,
    }
