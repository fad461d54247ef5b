"""Charge points: register, list with live status, detail, and remote commands."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from csms.api.auth import operator
from csms.api.context import BOOKING, COMMANDS, POOL, SETTINGS
from csms.api.encoding import json_response
from csms.api.errors import error_response
from csms.api.fleet import fleet_filter
from csms.api.requests import (
    cursor_param,
    json_body,
    limit_param,
    optional_int_field,
    page,
    parse_int,
    path_text,
    query_flag,
    reject_nul,
)
from csms.errors import NotFound, ValidationFailed
from csms.services import charge_points as service
from csms.store import charge_points, events, security

routes = web.RouteTableDef()

#: Longest a command call may wait for the charger (seconds), whatever the client asks.
MAX_COMMAND_TIMEOUT = 300.0


def _present(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)


@routes.post("/api/v1/charge-points")
async def register(request: web.Request) -> web.Response:
    operator(request)
    body = await json_body(
        request,
        required=frozenset({"id", "connectors"}),
        optional=frozenset({"site_id", "authorization_key", "security_profile"}),
    )
    site_id = optional_int_field(body, "site_id")
    pool = request.app[POOL]
    cp_id = await service.register(
        pool,
        body["id"],
        site_id=site_id,
        authorization_key=body.get("authorization_key"),
        connectors=body["connectors"],
        security_profile=body.get("security_profile"),
        served=request.app[SETTINGS].served_security(),
    )
    return json_response(_present(await charge_points.get(pool, cp_id)), status=201)


@routes.get("/api/v1/charge-points")
async def list_charge_points(request: web.Request) -> web.Response:
    """A page of chargers by id with their live status and fleet ``state``; ``state``
    (repeatable or comma-separated), ``site_id`` and ``q`` (id, vendor, model or serial
    number, without case) narrow it."""
    operator(request)
    limit = limit_param(request)
    rows = await charge_points.list_page(
        request.app[POOL],
        after=cursor_param(request, str),
        limit=limit,
        where=fleet_filter(request),
    )
    return json_response(page([_present(row) for row in rows], limit, "id"))


@routes.get("/api/v1/charge-points/{cp_id}")
async def get_charge_point(request: web.Request) -> web.Response:
    operator(request)
    pool = request.app[POOL]
    cp_id = path_text(request, "cp_id")
    detail = _present(await charge_points.get(pool, cp_id))
    detail["recent_events"] = [dict(row) for row in await events.list_recent(pool, cp_id, 20)]
    return json_response(detail)


@routes.get("/api/v1/charge-points/{cp_id}/security-events")
async def list_security_events(request: web.Request) -> web.Response:
    """The charger's security events (SecurityEventNotification), newest first."""
    operator(request)
    pool = request.app[POOL]
    cp_id = path_text(request, "cp_id")
    limit = limit_param(request)
    before = cursor_param(request, int)
    if await charge_points.fetch_for_handshake(pool, cp_id) is None:
        raise NotFound(f"no charge point {cp_id!r}")
    rows = await security.list_security_events(pool, cp_id, before=before, limit=limit)
    return json_response(page([dataclasses.asdict(row) for row in rows], limit, "id"))


@routes.patch("/api/v1/charge-points/{cp_id}")
async def update_charge_point(request: web.Request) -> web.Response:
    """Move a charger to another site (``site_id``, null: none) or set its
    ``registration_status``; 409 ``charge_point_in_use`` when live bookings would be stranded."""
    operator(request)
    body = await json_body(
        request, required=frozenset(), optional=frozenset({"site_id", "registration_status"})
    )
    pool, cp_id = request.app[POOL], path_text(request, "cp_id")
    await charge_points.update(pool, cp_id, service.check_changes(body))
    return json_response(_present(await charge_points.get(pool, cp_id)))


@routes.delete("/api/v1/charge-points/{cp_id}")
async def delete_charge_point(request: web.Request) -> web.Response:
    """Remove a charger; its past bookings and transactions stay on record. 409
    ``charge_point_in_use`` while it has a live booking or an open transaction."""
    operator(request)
    await charge_points.delete(request.app[POOL], path_text(request, "cp_id"))
    return web.Response(status=204)


def _connector_id(request: web.Request) -> int:
    return parse_int(request.match_info["connector_id"], "connector_id", maximum=999)


@routes.post("/api/v1/charge-points/{cp_id}/connectors")
async def add_connector(request: web.Request) -> web.Response:
    """Register a connector ``{connector_id, connector_type, max_power_kw}``; 201 the charger."""
    operator(request)
    body = await json_body(
        request, required=frozenset({"connector_id", "connector_type", "max_power_kw"})
    )
    pool, cp_id = request.app[POOL], path_text(request, "cp_id")
    await service.add_connector(pool, cp_id, body)
    return json_response(_present(await charge_points.get(pool, cp_id)), status=201)


