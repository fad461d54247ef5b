"""Users and tokens: sign up, sign in, sign out, and an operator's revocation of a user's tokens.

Sign-up and sign-in are rate-limited (429 with Retry-After) before any password is hashed; see
``csms.domain.rate_limits`` for the rules and why a guesser cannot lock an owner out.

Sign-up answers 409 for an email that is registered already, which tells whoever asks that the
email has an account. csms has no email channel, so that answer is the only way a person who
forgot they signed up can learn it (a silent 201 would leave them with a password that never
works, and no clue why); the per-address sign-up limit bounds how fast anyone can probe.
"""

from __future__ import annotations

from aiohttp import web

from csms.api.auth import client_address, operator, rate_limit
from csms.api.context import CLOCK, LIMITS, POOL, SETTINGS, TOKEN, USER
from csms.api.encoding import json_response
from csms.api.requests import json_body, path_id
from csms.errors import NotFound
from csms.services import accounts
from csms.store import users

routes = web.RouteTableDef()


@routes.post("/api/v1/users")
async def sign_up(request: web.Request) -> web.Response:
    """Drivers sign themselves up; operators are made with ``csms operator add``."""
    body = await json_body(
        request, required=frozenset({"email", "password"}), optional=frozenset({"name"})
    )
    address = client_address(request)
    user = await accounts.sign_up(
        request.app[POOL],
        body["email"],
        body["password"],
        role="driver",
        name=body.get("name"),
        limit=lambda: rate_limit(request, request.app[LIMITS].sign_up, address, "sign-ups"),
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
        limits=request.app[LIMITS].sign_in,
        address=client_address(request),
    )
    return json_response({"token": token, "expires_at": expires_at}, status=201)


@routes.delete("/api/v1/tokens/current")
async def sign_out(request: web.Request) -> web.Response:
    """The token this request came with stops working (an open event stream ends soon after)."""
    await users.revoke_token(request.app[POOL], request[TOKEN])
    return web.Response(status=204)


@routes.delete("/api/v1/users/{user_id}/tokens")
async def revoke_user_tokens(request: web.Request) -> web.Response:
    """Operators: sign a user out everywhere (a lost phone, a leaked token)."""
    operator(request)
    user_id = path_id(request, "user_id")
    if not await users.revoke_user_tokens(request.app[POOL], user_id):
        raise NotFound(f"no user {user_id}")
    return web.Response(status=204)
