"""idTags: ``POST/GET /api/v1/id-tags``, ``GET/PATCH/DELETE /api/v1/id-tags/{id_tag}`` (operators),
``POST/GET /api/v1/me/id-tags`` (drivers).

Drivers register and list their own cards and change nothing on them: unblocking or extending
a card would undo an operator's decision, and its parent is the driver's group, fixed (see
:func:`csms.store.id_tags.check_parent`). A driver who lost a card asks the operator to block it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL, SETTINGS, USER
from csms.api.encoding import json_response
from csms.api.requests import (
    cursor_param,
    json_body,
    limit_param,
    optional_int_field,
    page,
    path_text,
    time_value,
)
from csms.domain.authorization import ID_TAG_MAX_LENGTH, driver_group_tag
from csms.domain.timestamps import TimestampError, parse_timestamp
from csms.errors import ValidationFailed
from csms.store import id_tags

routes = web.RouteTableDef()


def _id_tag(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None and name != "id_tag":
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= ID_TAG_MAX_LENGTH
        or not value.isprintable()
    ):
        raise ValidationFailed(f"{name} must be 1-{ID_TAG_MAX_LENGTH} printable characters")
    return value


def _expiry(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)  # type: ignore[arg-type]
    except TimestampError:
        raise ValidationFailed("expiry_date must be an RFC 3339 date-time") from None


@routes.post("/api/v1/id-tags")
async def create_id_tag(request: web.Request) -> web.Response:
    operator(request)
    body = await json_body(
        request,
        required=frozenset({"id_tag"}),
        optional=frozenset({"parent_id_tag", "expiry_date", "blocked", "user_id"}),
    )
    blocked = body.get("blocked", False)
    user_id = optional_int_field(body, "user_id")
    if not isinstance(blocked, bool):
        raise ValidationFailed("blocked must be true or false")
    parent = _id_tag(body, "parent_id_tag")
    # A driver's group holds that driver's own cards only: they may start the driver's bookings.
    id_tags.check_parent(user_id, None, parent)
    row = await id_tags.create(
        request.app[POOL],
        _id_tag(body, "id_tag") or "",
        parent_id_tag=parent,
        expiry_date=_expiry(body.get("expiry_date")),
        blocked=blocked,
        user_id=user_id,
    )
    return json_response(dict(row), status=201)


@routes.patch("/api/v1/id-tags/{id_tag}")
async def update_id_tag(request: web.Request) -> web.Response:
    """Change a card's ``expiry_date``, ``blocked`` or ``parent_id_tag`` (null clears the
    expiry or the parent). Authorize and StartTransaction answer by the new values at once
    (S 4.1, 7.27). A charger's Authorization Cache is not cleared (S 3.5: a cached card may
    still be accepted offline; ClearCache through the commands endpoint); local lists follow
    as after any change of an idTag."""
    operator(request)
    body = await json_body(request, required=frozenset(), optional=id_tags.UPDATABLE)
    if not body:
        raise ValidationFailed("nothing to change: give expiry_date, blocked or parent_id_tag")
    changes: dict[str, object] = {}
    if "blocked" in body:
        if not isinstance(body["blocked"], bool):
            raise ValidationFailed("blocked must be true or false")
        changes["blocked"] = body["blocked"]
    if "expiry_date" in body:
        expiry = body["expiry_date"]
        changes["expiry_date"] = None if expiry is None else time_value(expiry, "expiry_date")
    if "parent_id_tag" in body:
        changes["parent_id_tag"] = _id_tag(body, "parent_id_tag")
    row = await id_tags.update(request.app[POOL], path_text(request, "id_tag"), changes)
    return json_response(dict(row))


@routes.get("/api/v1/id-tags/{id_tag}")
async def get_id_tag(request: web.Request) -> web.Response:
    """One card, found without case."""
    operator(request)
    return json_response(dict(await id_tags.get(request.app[POOL], path_text(request, "id_tag"))))


@routes.delete("/api/v1/id-tags/{id_tag}")
async def delete_id_tag(request: web.Request) -> web.Response:
    """Forget a card: Authorize answers Invalid for it at once; local lists drop it."""
    operator(request)
    await id_tags.delete(request.app[POOL], path_text(request, "id_tag"))
    return web.Response(status=204)


@routes.get("/api/v1/id-tags")
async def list_id_tags(request: web.Request) -> web.Response:
    operator(request)
    limit = limit_param(request)
    rows = await id_tags.list_page(request.app[POOL], after=cursor_param(request, str), limit=limit)
    return json_response(page([dict(row) for row in rows], limit, "id_tag"))


@routes.post("/api/v1/me/id-tags")
async def register_own_card(request: web.Request) -> web.Response:
    """A driver registers their own card, usable at any charger."""
    body = await json_body(request, required=frozenset({"id_tag"}))
    user = request[USER]
    row = await id_tags.create(
        request.app[POOL],
        _id_tag(body, "id_tag") or "",
        parent_id_tag=driver_group_tag(user.id),
        user_id=user.id,
        max_per_user=request.app[SETTINGS].max_cards_per_driver,
    )
    return json_response(dict(row), status=201)


@routes.get("/api/v1/me/id-tags")
async def list_own_cards(request: web.Request) -> web.Response:
    limit = limit_param(request)
    rows = await id_tags.list_page(
        request.app[POOL], after=cursor_param(request, str), limit=limit, user_id=request[USER].id
    )
    return json_response(page([dict(row) for row in rows], limit, "id_tag"))