@routes.patch("/api/v1/charge-points/{cp_id}/connectors/{connector_id}")
async def update_connector(request: web.Request) -> web.Response:
    """Change ``out_of_service`` (never offered for booking while true), ``connector_type``
    or ``max_power_kw``; live bookings keep what they were booked at."""
    operator(request)
    body = await json_body(
        request, required=frozenset(), optional=charge_points.CONNECTOR_UPDATABLE
    )
    changes = service.check_connector_changes(body)
    connector_id = _connector_id(request)
    pool, cp_id = request.app[POOL], path_text(request, "cp_id")
    await charge_points.update_connector(pool, cp_id, connector_id, changes)
    return json_response(_present(await charge_points.get(pool, cp_id)))


@routes.delete("/api/v1/charge-points/{cp_id}/connectors/{connector_id}")
async def delete_connector(request: web.Request) -> web.Response:
    """Remove a connector; 409 ``connector_in_use`` with a live booking or an open
    transaction on it."""
    operator(request)
    connector_id = _connector_id(request)
    await charge_points.delete_connector(
        request.app[POOL], path_text(request, "cp_id"), connector_id
    )
    return web.Response(status=204)


@routes.post("/api/v1/charge-points/{cp_id}/commands/{action}")
async def command(request: web.Request) -> web.Response:
    """Send any CSMS-initiated 1.6 call with the OCPP payload as the body; answer its result."""
    operator(request)
    raw = await request.read()
    try:
        payload = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise ValidationFailed("body must be the OCPP payload as a JSON object") from None
    if not isinstance(payload, dict):
        raise ValidationFailed("body must be the OCPP payload as a JSON object")
    reject_nul(payload, "the OCPP payload")
    cp_id, action = path_text(request, "cp_id"), path_text(request, "action")
    if action == "RemoteStartTransaction":
        override = query_flag(request, "override_booking")
        await request.app[BOOKING].clear_for_remote_start(cp_id, payload, override=override)
    answer = await service.send_command(
        request.app[POOL],
        request.app[COMMANDS],
        cp_id,
        action,
        payload,
        _timeout(request),
    )
    return json_response(answer)


def _timeout(request: web.Request) -> float | None:
    raw = request.query.get("timeout")
    if raw is None:
        return None
    try:
        timeout = float(raw)
    except ValueError:
        raise ValidationFailed("timeout must be a number of seconds") from None
    if not 0 < timeout <= MAX_COMMAND_TIMEOUT:
        raise ValidationFailed(f"timeout must be more than 0 and at most {MAX_COMMAND_TIMEOUT:g}")
    return timeout


@routes.put("/api/v1/charge-points/{cp_id}/authorization-key")
async def put_authorization_key(request: web.Request) -> web.Response:
    """Set or rotate the charger's AuthorizationKey, its HTTP Basic password (SEC security
    profiles 1 and 2, use case A01).

    Sent by ChangeConfiguration and stored (hashed) once the charger takes it; Rejected or
    NotSupported: 409 with its answer, the old key stays. ``?offline=true`` sends nothing and
    only stores it, for a charger provisioned with the key by other means.
    """
    operator(request)
    body = await json_body(
        request, required=frozenset({"authorization_key"}), optional=frozenset({"send_as"})
    )
    send_as = _key_format(body.get("send_as", service.KeyFormat.TEXT.value))
    offline = query_flag(request, "offline")
    key = service.check_new_key(body["authorization_key"], None if offline else send_as)
    timeout = _timeout(request)
    pool, cp_id = request.app[POOL], path_text(request, "cp_id")
    if offline:
        await service.store_authorization_key(pool, cp_id, key)
        return json_response({"charge_point_id": cp_id, "sent_to_charger": False, "status": None})
    change = await service.send_authorization_key(
        pool, request.app[COMMANDS], cp_id, key, send_as, timeout
    )
    status = change.answer.get("status")
    if not change.stored:
        return error_response(
            409,
            "key_rejected",
            f"the charger answered {status}; the stored AuthorizationKey is unchanged",
            answer=change.answer,
        )
    return json_response({"charge_point_id": cp_id, "sent_to_charger": True, "status": status})


@routes.delete("/api/v1/charge-points/{cp_id}/authorization-key")
async def delete_authorization_key(request: web.Request) -> web.Response:
    """Forget the AuthorizationKey: the charger may connect without Basic auth (profile 0)."""
    operator(request)
    pool, cp_id = request.app[POOL], path_text(request, "cp_id")
    await service.remove_authorization_key(pool, cp_id)
    return json_response(_present(await charge_points.get(pool, cp_id)))


def _key_format(value: object) -> service.KeyFormat:
    for key_format in service.KeyFormat:
        if value == key_format.value:
            return key_format
    formats = " or ".join(f'"{f.value}"' for f in service.KeyFormat)
    raise ValidationFailed(f"send_as must be {formats}")
