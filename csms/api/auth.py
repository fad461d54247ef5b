"""Bearer tokens: who is calling, and whether their role may call this."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from csms.api.context import CLOCK, LIMITS, POOL, SETTINGS, TOKEN, USER
from csms.domain.rate_limits import (
    AbuseLimits,
    OpenLimit,
    Rate,
    SignInLimits,
    TokenBucket,
    address_key,
    enforce,
)
from csms.errors import ConfigurationError, Forbidden, Unauthenticated
from csms.settings import Settings
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
        request[USER], request[TOKEN] = await _caller(request)
    return await handler(request)


#: Paths that may carry the token as ``?access_token=`` (EventSource cannot send headers).
TOKEN_IN_QUERY = frozenset({"/api/v1/events"})


async def _caller(request: web.Request) -> tuple[User, str]:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not token and request.path in TOKEN_IN_QUERY and "access_token" in request.query:
        scheme, token = "bearer", request.query["access_token"]
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token> (POST /api/v1/tokens gives one)")
    token = token.strip()
    if not token.isascii():  # Tokens are URL-safe base64; anything else names none of them.
        raise Unauthenticated("the token is unknown, revoked or expired")
    user = await users.user_for_token(request.app[POOL], token, request.app[CLOCK]())
    if user is None:
        raise Unauthenticated("the token is unknown, revoked or expired")
    return user, token


def operator(request: web.Request) -> User:
    """The calling user, who must be an operator."""
    user = request[USER]
    if user.role != "operator":
        raise Forbidden("this needs an operator account")
    return user


_LIMIT_SETTINGS = (
    "sign_in_per_minute",
    "sign_in_failures_per_hour",
    "sign_in_account_failures_per_hour",
    "sign_up_per_hour",
    "bookings_per_hour",
    "streams_per_token",
)


def abuse_limits(settings: Settings) -> AbuseLimits:
    """This node's abuse limits, as the settings ask (see ``csms.domain.rate_limits``)."""
    for name in _LIMIT_SETTINGS:
        if getattr(settings, name) < 1:
            raise ConfigurationError(f"CSMS_{name.upper()} must be at least 1")
    if settings.sign_in_account_failures_per_hour <= settings.sign_in_failures_per_hour:
        # Else one address could drain the account-wide budget and lock its owner out.
        raise ConfigurationError(
            "CSMS_SIGN_IN_ACCOUNT_FAILURES_PER_HOUR must be larger than "
            "CSMS_SIGN_IN_FAILURES_PER_HOUR"
        )
    return AbuseLimits(
        sign_in=SignInLimits(
            per_address=Rate.per_minute(settings.sign_in_per_minute),
            failures_per_pair=Rate.per_hour(settings.sign_in_failures_per_hour),
            failures_per_account=Rate.per_hour(settings.sign_in_account_failures_per_hour),
        ),
        sign_up=TokenBucket(Rate.per_hour(settings.sign_up_per_hour)),
        bookings=TokenBucket(Rate.per_hour(settings.bookings_per_hour)),
        streams=OpenLimit(settings.streams_per_token),
    )


def install_limits(app: web.Application) -> None:
    """Give ``app`` its abuse limits (before it starts: they live as long as the app)."""
    app[LIMITS] = abuse_limits(app[SETTINGS])


def client_address(request: web.Request) -> str:
    """Who is calling, for limits: the TCP peer (behind a proxy, that is the proxy)."""
    return address_key(request.remote)


def limit_seconds(request: web.Request) -> float:
    """``now`` for the limits: the app's clock, so tests that move time move the limits too."""
    return request.app[CLOCK]().timestamp()


def rate_limit(request: web.Request, bucket: TokenBucket, key: str, what: str) -> None:
    """Count one request against ``key`` or refuse it (429 with Retry-After)."""
    enforce(bucket, key, limit_seconds(request), what)
