"""A lean OCPP-J charger connection for the benchmark: RFC 6455 client side on asyncio.Protocol.

The load generator must cost far less than the server it loads, so the benchmark does not use a
general WebSocket client (aiohttp's took ~85 % of a core to drive ~46,000 CALLs/s): this one
does the HTTP upgrade itself (checks ``101``, ``Sec-WebSocket-Accept`` and the ``ocpp1.6``
subprotocol), masks every frame it sends (RFC 6455 5.3), reads the server's unmasked frames,
answers pings and close frames, and hands each text message to a callback or a waiting
coroutine. No task or timer is created per message on the callback path.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import Callable
from typing import Any, cast

import orjson

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
MAX_HANDSHAKE_BYTES = 16384


class CallFailed(Exception):
    """A CALL got no proper CALLRESULT; the message says which kind of failure."""


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked frame (clients mask everything they send, RFC 6455 5.1)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    return header + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")


def upgrade_request(host: str, path: str, key: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    ).encode()


def check_upgrade(head: bytes, key: str) -> None:
    """Raise :class:`ConnectionError` unless ``head`` accepts our upgrade with ``ocpp1.6``."""
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {lines[0]}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != accept:
        raise ConnectionError("handshake: wrong Sec-WebSocket-Accept")
    if headers.get("sec-websocket-protocol") != "ocpp1.6":
        raise ConnectionError("handshake: subprotocol ocpp1.6 not agreed")


class Charger(asyncio.Protocol):
    """One simulated charge point on its own socket; at most one CALL of ours outstanding."""

    def __init__(self, cp_id: str, host: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        self.cp_id = cp_id
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.request = upgrade_request(host, path, self.key)
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.waiter: asyncio.Future[bytes] | None = None
        #: Flood mode: called with each answer (``None`` when the connection is lost).
        self.on_answer: Callable[[Charger, bytes | None], None] | None = None
        self.seq = 0
        self.message_id = ""
        self.action = ""
        self.sent_at = 0.0
        self.server_calls = 0
        self.closing = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass.
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            self._read_handshake()
        if self.upgraded.done() and not self.upgraded.exception():
            self._read_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"connection lost: {exc or 'closed'}")
        for future in (self.upgraded, self.waiter):
            if future is not None and not future.done():
                future.set_exception(error)
        if not self.lost.done():
            self.lost.set_result(None)
        if self.on_answer is not None:
            self.on_answer(self, None)

    def _read_handshake(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HANDSHAKE_BYTES:
                self.upgraded.set_exception(ConnectionError("handshake: response too long"))
            return
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        try:
            check_upgrade(head, self.key)
        except ConnectionError as error:
            self.upgraded.set_exception(error)
            return
        self.upgraded.set_result(None)

    def _read_frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:  # Each pass consumes one whole frame or stops.
            size, start = buffer[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                return
            opcode, payload = buffer[0] & 0x0F, bytes(buffer[start : start + size])
            del buffer[: start + size]
            self._on_frame(opcode, payload)

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == TEXT:
            self._on_text(payload)
        elif opcode == PING:
            self._write(client_frame(PONG, payload))
        elif opcode == CLOSE and self.transport is not None:
            if not self.closing:  # The server started it: echo its code (RFC 6455 5.5.1).
                self._write(client_frame(CLOSE, payload[:2]))
            self.closing = True
            self.transport.close()

    def _on_text(self, payload: bytes) -> None:
        if payload.startswith(b"[2"):
            # A CALL from the CSMS: the benchmark charger implements none of them.
            message_id = orjson.loads(payload)[1]
            text = orjson.dumps([4, message_id, "NotImplemented", "benchmark charger", {}])
            self._write(client_frame(TEXT, text))
            self.server_calls += 1
        elif self.on_answer is not None:
            self.on_answer(self, payload)
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(payload)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # OCPP
    def send_call(self, action: str, payload: dict[str, Any]) -> None:
        """Send a CALL now; its answer goes to :attr:`on_answer` or :attr:`waiter`."""
        self.seq += 1
        self.message_id, self.action = str(self.seq), action
        text = orjson.dumps([2, self.message_id, action, payload])
        self.sent_at = time.perf_counter()
        self._write(client_frame(TEXT, text))

    def check(self, answer: bytes) -> None:
        """Raise :class:`CallFailed` unless ``answer`` is the CALLRESULT of our last CALL."""
        frame = orjson.loads(answer)
        if frame[0] != 3:
            raise CallFailed(f"CALLERROR {frame[2]}" if frame[0] == 4 else "unexpected frame")
        if frame[1] != self.message_id:
            raise CallFailed("answer to another message id")
        if self.action == "BootNotification" and frame[2].get("status") != "Accepted":
            raise CallFailed(f"boot {frame[2].get('status')}")

    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> float:
        """Send one CALL, wait for and check its answer; the round trip in seconds."""
        self.waiter = asyncio.get_running_loop().create_future()
        self.send_call(action, payload)
        async with asyncio.timeout(timeout):
            answer = await self.waiter
        elapsed = time.perf_counter() - self.sent_at
        self.check(answer)
        return elapsed

    async def close(self, timeout: float = 5.0) -> None:
        """Closing handshake (code 1000), then drop the socket if the server is slow."""
        self.on_answer = None
        if not self.closing:
            self.closing = True
            self._write(client_frame(CLOSE, (1000).to_bytes(2, "big")))
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self.lost)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()
