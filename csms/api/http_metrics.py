"""HTTP request latency per route, for ``/metrics``: an aiohttp middleware.

Labelled by the route's template (``/api/v1/charge-points/{cp_id}``), never by the path a
client sent, so that no client can grow the label set: a path no route matches is counted as
``(unmatched)``, a method aiohttp has no route for as ``(other)``. WebSocket upgrades (the OCPP
endpoint) are not requests that end: they are left out. Event streams are counted once they end.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from csms import metrics

UNMATCHED = "(unmatched)"
#: The client went away before its answer (nginx's 499): counted as a 4xx, not as our fault.
CLIENT_GONE = 499
_METHODS = frozenset(hdrs.METH_ALL)

REQUEST_SECONDS = metrics.histogram(
    "csms_http_request_duration_seconds",
    "HTTP requests answered by this node, by route template, method and status class, "
    "from the request's arrival at the middleware until its answer is ready.",
    ("route", "method", "status"),
)


def route_of(request: web.Request) -> str:
    """The template of the route that matched ``request`` (``(unmatched)`` when none did)."""
    resource = request.match_info.route.resource
    if resource is None:
        return UNMATCHED
    return resource.canonical


@web.middleware
async def http_metrics_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Observe each request's duration (outermost, so it sees the answer errors became)."""
    if request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
        return await handler(request)
    started = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    except asyncio.CancelledError:
        status = CLIENT_GONE
        raise
    finally:
        method = request.method if request.method in _METHODS else metrics.OTHER
        REQUEST_SECONDS.observe(
            time.monotonic() - started, route_of(request), method, f"{status // 100}xx"
        )
