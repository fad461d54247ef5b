"""Sites: ``POST /api/v1/sites``, ``GET /api/v1/sites``, ``GET /api/v1/sites/{id}``."""

from __future__ import annotations

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL
from csms.api.encoding import json_response
from csms.api.requests import cursor_param, json_body, limit_param, page, path_id, string_field
from csms.domain.sites import check_timezone
from csms.store import sites

routes = web.RouteTableDef()


@routes.post("/api/v1/sites")
async def create_site(request: web.Request) -> web.Response:
    operator(request)
    body = await json_body(request, required=frozenset({"name", "timezone"}))
    row = await sites.create(
        request.app[POOL], string_field(body, "name"), check_timezone(body["timezone"])
    )
    return json_response(dict(row), status=201)


@routes.get("/api/v1/sites")
async def list_sites(request: web.Request) -> web.Response:
    limit = limit_param(request)
    rows = await sites.list_page(request.app[POOL], after=cursor_param(request, int), limit=limit)
    return json_response(page([dict(row) for row in rows], limit, "id"))


@routes.get("/api/v1/sites/{site_id}")
async def get_site(request: web.Request) -> web.Response:
    site_id = path_id(request, "site_id")
    return json_response(dict(await sites.get(request.app[POOL], site_id)))
