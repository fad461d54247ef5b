"""Bearer tokens: who is calling, and whether their role may call this."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from csms.api.context import CLOCK, POOL, USER
from csms.errors import Forbidden, Unauthenticated
from csms.store import users
from csms.store.users import User

#: (method, path) pairs anyone may call.
PUBLIC = frozenset(
    {
        ("POST", "/api/v1/users"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/api/v1/openapi.json"),
    }
)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/") and (request.method, request.path) not in PUBLIC:
        request[USER] = await _caller(request)
    return await handler(request)


#: Paths that may carry the token as ``?access_token=`` (EventSource cannot send headers).
TOKEN_IN_QUERY = frozenset({"/api/v1/events"})


async def _caller(request: web.Request) -> User:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not token and request.path in TOKEN_IN_QUERY and "access_token" in request.query:
        scheme, token = "bearer", request.query["access_token"]
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token> (POST /api/v1/tokens gives one)")
    user = await users.user_for_token(request.app[POOL], token.strip(), request.app[CLOCK]())
    if user is None:
        raise Unauthenticated("the token is unknown or has expired")
    return user


def operator(request: web.Request) -> User:
    """The calling user, who must be an operator."""
    user = request[USER]
    if user.role != "operator":
        raise Forbidden("this needs an operator account")
    return user
