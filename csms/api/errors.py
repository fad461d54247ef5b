"""The HTTP edge of the error root: every error leaves as ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from csms import errors
from csms.api.encoding import json_response
from csms.store.errors import is_unavailable

log = logging.getLogger(__name__)

_STATUS: dict[type[errors.CsmsError], int] = {
    errors.ValidationFailed: 422,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Conflict: 409,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.RateLimited: 429,
    errors.ChargePointNotConnected: 409,
    errors.ChargePointTimeout: 504,
    errors.ChargePointCallError: 502,
    errors.DatabaseUnavailable: 503,
}

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


#: Seconds a client is asked to wait while the database is away (it restarts within seconds).
DATABASE_RETRY_AFTER = 5


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: object
) -> web.Response:
    body: dict[str, object] = {"code": code, "message": message, **extra}
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="csms"'
    return json_response({"error": body}, status=status, headers=headers or None)


def _database_unavailable(message: str) -> web.Response:
    return error_response(
        503,
        errors.DatabaseUnavailable.code,
        message,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


def status_of(error: errors.CsmsError) -> int:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.ChargePointCallError as error:
        return error_response(
            502, error.code, error.message, ocpp_error_code=error.error_code, details=error.details
        )
    except errors.DatabaseUnavailable as error:
        return _database_unavailable(error.message)
    except errors.RateLimited as error:
        # Retry-After in whole seconds, so clients (and proxies) know when to come back.
        return error_response(
            429, error.code, error.message, headers={"Retry-After": str(error.retry_after)}
        )
    except errors.CsmsError as error:
        return error_response(status_of(error), error.code, error.message)
    except web.HTTPException as error:
        if error.status < 400 or request.path.startswith("/ocpp/"):
            raise
        code = _HTTP_CODES.get(error.status, "http_error")
        return error_response(error.status, code, error.reason)
    except Exception as error:
        if is_unavailable(error):
            log.warning("%s %s: database unavailable: %r", request.method, request.path, error)
            return _database_unavailable("the database is unavailable; try again shortly")
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal_error", "internal error")
