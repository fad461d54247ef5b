"""Reading requests: JSON bodies with exactly the allowed fields, query and path parameters,
headers, paging.

Handlers read every value through these helpers, so what PostgreSQL cannot take is refused here
(422) and never reaches it as a 500: NUL characters (text columns reject them), unpaired
surrogates (header bytes that are not UTF-8), integers beyond the ``integer``/``bigint`` column
they go to, digits that are not ASCII (``"²".isdigit()`` is true, ``int("²")`` fails).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web

from csms.domain.identifiers import INT32_MAX
from csms.domain.timestamps import TimestampError, parse_timestamp
from csms.errors import NotFound, ValidationFailed

T = TypeVar("T")

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
INT64_MAX = 2**63 - 1
#: A PostgreSQL ``integer`` (int4) column, e.g. connector and reservation ids.
INT32 = (-(2**31), INT32_MAX)
#: A PostgreSQL ``bigint`` column, e.g. site and user ids.
INT64 = (-(2**63), INT64_MAX)


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
    reject_nul(body, "the request body")
    unknown = set(body) - required - optional
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    missing = required - set(body)
    if missing:
        raise ValidationFailed(f"missing field(s): {', '.join(sorted(missing))}")
    return body


def reject_nul(value: object, where: str) -> None:
    """Refuse NUL characters anywhere in a parsed JSON value (keys too, however nested)."""
    pending = [value]  # A loop, not recursion: orjson accepts nesting deeper than Python's stack.
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            if "\x00" in node:
                raise ValidationFailed(f"{where} must not contain NUL characters (\\u0000)")
        elif isinstance(node, dict):
            pending.extend(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def check_text(value: str, name: str) -> str:
    """``value`` if PostgreSQL can store it as text: no NUL, nothing that is not UTF-8."""
    if "\x00" in value:
        raise ValidationFailed(f"{name} must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # aiohttp keeps header bytes that are not UTF-8 as surrogates.
            raise ValidationFailed(f"{name} must be UTF-8 text") from None
    return value


def string_field(body: dict[str, Any], name: str, *, max_length: int = 200) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise ValidationFailed(f"{name} must be a string of 1-{max_length} characters")
    return value


def int_field(body: dict[str, Any], name: str, *, bounds: tuple[int, int] = INT64) -> int:
    """An integer field that fits the column it goes to (``bounds``: :data:`INT32`, …)."""
    value = body.get(name)
    low, high = bounds
    if type(value) is not int or not low <= value <= high:  # bool is an int subclass: not here.
        raise ValidationFailed(f"{name} must be an integer from {low} to {high}")
    return value


def optional_int_field(
    body: dict[str, Any], name: str, *, bounds: tuple[int, int] = INT64
) -> int | None:
    """:func:`int_field`, or None when the field is absent or null."""
    return None if body.get(name) is None else int_field(body, name, bounds=bounds)


def time_value(value: object, name: str) -> datetime:
    """An RFC 3339 date-time with an offset, from a body field or a query parameter."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} is required (RFC 3339, e.g. 2026-05-01T18:00:00+02:00)")
    try:
        return parse_timestamp(value, require_offset=True)
    except TimestampError:
        raise ValidationFailed(f"{name} must be an RFC 3339 date-time with an offset") from None


def parse_int(raw: str, name: str, *, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    """A non-negative integer written in ASCII digits, within [minimum, maximum]."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not minimum <= int(raw) <= maximum:
        raise ValidationFailed(f"{name} must be an integer {minimum}-{maximum}")
    return int(raw)


def query_text(request: web.Request, name: str) -> str | None:
    """A query parameter as text (None when absent)."""
    raw = request.query.get(name)
    return None if raw is None else check_text(raw, name)


def query_int(
    request: web.Request, name: str, *, minimum: int = 0, maximum: int = INT64_MAX
) -> int | None:
    raw = request.query.get(name)
    return None if raw is None else parse_int(raw, name, minimum=minimum, maximum=maximum)


def query_flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter: ``true`` or ``false`` (absent: false), nothing else."""
    raw = request.query.get(name, "false")
    if raw not in ("true", "false"):
        raise ValidationFailed(f"{name} must be true or false")
    return raw == "true"


def query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    return None if raw is None else time_value(raw, name)


def path_text(request: web.Request, name: str) -> str:
    """A textual path parameter, such as a charge point id."""
    return check_text(request.match_info[name], name)


def header_text(request: web.Request, name: str) -> str | None:
    raw = request.headers.get(name)
    return None if raw is None else check_text(raw, name)


def limit_param(request: web.Request) -> int:
    limit = query_int(request, "limit", minimum=1, maximum=MAX_LIMIT)
    return DEFAULT_LIMIT if limit is None else limit


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
    # A cursor is echoed into a query: a forged one must not carry what PostgreSQL refuses.
    unstorable = isinstance(value, str) and "\x00" in value
    if type(value) is not kind or out_of_range or unstorable:
        raise ValidationFailed("cursor is not one this API gave out")
    return value


def page(items: list[dict[str, Any]], limit: int, key: str) -> dict[str, Any]:
    """A page of ``items`` with the cursor of the next page (None on the last)."""
    next_cursor = None
    if len(items) == limit:
        next_cursor = base64.urlsafe_b64encode(orjson.dumps(items[-1][key])).decode().rstrip("=")
    return {"items": items, "next_cursor": next_cursor}
