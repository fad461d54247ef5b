"""The fleet console's reads: ``GET /api/v1/charge-points/summary`` (chargers per state) and
``GET /api/v1/alerts`` (what needs an operator), and the filters the charger list shares with
them (``state``, ``site_id``, ``q``)."""

from __future__ import annotations

import base64
import dataclasses
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL
from csms.api.encoding import json_response
from csms.api.requests import cursor_param, limit_param, query_int, query_text
from csms.domain.identifiers import INT32_MAX
from csms.errors import ValidationFailed
from csms.store import fleet
from csms.store.charge_points import STATES, FleetFilter

routes = web.RouteTableDef()

#: Longest text a fleet search takes (ids are at most 48 characters, vendors 20, models 20).
MAX_QUERY_LENGTH = 100


def fleet_filter(request: web.Request) -> FleetFilter:
    """``state`` (repeatable or comma-separated), ``site_id`` and ``q`` of a fleet request;
    422 for a state that is not one of :data:`STATES` or a search text too long."""
    states: list[str] = []
    for raw in request.query.getall("state", []):
        for state in raw.split(","):
            if state not in STATES:
                raise ValidationFailed(f"state must be one of {', '.join(STATES)}")
            if state not in states:
                states.append(state)
    text = query_text(request, "q")
    if text is not None and len(text) > MAX_QUERY_LENGTH:
        raise ValidationFailed(f"q must be at most {MAX_QUERY_LENGTH} characters")
    text = (text or "").strip() or None
    return FleetFilter(states=tuple(states), site_id=query_int(request, "site_id"), text=text)


@routes.get("/api/v1/charge-points/summary")
async def fleet_summary(request: web.Request) -> web.Response:
    """How many chargers match ``site_id`` and ``q``, in total and per state."""
    operator(request)
    found = await fleet.summary(request.app[POOL], fleet_filter(request))
    return json_response(dataclasses.asdict(found))


@routes.get("/api/v1/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    """Faulted and offline chargers and bookings failed in the last 24 h, newest first."""
    operator(request)
    limit = limit_param(request)
    found = await fleet.alerts(request.app[POOL], after=_alert_cursor(request), limit=limit)
    next_cursor = None
    if len(found) == limit:
        next_cursor = _encode(found[-1].position())
    return json_response(
        {"items": [_alert_json(alert) for alert in found], "next_cursor": next_cursor}
    )


def _alert_json(alert: fleet.Alert) -> dict[str, Any]:
    item = dataclasses.asdict(alert)
    for optional in ("connector_id", "reservation_id"):
        if item[optional] is None:
            del item[optional]
    return item


def _encode(position: fleet.AlertPosition) -> str:
    values = [position.since.isoformat(), *dataclasses.astuple(position)[1:]]
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _alert_cursor(request: web.Request) -> fleet.AlertPosition | None:
    """The position a page of alerts ended at; 422 for anything this API did not give out."""
    value = cursor_param(request, list)
    if value is None:
        return None
    refused = ValidationFailed("cursor is not one this API gave out")
    if len(value) != 5 or not all(isinstance(v, str) for v in value[:3]):
        raise refused
    since, kind, cp_id, connector_id, reservation_id = value
    if kind not in fleet.ALERT_KINDS or "\x00" in cp_id or len(cp_id) > 48:
        raise refused
    if not all(type(n) is int and -1 <= n <= INT32_MAX for n in (connector_id, reservation_id)):
        raise refused
    try:
        at = datetime.fromisoformat(since)
    except ValueError:
        raise refused from None
    if at.tzinfo is None:
        raise refused
    return fleet.AlertPosition(at, kind, cp_id, connector_id, reservation_id)
