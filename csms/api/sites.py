"""Sites: ``POST``/``GET /api/v1/sites``, ``GET``/``PATCH``/``DELETE /api/v1/sites/{id}``.

Every site carries ``has_tariff`` and ``problems`` (``"no_tariff"``: it cannot be booked).
"""

from __future__ import annotations

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL
from csms.api.encoding import json_response
from csms.api.requests import cursor_param, json_body, limit_param, page, path_id
from csms.domain.sites import UPDATABLE, check_site_fields, site_json
from csms.store import sites

routes = web.RouteTableDef()


@routes.post("/api/v1/sites")
async def create_site(request: web.Request) -> web.Response:
    operator(request)
    required = frozenset({"name", "timezone"})
    body = await json_body(request, required=required, optional=UPDATABLE - required)
    site = await sites.create(request.app[POOL], check_site_fields(body))
    return json_response(site_json(site), status=201)


@routes.patch("/api/v1/sites/{site_id}")
async def update_site(request: web.Request) -> web.Response:
    """Change the fields given; ``null`` clears ``address``, ``latitude`` or ``longitude``
    (and is refused for the others)."""
    operator(request)
    site_id = path_id(request, "site_id")
    body = await json_body(request, required=frozenset(), optional=UPDATABLE)
    site = await sites.update(request.app[POOL], site_id, check_site_fields(body))
    return json_response(site_json(site))


@routes.delete("/api/v1/sites/{site_id}")
async def delete_site(request: web.Request) -> web.Response:
    """Remove a site and its tariff; 409 ``site_in_use`` while charge points stand there."""
    operator(request)
    await sites.delete(request.app[POOL], path_id(request, "site_id"))
    return web.Response(status=204)


@routes.get("/api/v1/sites")
async def list_sites(request: web.Request) -> web.Response:
    limit = limit_param(request)
    found = await sites.list_page(request.app[POOL], after=cursor_param(request, int), limit=limit)
    return json_response(page([site_json(site) for site in found], limit, "id"))


@routes.get("/api/v1/sites/{site_id}")
async def get_site(request: web.Request) -> web.Response:
    site_id = path_id(request, "site_id")
    return json_response(site_json(await sites.get(request.app[POOL], site_id)))
