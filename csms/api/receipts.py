"""``GET /api/v1/reservations/{id}/receipt``: what a finished booking cost (a session, a
no-show, a late cancellation), for its driver or an operator; 404 for anyone else, 409
``no_receipt`` while it has none."""

from __future__ import annotations

from aiohttp import web

from csms.api.booking import visible_reservation
from csms.api.context import POOL
from csms.api.encoding import json_response
from csms.booking import store
from csms.booking.receipts import receipt
from csms.errors import NotFound
from csms.store import sites

routes = web.RouteTableDef()


@routes.get("/api/v1/reservations/{reservation_id}/receipt")
async def get_receipt(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    booking = await visible_reservation(request)
    history = await store.history(pool, booking.id)
    try:
        found = await sites.get(pool, booking.site_id)
        site = {"id": found.id, "name": found.name, "address": found.address}
    except NotFound:  # A removed site: the receipt stays, without a place.
        site = {"id": booking.site_id, "name": None, "address": None}
    return json_response(receipt(booking, history[-1].at, site))
