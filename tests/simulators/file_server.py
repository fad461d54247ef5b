"""A loopback HTTP file server (aiohttp) for the simulator's firmware and diagnostics tests:
``GET /fw/NAME`` serves firmware, ``PUT /up/NAME`` and multipart ``POST /up`` receive files.
Failures can be scripted; every request is recorded with its time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web


class FileServer:
    """``async with FileServer() as files:`` then point the charger at ``files.url``."""

    def __init__(self) -> None:
        self.firmware: dict[str, bytes] = {}
        self.received: dict[str, bytes] = {}  # file name → body, as uploaded
        self.requests: list[tuple[str, str, datetime]] = []  # (method, path, when)
        self.content_types: list[str] = []
        self.fail = 0  # the next this many requests get HTTP 500
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._changed = asyncio.Event()

    async def __aenter__(self) -> FileServer:
        app = web.Application()
        app.router.add_get("/fw/{name}", self._get)
        app.router.add_put("/up/{name}", self._put)
        app.router.add_post("/up", self._post)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def _record(self, request: web.Request) -> bool:
        """Record the request; True when it is to fail."""
        self.requests.append((request.method, request.path, datetime.now(UTC)))
        self._changed.set()
        self._changed = asyncio.Event()
        if self.fail > 0:
            self.fail -= 1
            return True
        return False

    async def _get(self, request: web.Request) -> web.Response:
        if self._record(request):
            return web.Response(status=500)
        data = self.firmware.get(request.match_info["name"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    async def _put(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self._record(request):
            return web.Response(status=500)
        self.received[request.match_info["name"]] = body
        self.content_types.append(request.content_type)
        return web.Response(status=201)

    async def _post(self, request: web.Request) -> web.Response:
        self.content_types.append(request.content_type)
        form = await request.post()
        if self._record(request):
            return web.Response(status=500)
        field = form["file"]
        assert isinstance(field, web.FileField)
        self.received[field.filename] = field.file.read()
        return web.Response(status=201)

    def count(self, method: str) -> int:
        return sum(1 for m, _, _ in self.requests if m == method)

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                await self._changed.wait()
