"""A minimal in-process central system for testing the simulator's network layer.

It speaks just enough OCPP-J (a ``websockets`` server on loopback, subprotocol ``ocpp1.6``,
optional Basic auth and TLS) to check what the simulator does on the wire: it records every
frame, answers the charger's CALLs like a content CSMS, and can send CALLs and drop links.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from simulators.protocol import Call, CallError, CallResult, decode, encode, format_time

Payload = dict[str, Any]


class FakeCsms:
    """``async with FakeCsms() as csms:`` then point a charger at ``csms.url``."""

    def __init__(
        self, *, keys: dict[str, str] | None = None, interval: int = 60,
        tls: ssl.SSLContext | None = None, answer_delay: float = 0.0,
        subprotocol: bool = True, tls_also: ssl.SSLContext | None = None,
        known: set[str] | None = None,
    ) -> None:
        self.keys = keys  # charger id → AuthorizationKey; None = no auth
        self.known = known  # the charger ids it admits (others: HTTP 404); None = every one
        self.interval = interval
        self.tls = tls
        self.tls_also = tls_also  # a second, TLS listener beside the plain one (tls_url)
        self.errors: dict[str, str] = {}  # action → CALLERROR code to answer it with
        self.answers: dict[str, Payload] = {}  # action → the CALLRESULT payload to answer
        #: (charger, TLS?, the client certificate's CN) per connection, in order
        self.peers: list[tuple[str, bool, str | None]] = []
        self.answer_delay = answer_delay
        self.subprotocol = subprotocol
        self.calls: list[tuple[str, Call, datetime]] = []  # (charger, CALL, received at)
        self.connections: dict[str, ServerConnection] = {}
        self.handshakes: list[tuple[str, Headers]] = []
        self.in_flight: dict[str, int] = {}  # charger → CALLs received but not yet answered
        self.max_in_flight = 0
        self._answers: dict[str, asyncio.Future[CallResult | CallError]] = {}
        self._ids = itertools.count(1)
        self._tx = itertools.count(500)
        self._changed = asyncio.Event()
        self._server: Server | None = None
        self._tls_server: Server | None = None

    async def __aenter__(self) -> FakeCsms:
        self._server = await self._listen(self.tls)
        if self.tls_also is not None:
            self._tls_server = await self._listen(self.tls_also)
        return self

    async def _listen(self, tls: ssl.SSLContext | None) -> Server:
        return await serve(
            self._serve, "127.0.0.1", 0, ssl=tls, compression=None,
            subprotocols=[Subprotocol("ocpp1.6")], process_request=self._check,
            # A careless server: accepts the connection without agreeing to a subprotocol.
            select_subprotocol=None if self.subprotocol else (lambda connection, offered: None))

    async def __aexit__(self, *exc: object) -> None:
        for server in (self._server, self._tls_server):
            if server is not None:
                server.close()
                await server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{port}/ocpp"

    @property
    def tls_url(self) -> str:
        """The second listener (``tls_also``)."""
        assert self._tls_server is not None
        port = next(iter(self._tls_server.sockets)).getsockname()[1]
        return f"wss://127.0.0.1:{port}/ocpp"

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        cp_id = request.path.rsplit("/", 1)[-1]
        self.handshakes.append((cp_id, request.headers))
        if self.known is not None and cp_id not in self.known:
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown charge point\n")
        if self.keys is None:
            return None
        expected = base64.b64encode(f"{cp_id}:{self.keys.get(cp_id)}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "who are you?\n")
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        cp_id = connection.request.path.rsplit("/", 1)[-1]  # type: ignore[union-attr]
        self.connections[cp_id] = connection
        self.peers.append((cp_id, connection.transport.get_extra_info("sslcontext") is not None,
                           _common_name(connection.transport.get_extra_info("peercert"))))
        try:
            async for text in connection:
                frame = decode(text)
                if isinstance(frame, Call):
                    self._record(cp_id, frame)
                    asyncio.get_running_loop().create_task(self._answer(cp_id, connection, frame))
                else:
                    future = self._answers.pop(frame.message_id, None)
                    if future is not None and not future.done():
                        future.set_result(frame)
        except ConnectionClosed:
            pass  # a dropped link ends the handler
        finally:
            if self.connections.get(cp_id) is connection:
                del self.connections[cp_id]
            self._notify()

    def _record(self, cp_id: str, frame: Call) -> None:
        self.calls.append((cp_id, frame, datetime.now(UTC)))
        self.in_flight[cp_id] = self.in_flight.get(cp_id, 0) + 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight[cp_id])
        self._notify()

    async def _answer(self, cp_id: str, connection: ServerConnection, frame: Call) -> None:
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        self.in_flight[cp_id] -= 1
        code = self.errors.get(frame.action)
        answer: CallResult | CallError = (
            CallError(frame.message_id, code, "scripted") if code is not None
            else CallResult(frame.message_id, self.answer_for(frame)))
        with contextlib.suppress(ConnectionClosed):  # the link went away meanwhile
            await connection.send(encode(answer))

    def answer_for(self, frame: Call) -> Payload:
        if frame.action in self.answers:
            return self.answers[frame.action]
        now = format_time(datetime.now(UTC))
        if frame.action == "BootNotification":
            return {"status": "Accepted", "currentTime": now, "interval": self.interval}
        if frame.action == "Heartbeat":
            return {"currentTime": now}
        if frame.action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        if frame.action == "StartTransaction":
            return {"transactionId": next(self._tx), "idTagInfo": {"status": "Accepted"}}
        if frame.action == "SignCertificate":
            return {"status": "Accepted"}
        return {}

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- for tests -----------------------------------------------------------------------

    def actions(self, cp_id: str) -> list[str]:
        return [call.action for who, call, _ in self.calls if who == cp_id]

    def payloads(self, cp_id: str, action: str) -> list[Payload]:
        return [call.payload for who, call, _ in self.calls
                if who == cp_id and call.action == action]

    async def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                waiter = self._changed
                await waiter.wait()

    async def call(self, cp_id: str, action: str, payload: Payload) -> CallResult | CallError:
        """Send a CALL to the charger and return its answer."""
        message_id = f"fake-{next(self._ids)}"
        future: asyncio.Future[CallResult | CallError] = (
            asyncio.get_running_loop().create_future())
        self._answers[message_id] = future
        await self.connections[cp_id].send(encode(Call(message_id, action, payload)))
        return await asyncio.wait_for(future, 5.0)

    def drop(self, cp_id: str) -> None:
        """Cut the charger's TCP connection without a close handshake."""
        self.connections[cp_id].transport.abort()


def _common_name(peercert: Any) -> str | None:
    """The CN of a verified client certificate (``ssl.SSLSocket.getpeercert()`` form)."""
    for rdn in (peercert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
