"""Drivers' booking endpoints: availability, reservations; operators' tariffs."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from aiohttp import web

from csms.api.auth import operator, rate_limit
from csms.api.context import BOOKING, LIMITS, POOL, USER
from csms.api.encoding import json_response
from csms.api.requests import (
    INT32,
    cursor_param,
    header_text,
    int_field,
    json_body,
    limit_param,
    page,
    path_id,
    query_flag,
    query_int,
    query_text,
    query_time,
    time_value,
)
from csms.booking import store
from csms.booking.changes import MoveRequest
from csms.booking.records import Reservation
from csms.booking.search import Near, Search
from csms.booking.service import BookingRequest
from csms.booking.store import ListFilter
from csms.domain.geo import parse_point
from csms.domain.identifiers import INT32_MAX
from csms.domain.money import check_places
from csms.domain.search_pages import read_position
from csms.domain.tariffs import parse_tariff
from csms.errors import NotFound, ValidationFailed
from csms.store import tariffs

routes = web.RouteTableDef()

MAX_IDEMPOTENCY_KEY = 200


def _decimal(value: str | None, name: str, *, maximum: Decimal) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationFailed(f"{name} must be a number") from None
    if not number.is_finite() or not Decimal(0) < number <= maximum:
        raise ValidationFailed(f"{name} must be more than 0 and at most {maximum}")
    return check_places(number, name)


#: ``radius_km`` when ``near`` is given without one, and the widest a search may ask for.
DEFAULT_RADIUS_KM = Decimal(25)
MAX_RADIUS_KM = Decimal(1000)


@routes.get("/api/v1/availability")
async def availability(request: web.Request) -> web.Response:
    """One page of free connectors; ``near=LAT,LON`` (+ ``radius_km``) orders by distance."""
    query = request.query
    near = _near(request)
    raw_cursor = cursor_param(request, list)
    search = Search(
        start=time_value(query.get("start"), "start"),
        end=time_value(query.get("end"), "end"),
        site_id=query_int(request, "site_id"),
        connector_type=query_text(request, "connector_type") or None,
        min_power_kw=_decimal(query.get("min_power_kw"), "min_power_kw", maximum=Decimal(1000)),
        energy_kwh=_decimal(query.get("energy_kwh"), "energy_kwh", maximum=Decimal(1000)),
        near=near,
        limit=limit_param(request),
        after=None if raw_cursor is None else read_position(raw_cursor, near=near is not None),
    )
    return json_response(await request.app[BOOKING].availability(search))


def _near(request: web.Request) -> Near | None:
    """``near`` and ``radius_km``; a radius without a place to measure from is refused."""
    raw_point = query_text(request, "near")
    radius = _decimal(request.query.get("radius_km"), "radius_km", maximum=MAX_RADIUS_KM)
    if raw_point is None:
        if radius is not None:
            raise ValidationFailed("radius_km needs near=LAT,LON")
        return None
    point = parse_point(raw_point, "near")
    return Near(point, float(DEFAULT_RADIUS_KM if radius is None else radius))


@routes.post("/api/v1/reservations")
async def book(request: web.Request) -> web.Response:
    # Counted first, whatever the outcome: each attempt costs connector locks (abuse limits).
    rate_limit(request, request.app[LIMITS].bookings, str(request[USER].id), "booking attempts")
    body = await json_body(
        request, required=frozenset({"charge_point_id", "connector_id", "start", "end"})
    )
    cp_id = body["charge_point_id"]
    if not isinstance(cp_id, str):
        raise ValidationFailed("charge_point_id must be a string")
    connector_id = int_field(body, "connector_id", bounds=INT32)
    key = header_text(request, "Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters")
    booking = BookingRequest(
        charge_point_id=cp_id,
        connector_id=connector_id,
        start=time_value(body["start"], "start"),
        end=time_value(body["end"], "end"),
        idempotency_key=key,
    )
    return json_response(await request.app[BOOKING].book(request[USER], booking), status=201)


@routes.get("/api/v1/reservations")
async def list_reservations(request: web.Request) -> web.Response:
    """The caller's reservations, newest first; ``all=true`` (operators) lists everyone's.

    ``charge_point_id`` and ``from``/``to`` (RFC 3339) narrow it to one charger and to windows
    overlapping [from, to) — the operator page's timeline of a day.
    """
    everyone = query_flag(request, "all")
    if everyone:
        operator(request)
    overlaps_from, overlaps_to = query_time(request, "from"), query_time(request, "to")
    if overlaps_from is not None and overlaps_to is not None and overlaps_from > overlaps_to:
        raise ValidationFailed("from must not be later than to")
    where = ListFilter(
        user_id=None if everyone else request[USER].id,
        charge_point_id=query_text(request, "charge_point_id") or None,
        overlaps_from=overlaps_from,
        overlaps_to=overlaps_to,
    )
    limit = limit_param(request)
    items = await request.app[BOOKING].list(
        request[USER], where, before=cursor_param(request, int, maximum=INT32_MAX), limit=limit
    )
    return json_response(page(items, limit, "id"))


def _reservation_id(request: web.Request) -> int:
    return path_id(request, "reservation_id", maximum=INT32_MAX)


@routes.get("/api/v1/reservations/{reservation_id}")
async def get_reservation(request: web.Request) -> web.Response:
    return json_response(await request.app[BOOKING].get(request[USER], _reservation_id(request)))


@routes.delete("/api/v1/reservations/{reservation_id}")
async def cancel_reservation(request: web.Request) -> web.Response:
    return json_response(await request.app[BOOKING].cancel(request[USER], _reservation_id(request)))


@routes.patch("/api/v1/reservations/{reservation_id}")
async def move_reservation(request: web.Request) -> web.Response:
    """A driver changes their booking's window (``start``, ``end``) within its terms; an
    operator also moves a booking that has not started charging to another connector
    (``charge_point_id``, ``connector_id``). Fields left out stay. 409 ``slot_taken``,
    409 ``not_movable``, 422 for a bad window."""
    body = await json_body(request, required=frozenset(), optional=_MOVABLE)
    if not body:
        raise ValidationFailed(f"nothing to change: give {', '.join(sorted(_MOVABLE))}")
    if body.keys() & {"charge_point_id", "connector_id"}:
        operator(request)  # A driver's booking stays where it is; its window may move.
    cp_id = body.get("charge_point_id")
    if "charge_point_id" in body and (not isinstance(cp_id, str) or not 1 <= len(cp_id) <= 48):
        raise ValidationFailed("charge_point_id must be a charge point's id")
    to = MoveRequest(
        start=time_value(body["start"], "start") if "start" in body else None,
        end=time_value(body["end"], "end") if "end" in body else None,
        charge_point_id=cp_id,
        connector_id=(
            int_field(body, "connector_id", bounds=INT32) if "connector_id" in body else None
        ),
    )
    booking = request.app[BOOKING]
    return json_response(await booking.move(request[USER], _reservation_id(request), to))


_MOVABLE = frozenset({"start", "end", "charge_point_id", "connector_id"})


@routes.put("/api/v1/sites/{site_id}/tariff")
async def put_tariff(request: web.Request) -> web.Response:
    operator(request)
    site_id = path_id(request, "site_id")
    body = await json_body(
        request,
        required=frozenset({"currency", "reservation_fee_per_hour", "session_fee", "periods"}),
    )
    return json_response(await tariffs.put(request.app[POOL], site_id, parse_tariff(body)))


@routes.get("/api/v1/sites/{site_id}/tariff")
async def get_tariff(request: web.Request) -> web.Response:
    site_id = path_id(request, "site_id")
    stored = await tariffs.get_json(request.app[POOL], site_id)
    if stored is None:
        raise NotFound(f"site {site_id} has no tariff")
    return json_response(stored)


@routes.delete("/api/v1/sites/{site_id}/tariff")
async def delete_tariff(request: web.Request) -> web.Response:
    """The site is no longer offered; 409 ``tariff_in_use`` while live bookings there were
    priced by it."""
    operator(request)
    await tariffs.delete(request.app[POOL], path_id(request, "site_id"))
    return web.Response(status=204)


async def visible_reservation(request: web.Request) -> Reservation:
    """The booking the path names, if the caller is its driver or an operator (else 404)."""
    user = request[USER]
    reservation_id = path_id(request, "reservation_id", maximum=INT32[1])
    booking = await store.get(request.app[POOL], reservation_id)
    if booking is None or not (booking.user_id == user.id or user.role == "operator"):
        raise NotFound(f"no reservation {reservation_id}")
    return booking
