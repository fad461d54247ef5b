"""Webhooks (operators): ``POST``/``GET /api/v1/webhooks``, ``DELETE /api/v1/webhooks/{id}``.

A webhook receives every event of the types it names (csms.domain.notifications.EVENT_TYPES)
as a signed JSON POST (csms.workers.notifications). The secret is given once and never
answered; each subscription shows how many deliveries are ``pending``, ``delivered``, ``dead``.
"""

from __future__ import annotations

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL
from csms.api.encoding import json_response
from csms.api.requests import json_body, path_id
from csms.domain.notifications import webhook_spec
from csms.store import webhooks

routes = web.RouteTableDef()


@routes.post("/api/v1/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    """201 with the subscription (without its secret); 422 for a bad url, secret or event."""
    operator(request)
    body = await json_body(request, required=frozenset({"url", "secret", "events"}))
    spec = webhook_spec(body["url"], body["secret"], body["events"])
    created = await webhooks.create(request.app[POOL], spec)
    return json_response({**created, "pending": 0, "delivered": 0, "dead": 0}, status=201)


@routes.get("/api/v1/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    operator(request)
    return json_response({"webhooks": await webhooks.list_all(request.app[POOL])})


@routes.delete("/api/v1/webhooks/{webhook_id}")
async def delete_webhook(request: web.Request) -> web.Response:
    """204; what was still to be delivered to it is dropped."""
    operator(request)
    await webhooks.delete(request.app[POOL], path_id(request, "webhook_id"))
    return web.Response(status=204)
