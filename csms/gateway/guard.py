"""Connections that have not proved themselves yet: closed when too slow, capped per address.

A TCP connection that never sends a request, a request that never finishes its headers, or an
OCPP handshake that never completes would otherwise hold a file descriptor for good — enough of
them, and real chargers cannot connect. Every accepted connection is *pending* until the app
admits it (:meth:`ConnectionGuard.admit`: the WebSocket upgrade completed, or an HTTP request
reached the API); a pending connection is closed after ``timeout`` seconds. On the OCPP port
one source address may hold at most ``per_address`` pending connections (more are closed at
once); the HTTP port has no such cap, since every client of a reverse proxy shares its address.

The guard wraps the server's protocol factory (:meth:`ConnectionGuard.factory`) and delegates
every protocol callback unchanged; the TLS handshake, which happens before the protocol sees the
connection, is bounded by the server's ``ssl_handshake_timeout`` instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

log = logging.getLogger(__name__)


class ConnectionGuard:
    """Pending connections: their deadline and how many each address holds."""

    def __init__(self, *, timeout: float, per_address: int) -> None:
        self.timeout = timeout
        self.per_address = per_address
        self._pending: dict[asyncio.BaseTransport, tuple[str, asyncio.TimerHandle]] = {}
        self._per_address: Counter[str] = Counter()
        #: Connections closed for being slow, and refused for too many from one address.
        self.timed_out = 0
        self.refused = 0

    def factory(
        self, inner: Callable[[], asyncio.Protocol], *, capped: bool
    ) -> Callable[[], asyncio.Protocol]:
        """A protocol factory that puts every connection of ``inner`` under this guard; with
        ``capped``, counted against its address's pending connections."""
        return lambda: _GuardedProtocol(self, inner(), capped)

    def admit(self, transport: asyncio.BaseTransport | None) -> None:
        """The connection has proved itself: no deadline, no longer counted against its address."""
        entry = self._pending.pop(transport, None) if transport is not None else None
        if entry is not None:
            address, timer = entry
            timer.cancel()
            self._release(address)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _opened(self, transport: asyncio.Transport, capped: bool) -> bool:
        """Start watching a new connection; False when its address already holds too many."""
        address = ""  # Not counted.
        if capped:
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
            if self._per_address[address] >= self.per_address:
                self.refused += 1
                return False
            self._per_address[address] += 1
        timer = asyncio.get_running_loop().call_later(self.timeout, self._expire, transport)
        self._pending[transport] = (address, timer)
        return True

    def _closed(self, transport: asyncio.Transport) -> None:
        self.admit(transport)

    def _expire(self, transport: asyncio.Transport) -> None:
        entry = self._pending.pop(transport, None)
        if entry is not None:
            self._release(entry[0])
            self.timed_out += 1
            log.debug("closed a connection from %s: no handshake within %g s", entry[0],
                      self.timeout)
            transport.abort()

    def _release(self, address: str) -> None:
        if not address:
            return
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]


class _GuardedProtocol(asyncio.Protocol):
    """Delegates to the server's protocol; tells the guard when a connection opens and ends."""

    __slots__ = ("_capped", "_guard", "_inner", "_refused", "_transport")

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol, capped: bool) -> None:
        self._guard = guard
        self._inner = inner
        self._capped = capped
        self._transport: asyncio.Transport | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are Transports without deriving from asyncio's class.
        self._transport = cast(asyncio.Transport, transport)
        if not self._guard._opened(self._transport, self._capped):
            # Refused before the server's protocol has seen it: it never will.
            self._refused = True
            self._transport.abort()
            return
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        if self._transport is not None:
            self._guard._closed(self._transport)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._refused else self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
