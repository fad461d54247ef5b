"""``GET /api/v1/reservations/{id}/receipt``: what a finished booking cost (a session, a
no-show, a late cancellation), for its driver or an operator; 404 for anyone else, 409
``no_receipt`` while it has none."""

from __future__ import annotations

from aiohttp import web

from csms.api.context import POOL, USER
from csms.api.encoding import json_response
from csms.api.requests import INT32, path_id
from csms.booking import store
from csms.booking.receipts import receipt
from csms.errors import NotFound
from csms.store import sites

routes = web.RouteTableDef()


@routes.get("/api/v1/reservations/{reservation_id}/receipt")
async def get_receipt(request: web.Request) -> web.Response:
    user, pool = request[USER], request.app[POOL]
    reservation_id = path_id(request, "reservation_id", maximum=INT32[1])
    booking = await store.get(pool, reservation_id)
    if booking is None or not (booking.user_id == user.id or user.role == "operator"):
        raise NotFound(f"no reservation {reservation_id}")
    history = await store.history(pool, booking.id)
    try:
        found = await sites.get(pool, booking.site_id)
        site = {"id": found.id, "name": found.name, "address": found.address}
    except NotFound:  # A removed site: the receipt stays, without a place.
        site = {"id": booking.site_id, "name": None, "address": None}
    return json_response(receipt(booking, history[-1].at, site))
