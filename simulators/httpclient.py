"""A tiny JSON-over-HTTP client for scenario ``http`` steps (standard library only).

Requests run in a worker thread so the chargers keep running; environment proxies are ignored
(scenarios talk to a CSMS on a known address, usually loopback).
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import orjson

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HttpError(Exception):
    """The request could not be made (bad body, no connection, timeout)."""


async def request(
    method: str, url: str, body: str | None, token: str | None, timeout: float
) -> tuple[int, Any]:
    """Send ``body`` (JSON text, or None) and return (HTTP status, decoded JSON or text)."""
    if body is not None:
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise HttpError(f"the request body is not JSON: {exc}") from None
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    prepared = urllib.request.Request(
        url, data=body.encode() if body is not None else None, method=method, headers=headers)
    return await asyncio.to_thread(_send, prepared, timeout)


def _send(prepared: urllib.request.Request, timeout: float) -> tuple[int, Any]:
    try:
        with _OPENER.open(prepared, timeout=timeout) as response:
            return int(response.status), _decode(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), _decode(exc.read())
    except (urllib.error.URLError, OSError) as exc:
        raise HttpError(f"{prepared.get_method()} {prepared.full_url}: {exc}") from None


def _decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode(errors="replace")
