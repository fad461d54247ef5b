"""Reading requests: JSON bodies with exactly the allowed fields, paging parameters."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

import orjson
from aiohttp import web

from csms.errors import NotFound, ValidationFailed

T = TypeVar("T")

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


async def json_body(
    request: web.Request, *, required: frozenset[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The request's JSON object; 422 for unknown or missing fields (API.md conventions)."""
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as error:
        raise ValidationFailed(f"request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ValidationFailed("request body must be a JSON object")
    unknown = set(body) - required - optional
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    missing = required - set(body)
    if missing:
        raise ValidationFailed(f"missing field(s): {', '.join(sorted(missing))}")
    return body


def string_field(body: dict[str, Any], name: str, *, max_length: int = 200) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise ValidationFailed(f"{name} must be a string of 1-{max_length} characters")
    return value


def limit_param(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise ValidationFailed("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be 1-{MAX_LIMIT}")
    return limit


INT64_MAX = 2**63 - 1


def path_id(request: web.Request, name: str, *, maximum: int = INT64_MAX) -> int:
    """A numeric id from the path; anything that cannot name a row is simply not found."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > maximum:
        raise NotFound(f"no {name.removesuffix('_id').replace('_', ' ')} {raw[:30]!r}")
    return int(raw)


def cursor_param(request: web.Request, kind: type[T], *, maximum: int = INT64_MAX) -> T | None:
    """The position a previous page ended at (opaque to clients), or None."""
    raw = request.query.get("cursor")
    if not raw:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        value = None
    out_of_range = isinstance(value, int) and not 0 <= value <= maximum
    if type(value) is not kind or out_of_range:
        raise ValidationFailed("cursor is not one this API gave out")
    return value


def page(items: list[dict[str, Any]], limit: int, key: str) -> dict[str, Any]:
    """A page of ``items`` with the cursor of the next page (None on the last)."""
    next_cursor = None
    if len(items) == limit:
        next_cursor = base64.urlsafe_b64encode(orjson.dumps(items[-1][key])).decode().rstrip("=")
    return {"items": items, "next_cursor": next_cursor}
