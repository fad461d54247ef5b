"""``GET /api/v1/events``: live updates as server-sent events, for both web pages.

Event types (``event:`` line; ``data:`` is JSON):

- ``connector`` — ``{charge_point_id, connector_id, status, error_code, status_at}``
  (connector 0 is the charger as a whole); operators only.
- ``charge_point`` — ``{charge_point_id, online, at}``; operators only.
- ``reservation`` — ``{id, status, status_reason, charge_point_id, connector_id, updated_at}``;
  the booking's driver and operators. Never carries the code.
- ``meter`` — ``{reservation_id}``: new meter readings of a charging booking (fetch it again to
  see the energy so far); its driver and operators.
- ``security_event`` — ``{id, charge_point_id, type, tech_info, occurred_at, received_at}``: a
  charger reported a security event that the 1.6 security white paper marks critical
  (``occurred_at`` is the charger's clock); operators only.
- ``notification`` — ``{id, type, reservation_id, payload, created_at}``: an event of the
  notification outbox (``booked``, ``reminder``, ``reserved``, ``moved``, ``failed``,
  ``no_show``, ``cancelled``, ``completed``; see :mod:`csms.store.notifications` for which
  change is which and what ``payload`` holds), the same ``id`` a webhook receives; the
  booking's driver and operators. Never carries the code.

Browsers' ``EventSource`` cannot send headers, so this endpoint also takes the bearer token as
``?access_token=``. A comment line every 15 s keeps proxies from closing an idle stream.

At most ``CSMS_STREAMS_PER_TOKEN`` streams may be open at once per token (each holds a socket,
a task and a queue); one more is refused with 429. The token is checked again every 15 s: a
stream ends soon after its token is revoked (sign-out, an operator) or expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import math

from aiohttp import web

from csms.api.context import CLOCK, LIMITS, LIVE_FEED, POOL, TOKEN, USER
from csms.api.encoding import dumps
from csms.errors import RateLimited
from csms.store import users
from csms.store.errors import is_unavailable
from csms.store.users import User
from csms.workers.live_feed import CLOSE, Event

routes = web.RouteTableDef()

KEEPALIVE_SECONDS = 15.0


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    token, streams = request[TOKEN], request.app[LIMITS].streams
    if not streams.acquire(token):
        # A closed page's stream is noticed at its next write, at most KEEPALIVE_SECONDS later.
        raise RateLimited(
            f"at most {streams.limit} event streams may be open per token; close one first",
            max(1, math.ceil(KEEPALIVE_SECONDS)),
        )
    try:
        return await _stream(request, request[USER])
    finally:
        streams.release(token)


async def _stream(request: web.Request, user: User) -> web.StreamResponse:
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
        await _pump(request, response, subscription.queue)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        feed.unsubscribe(subscription)
        with contextlib.suppress(Exception):
            await response.write_eof()
    return response


async def _pump(
    request: web.Request, response: web.StreamResponse, queue: asyncio.Queue[Event]
) -> None:
    """Write events until the feed closes the stream or the token stops working."""
    loop = asyncio.get_running_loop()
    checked = loop.time()
    while True:
        try:
            event: Event | None = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
        except TimeoutError:
            event = None
        if event is CLOSE:
            return
        # Checked on every keepalive, and every KEEPALIVE_SECONDS while events keep coming.
        if event is None or loop.time() - checked >= KEEPALIVE_SECONDS:
            if not await _token_works(request):
                return
            checked = loop.time()
        if event is None:
            await response.write(b": keepalive\n\n")
        else:
            await response.write(
                b"event: " + event.kind.encode() + b"\ndata: " + dumps(event.data) + b"\n\n"
            )


async def _token_works(request: web.Request) -> bool:
    try:
        user = await users.user_for_token(request.app[POOL], request[TOKEN], request.app[CLOCK]())
    except Exception as error:
        if is_unavailable(error):
            return True  # A database outage is no reason to drop streams: they resume after it.
        raise
    return user is not None
