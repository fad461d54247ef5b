"""A bare OCPP-J client for tests: raw frames over a real WebSocket (``websockets``).

It speaks exactly what a test tells it to, including malformed frames, so the gateway's
answers can be checked frame by frame.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Callable
from ssl import SSLContext
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

Responder = Callable[[str, dict[str, Any]], Any]


class OcppTestClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = itertools.count(1)
        #: CALLs the CSMS sent us, as (action, payload).
        self.received_calls: list[tuple[str, dict[str, Any]]] = []

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        key: str | None = None,
        user: str | None = None,
        subprotocols: list[str] | None = None,
        ssl: SSLContext | None = None,
    ) -> OcppTestClient:
        headers = {}
        if key is not None:
            user = user or url.rsplit("/", 1)[1]
            headers["Authorization"] = (
                "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()
            )
        connection = await connect(
            url,
            subprotocols=subprotocols if subprotocols is not None else ["ocpp1.6"],  # type: ignore[arg-type]
            additional_headers=headers,
            compression=None,
            open_timeout=5,
            ssl=ssl,
        )
        return cls(connection)

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> OcppTestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send_raw(self, text: str | bytes) -> None:
        await self.connection.send(text)

    async def recv(self, timeout: float = 5) -> list[Any]:
        return orjson.loads(await asyncio.wait_for(self.connection.recv(), timeout))  # type: ignore[no-any-return]

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 5) -> list[Any]:
        """Send a CALL; return the whole answer frame (CALLRESULT or CALLERROR)."""
        message_id = f"m{next(self._ids)}"
        await self.send_raw(orjson.dumps([2, message_id, action, payload]).decode())
        answer = await self.recv(timeout)
        assert answer[1] == message_id, answer
        return answer

    async def result(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL that must succeed; return the CALLRESULT payload."""
        answer = await self.call(action, payload)
        assert answer[0] == 3, answer
        return answer[2]  # type: ignore[no-any-return]

    async def serve_one(self, respond: Responder, timeout: float = 5) -> tuple[str, dict[str, Any]]:
        """Wait for a CALL from the CSMS and answer it with ``respond(action, payload)``.

        ``respond`` returns a payload dict (CALLRESULT), a tuple ``("error", code)`` for a
        CALLERROR, or None to stay silent.
        """
        frame = await self.recv(timeout)
        assert frame[0] == 2, frame
        _, message_id, action, payload = frame
        self.received_calls.append((action, payload))
        answer = respond(action, payload)
        if isinstance(answer, tuple):
            await self.send_raw(
                orjson.dumps([4, message_id, answer[1], "test refusal", {}]).decode()
            )
        elif answer is not None:
            await self.send_raw(orjson.dumps([3, message_id, answer]).decode())
        return action, payload


BOOT = {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel"}
