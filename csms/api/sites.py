"""Sites: ``POST``/``GET /api/v1/sites``, ``GET``/``PATCH``/``DELETE /api/v1/sites/{id}``.

Every site carries ``has_tariff`` and ``problems`` (``"no_tariff"``: it cannot be booked), and
its booking ``terms`` (every term; ``terms_set`` names those the site sets itself, the rest are
the installation's). ``PATCH`` with ``terms`` changes the terms given; a ``null`` term goes back
to the default.
"""

from __future__ import annotations

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL, SETTINGS
from csms.api.encoding import json_response
from csms.api.requests import cursor_param, json_body, limit_param, page, path_id
from csms.domain.sites import UPDATABLE, check_site_fields, check_site_terms, site_json
from csms.domain.terms import BookingTerms, stored_after
from csms.store import sites

routes = web.RouteTableDef()


@routes.post("/api/v1/sites")
async def create_site(request: web.Request) -> web.Response:
    operator(request)
    required = frozenset({"name", "timezone"})
    body = await json_body(request, required=required, optional=UPDATABLE - required)
    given = check_site_fields(body)
    check_site_terms(given.get("terms", {}), _defaults(request))
    site = await sites.create(request.app[POOL], given)
    return json_response(site_json(site, _defaults(request)), status=201)


@routes.patch("/api/v1/sites/{site_id}")
async def update_site(request: web.Request) -> web.Response:
    """Change the fields given; ``null`` clears ``address``, ``latitude`` or ``longitude``
    (and is refused for the others)."""
    operator(request)
    site_id = path_id(request, "site_id")
    body = await json_body(request, required=frozenset(), optional=UPDATABLE)
    changes = check_site_fields(body)
    if "terms" in changes:
        current = await sites.get(request.app[POOL], site_id)
        check_site_terms(stored_after(current.terms, changes["terms"]), _defaults(request))
    site = await sites.update(request.app[POOL], site_id, changes)
    return json_response(site_json(site, _defaults(request)))


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
    defaults = _defaults(request)
    return json_response(page([site_json(site, defaults) for site in found], limit, "id"))


@routes.get("/api/v1/sites/{site_id}")
async def get_site(request: web.Request) -> web.Response:
    site_id = path_id(request, "site_id")
    return json_response(site_json(await sites.get(request.app[POOL], site_id), _defaults(request)))


def _defaults(request: web.Request) -> BookingTerms:
    """The terms of a site that sets none of its own."""
    return request.app[SETTINGS].booking_terms()
