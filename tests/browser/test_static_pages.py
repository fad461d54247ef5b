"""Serving the web pages: routes, headers (CSP, caching), no path escapes, nothing external.

These need no browser: they check what the server sends and what the files contain.
"""

from __future__ import annotations

import re

import aiohttp
import pytest
from multidict import CIMultiDict

from csms.api.pages import WEB_DIR
from tests.conftest import ServerHandle

PAGES = [("/", "Book a charger"), ("/operator", "Operator")]
ASSETS = [
    ("/static/api.js", "text/javascript"),
    ("/static/app.js", "text/javascript"),
    ("/static/operator.js", "text/javascript"),
    ("/static/style.css", "text/css"),
    ("/static/icon.svg", "image/svg+xml"),
]


async def fetch(
    server: ServerHandle, path: str, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.http_url + path, headers=headers or {}) as response,
    ):
        return response.status, CIMultiDict(response.headers), await response.read()


@pytest.mark.parametrize(("path", "title"), PAGES)
async def test_pages_are_served_with_a_strict_policy(
    server: ServerHandle, path: str, title: str
) -> None:
    status, headers, body = await fetch(server, path)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert f"<title>{title}".encode() in body or title.encode() in body
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(("path", "content_type"), ASSETS)
async def test_assets_are_served_and_revalidate_cheaply(
    server: ServerHandle, path: str, content_type: str
) -> None:
    status, headers, body = await fetch(server, path)
    assert status == 200 and body
    assert headers["Content-Type"].startswith(content_type)
    assert headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    status, _, body = await fetch(server, path, {"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/static/missing.js",
        "/static/..%2Fapi%2Fpages.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static/.hidden.js",
        "/static/index.html",  # pages are served at their own paths only
        "/static/",
    ],
)
async def test_nothing_else_is_served_from_static(server: ServerHandle, path: str) -> None:
    status, headers, _ = await fetch(server, path)
    assert status == 404
    assert headers["Content-Type"].startswith("application/json")


def test_the_pages_reference_nothing_outside_the_server() -> None:
    files = sorted(WEB_DIR.iterdir())
    assert {f.name for f in files} >= {"index.html", "operator.html", "api.js", "style.css"}
    for file in files:
        text = file.read_text()
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a request
        assert not re.search(r"(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), file.name
        assert "@import" not in text and "url(" not in text, file.name
        if file.suffix == ".html":
            # The policy forbids inline code; the pages have none to be blocked.
            assert not re.search(r"<script(?![^>]*\bsrc=)", text), file.name
            assert not re.search(r"\s(?:style|on[a-z]+)=", text), file.name
        if file.suffix == ".js":
            assert "innerHTML" not in text and "eval(" not in text, file.name
