"""``GET /api/v1/events``: live updates as server-sent events, for both web pages.

Event types (``event:`` line; ``data:`` is JSON):

- ``connector`` — ``{charge_point_id, connector_id, status, error_code, status_at}``
  (connector 0 is the charger as a whole); operators only.
- ``charge_point`` — ``{charge_point_id, online, at}``; operators only.
- ``reservation`` — ``{id, status, status_reason, charge_point_id, connector_id, updated_at}``;
  the booking's driver and operators. Never carries the code.
- ``meter`` — ``{reservation_id}``: new meter readings of a charging booking (fetch it again to
  see the energy so far); its driver and operators.

Browsers' ``EventSource`` cannot send headers, so this endpoint also takes the bearer token as
``?access_token=``. A comment line every 15 s keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from csms.api.context import LIVE_FEED, USER
from csms.api.encoding import dumps
from csms.live_feed import CLOSE

routes = web.RouteTableDef()

KEEPALIVE_SECONDS = 15.0


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    feed = request.app[LIVE_FEED]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    subscription = feed.subscribe(user.id, user.role == "operator")
    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if event is CLOSE:
                break
            await response.write(
                b"event: " + event.kind.encode() + b"\ndata: " + dumps(event.data) + b"\n\n"
            )
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        feed.unsubscribe(subscription)
        with contextlib.suppress(Exception):
            await response.write_eof()
    return response
