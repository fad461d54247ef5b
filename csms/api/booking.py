"""Drivers' booking endpoints: availability, reservations; operators' tariffs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import BOOKING, POOL, USER
from csms.api.encoding import json_response
from csms.api.requests import cursor_param, json_body, limit_param, page, path_id
from csms.booking.service import BookingRequest, Search
from csms.booking.store import ListFilter
from csms.domain.identifiers import INT32_MAX
from csms.domain.tariffs import parse_tariff
from csms.domain.timestamps import TimestampError, parse_timestamp
from csms.errors import NotFound, ValidationFailed
from csms.store import tariffs

routes = web.RouteTableDef()

MAX_IDEMPOTENCY_KEY = 200


def _time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} is required (RFC 3339, e.g. 2026-05-01T18:00:00+02:00)")
    try:
        return parse_timestamp(value, require_offset=True)
    except TimestampError:
        raise ValidationFailed(f"{name} must be an RFC 3339 date-time with an offset") from None


def _decimal(value: str | None, name: str, *, maximum: Decimal) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationFailed(f"{name} must be a number") from None
    if not number.is_finite() or not Decimal(0) < number <= maximum:
        raise ValidationFailed(f"{name} must be more than 0 and at most {maximum}")
    return number


def _int_id(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ValidationFailed(f"{name} must be an integer")
    return int(value)


@routes.get("/api/v1/availability")
async def availability(request: web.Request) -> web.Response:
    query = request.query
    search = Search(
        start=_time(query.get("start"), "start"),
        end=_time(query.get("end"), "end"),
        site_id=_int_id(query.get("site_id"), "site_id"),
        connector_type=query.get("connector_type") or None,
        min_power_kw=_decimal(query.get("min_power_kw"), "min_power_kw", maximum=Decimal(1000)),
        energy_kwh=_decimal(query.get("energy_kwh"), "energy_kwh", maximum=Decimal(1000)),
    )
    return json_response(await request.app[BOOKING].availability(search))


@routes.post("/api/v1/reservations")
async def book(request: web.Request) -> web.Response:
    body = await json_body(
        request, required=frozenset({"charge_point_id", "connector_id", "start", "end"})
    )
    cp_id, connector_id = body["charge_point_id"], body["connector_id"]
    if not isinstance(cp_id, str) or type(connector_id) is not int:
        raise ValidationFailed("charge_point_id must be a string and connector_id an integer")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters")
    booking = BookingRequest(
        charge_point_id=cp_id,
        connector_id=connector_id,
        start=_time(body["start"], "start"),
        end=_time(body["end"], "end"),
        idempotency_key=key,
    )
    return json_response(await request.app[BOOKING].book(request[USER], booking), status=201)


@routes.get("/api/v1/reservations")
async def list_reservations(request: web.Request) -> web.Response:
    """The caller's reservations, newest first; ``all=true`` (operators) lists everyone's.

    ``charge_point_id`` and ``from``/``to`` (RFC 3339) narrow it to one charger and to windows
    overlapping [from, to) — the operator page's timeline of a day.
    """
    query = request.query
    everyone = query.get("all") == "true"
    if everyone:
        operator(request)
    where = ListFilter(
        user_id=None if everyone else request[USER].id,
        charge_point_id=query.get("charge_point_id") or None,
        overlaps_from=_time(query["from"], "from") if "from" in query else None,
        overlaps_to=_time(query["to"], "to") if "to" in query else None,
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
