"""A real HTTP server on 127.0.0.1 that receives webhook deliveries, for tests: it records
every request (the exact body bytes and the signature header), answers with the statuses a
test scripts (then 200), and can hold its answers until a test releases them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from tests.conftest import free_port


@dataclasses.dataclass
class Received:
    body: bytes
    signature: str | None

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value

    def signed_by(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return self.signature is not None and hmac.compare_digest(expected, self.signature)


@dataclasses.dataclass
class Receiver:
    url: str
    received: list[Received] = dataclasses.field(default_factory=list)
    #: Statuses to answer, in order; once used up, 200.
    statuses: list[int] = dataclasses.field(default_factory=list)
    #: When given, requests wait (after being recorded) until it is set.
    release: asyncio.Event | None = None

    def ids(self) -> list[int]:
        return [r.event["id"] for r in self.received]

    def unique(self) -> dict[int, dict[str, Any]]:
        """Events by id, as a receiver that deduplicates sees them (first copy wins)."""
        seen: dict[int, dict[str, Any]] = {}
        for item in self.received:
            seen.setdefault(item.event["id"], item.event)
        return seen


@contextlib.asynccontextmanager
async def receiving(port: int | None = None) -> AsyncIterator[Receiver]:
    port = port or free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/hook")

    async def hook(request: web.Request) -> web.Response:
        receiver.received.append(
            Received(await request.read(), request.headers.get("X-Csms-Signature"))
        )
        if receiver.release is not None:
            await receiver.release.wait()
        status = receiver.statuses.pop(0) if receiver.statuses else 200
        return web.Response(status=status, text="ok" if status < 300 else "no")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield receiver
    finally:
        await runner.cleanup()
