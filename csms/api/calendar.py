"""``GET /api/v1/reservations/{id}/calendar.ics``: a booking as an iCalendar file, for its
driver (with the code) or an operator (without it); 404 for anyone else."""

from __future__ import annotations

from aiohttp import web

from csms.api.booking import visible_reservation
from csms.api.context import CLOCK, POOL, USER
from csms.domain.calendar import CalendarBooking, booking_calendar
from csms.errors import NotFound
from csms.store import sites

routes = web.RouteTableDef()


@routes.get("/api/v1/reservations/{reservation_id}/calendar.ics")
async def calendar(request: web.Request) -> web.Response:
    user, pool = request[USER], request.app[POOL]
    booking = await visible_reservation(request)
    try:
        site = await sites.get(pool, booking.site_id)
    except NotFound:  # A removed site: the booking stays on record without a place.
        site = None
    event = CalendarBooking(
        reservation_id=booking.id,
        created_at=booking.created_at,
        start=booking.start,
        end=booking.end,
        status=str(booking.status),
        site_name=None if site is None else site.name,
        site_address=None if site is None else site.address,
        latitude=None if site is None else site.latitude,
        longitude=None if site is None else site.longitude,
        charge_point_id=booking.charge_point_id,
        connector_id=booking.connector_id,
        code=booking.code if booking.user_id == user.id else None,
    )
    return web.Response(
        body=booking_calendar(event, request.app[CLOCK]()).encode(),
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": f'attachment; filename="booking-{booking.id}.ics"',
        },
    )
