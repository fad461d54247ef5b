"""The web pages: the driver's booking page (``/``) and the operator's live dashboard
(``/operator``), static files from ``csms/web/`` with no build step and nothing from elsewhere.

The pages use only the public HTTP API (and ``GET /api/v1/events`` for live updates). Every
answer carries a strict Content-Security-Policy (``default-src 'self'``: no inline script, no
external fonts, scripts, images or connections) and ``Cache-Control: no-cache`` with validators,
so a browser revalidates cheaply (304) and never mixes an old script with a new page.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from aiohttp import web

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: Names a static asset may have: one flat directory, no dots but the extension's.
_ASSET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.(?:js|css|svg)")

routes = web.RouteTableDef()


def _file(path: Path) -> web.FileResponse:
    content_type = _CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    headers = {**SECURITY_HEADERS, "Content-Type": content_type or "application/octet-stream"}
    return web.FileResponse(path, headers=headers)


@routes.get("/")
async def driver_page(request: web.Request) -> web.FileResponse:
    """The driver's page: sign in, search a window, book, see the code, follow reservations."""
    return _file(WEB_DIR / "index.html")


@routes.get("/operator")
async def operator_page(request: web.Request) -> web.FileResponse:
    """The operator's dashboard: chargers live, today's bookings, transactions, commands."""
    return _file(WEB_DIR / "operator.html")


@routes.get("/operator/charge-points/{cp_id}")
async def charger_page(request: web.Request) -> web.FileResponse:
    """One charger for operators: identity, connectors and their history, configuration,
    commands, files, local list, security events, message log, bookings and transactions
    (the page reads the id from its own address; an unknown charger is said so on the page)."""
    return _file(WEB_DIR / "charger.html")


@routes.get("/static/{name}")
async def asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    path = WEB_DIR / name
    if not _ASSET_NAME.fullmatch(name) or not path.is_file():
        raise web.HTTPNotFound(reason=f"no static file {name!r}")
    return _file(path)
