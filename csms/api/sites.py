"""Sites: ``POST /api/v1/sites``, ``GET /api/v1/sites``, ``GET``/``PATCH /api/v1/sites/{id}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL
from csms.api.encoding import json_response
from csms.api.requests import cursor_param, json_body, limit_param, page, path_id, string_field
from csms.domain.sites import check_timezone
from csms.errors import ValidationFailed
from csms.store import sites

routes = web.RouteTableDef()


@routes.post("/api/v1/sites")
async def create_site(request: web.Request) -> web.Response:
    operator(request)
    body = await json_body(
        request, required=frozenset({"name", "timezone"}), optional=_OPTIONS
    )
    row = await sites.create(
        request.app[POOL], string_field(body, "name"), check_timezone(body["timezone"]),
        codes_on_local_list=_flag(body, "codes_on_local_list") or False,
    )
    return json_response(dict(row), status=201)


@routes.patch("/api/v1/sites/{site_id}")
async def update_site(request: web.Request) -> web.Response:
    operator(request)
    site_id = path_id(request, "site_id")
    body = await json_body(request, required=frozenset(), optional=_OPTIONS | {"name"})
    row = await sites.update(
        request.app[POOL], site_id,
        name=string_field(body, "name") if "name" in body else None,
        codes_on_local_list=_flag(body, "codes_on_local_list"),
    )
    return json_response(dict(row))


#: Booking codes go on the site's chargers' local lists before their windows (OCPP S 3.5).
_OPTIONS = frozenset({"codes_on_local_list"})


def _flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise ValidationFailed(f"{name} must be true or false")
    return value


@routes.get("/api/v1/sites")
async def list_sites(request: web.Request) -> web.Response:
    limit = limit_param(request)
    rows = await sites.list_page(request.app[POOL], after=cursor_param(request, int), limit=limit)
    return json_response(page([dict(row) for row in rows], limit, "id"))


@routes.get("/api/v1/sites/{site_id}")
async def get_site(request: web.Request) -> web.Response:
    site_id = path_id(request, "site_id")
    return json_response(dict(await sites.get(request.app[POOL], site_id)))
