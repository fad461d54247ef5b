"""Users and tokens: ``POST /api/v1/users``, ``POST /api/v1/tokens``."""

from __future__ import annotations

from aiohttp import web

from csms.api.context import CLOCK, POOL, SETTINGS, USER
from csms.api.encoding import json_response
from csms.api.requests import json_body
from csms.services import accounts

routes = web.RouteTableDef()


@routes.post("/api/v1/users")
async def sign_up(request: web.Request) -> web.Response:
    """Drivers sign themselves up; operators are made with ``csms operator add``."""
    body = await json_body(
        request, required=frozenset({"email", "password"}), optional=frozenset({"name"})
    )
    user = await accounts.sign_up(
        request.app[POOL], body["email"], body["password"], role="driver", name=body.get("name")
    )
    return json_response({"id": user.id, "email": user.email, "name": user.name}, status=201)


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    """Who the token belongs to (pages show the name and pick the view by role)."""
    user = request[USER]
    return json_response({"id": user.id, "email": user.email, "name": user.name, "role": user.role})


@routes.post("/api/v1/tokens")
async def sign_in(request: web.Request) -> web.Response:
    body = await json_body(request, required=frozenset({"email", "password"}))
    token, expires_at = await accounts.sign_in(
        request.app[POOL],
        request.app[CLOCK],
        body["email"],
        body["password"],
        request.app[SETTINGS].token_ttl,
    )
    return json_response({"token": token, "expires_at": expires_at}, status=201)
