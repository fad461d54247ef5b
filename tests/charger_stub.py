"""A scripted charger for tests: a real WebSocket client that answers the CSMS's calls by a
table of replies while the test sends its own, so tests can steer every answer precisely."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

Reply = dict[str, Any] | tuple[str, str] | None
Responder = Callable[[dict[str, Any]], Reply]

DEFAULT_REPLIES: dict[str, Responder] = {
    "GetConfiguration": lambda p: {
        "configurationKey": [
            {
                "key": "SupportedFeatureProfiles",
                "readonly": True,
                "value": "Core, Reservation, RemoteTrigger",
            },
            {"key": "ReserveConnectorZeroSupported", "readonly": True, "value": "false"},
        ]
    },
    "ReserveNow": lambda p: {"status": "Accepted"},
    "CancelReservation": lambda p: {"status": "Accepted"},
}


class ChargerStub:
    def __init__(self, connection: ClientConnection, replies: dict[str, Responder]) -> None:
        self.connection = connection
        self.replies = replies
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        #: Calls whose reply was None: left unanswered until :meth:`answer_held`.
        self.held: dict[str, str] = {}
        self._call_seen = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, **replies: Responder) -> ChargerStub:
        connection = await connect(url, subprotocols=["ocpp1.6"], compression=None, open_timeout=5)  # type: ignore[list-item]
        return cls(connection, {**DEFAULT_REPLIES, **replies})

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.connection.close()

    async def __aenter__(self) -> ChargerStub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read(self) -> None:
        async for text in self.connection:
            frame = orjson.loads(text)
            if frame[0] == 2:
                await self._answer(frame)
            elif frame[1] in self._pending:
                self._pending.pop(frame[1]).set_result(frame)

    async def _answer(self, frame: list[Any]) -> None:
        _, message_id, action, payload = frame
        reply = self.replies.get(action, lambda p: ("error", "NotImplemented"))(payload)
        async with self._call_seen:
            self.calls.append((action, payload))
            self._call_seen.notify_all()
        if isinstance(reply, tuple):
            await self.connection.send(
                orjson.dumps([4, message_id, reply[1], "refused by test", {}]).decode()
            )
        elif reply is not None:
            await self.connection.send(orjson.dumps([3, message_id, reply]).decode())
        else:
            self.held[action] = message_id

    async def answer_held(self, action: str, payload: dict[str, Any]) -> None:
        """Answer a call held back (its responder returned None), e.g. after sending our own."""
        message_id = self.held.pop(action)
        await self.connection.send(orjson.dumps([3, message_id, payload]).decode())

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 5) -> list[Any]:
        message_id = f"s{next(self._ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self.connection.send(orjson.dumps([2, message_id, action, payload]).decode())
        return await asyncio.wait_for(future, timeout)

    async def result(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        frame = await self.call(action, payload)
        assert frame[0] == 3, frame
        return frame[2]  # type: ignore[no-any-return]

    async def wait_call(self, action: str, timeout: float = 10) -> dict[str, Any]:
        """The payload of the first (not yet awaited) call of ``action`` from the CSMS."""
        async with self._call_seen:
            await asyncio.wait_for(
                self._call_seen.wait_for(lambda: any(a == action for a, _ in self.calls)), timeout
            )
            index = next(i for i, (a, _) in enumerate(self.calls) if a == action)
            return self.calls.pop(index)[1]

    def calls_of(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.calls if a == action]
