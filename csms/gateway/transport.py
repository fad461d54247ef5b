"""The OCPP WebSocket endpoint on aiohttp: handshake checks, then one :class:`Session` each.

aiohttp serves the socket because, measured on this 2-core machine, its WebSocket answers about
26,000 heartbeats/s where the ``websockets`` server answers about 14,000. Only this module knows
it: sessions see a ``send`` coroutine and text messages.

Handshake, in order (J 3, SEC): an unknown charge point id gets HTTP 404 (or is admitted as
pending with ``CSMS_AUTO_REGISTER``); a charger with a stored AuthorizationKey must present it by
HTTP Basic auth (401 otherwise); the subprotocol ``ocpp1.6`` must be offered.

Once connected, a charger is pinged (WebSocket ping; no pong in time closes it) and closed when
it has said nothing for ``idle_after`` seconds — a bounded multiple of the heartbeat interval it
was given — so a socket whose peer is gone or mute does not hold the charger "online".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
from aiohttp import WSMsgType, web

from csms.clock import Clock
from csms.domain.charge_points import check_charge_point_id
from csms.domain.credentials import verify_secret
from csms.domain.security_profiles import ConnectionProof, achieved_profile
from csms.errors import ChargePointNotConnected, ValidationFailed
from csms.gateway.guard import ConnectionGuard
from csms.gateway.registry import Registry
from csms.gateway.session import FrameTap, Handler, Session
from csms.store import charge_points, security_profiles
from csms.store.errors import is_unavailable
from csms.workers.live_state import LiveStateWriter

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"


class Gateway:
    """Accepts charger connections and runs their sessions."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        registry: Registry,
        live: LiveStateWriter,
        handlers: dict[str, Handler],
        clock: Clock,
        auto_register: bool,
        max_message_bytes: int,
        guard: ConnectionGuard | None = None,
        ping_interval: float | None = None,
        idle_after: float | None = None,
        on_connect: Callable[[str], Coroutine[Any, Any, None]] | None = None,
        tap: FrameTap | None = None,
    ) -> None:
        self._pool = pool
        self._registry = registry
        self._live = live
        self._handlers = handlers
        self._clock = clock
        self._auto_register = auto_register
        self._max_message_bytes = max_message_bytes
        self._on_connect = on_connect
        self._tap = tap
        self._guard = guard
        self._ping_interval = ping_interval
        self._idle_after = idle_after
        #: Chargers closed for saying nothing within ``idle_after``.
        self.idle_closed = 0
        self._background: set[asyncio.Task[None]] = set()
        # Charger id → (stored hash, SHA-256 of the key last verified against it): reconnects
        # skip the scrypt check while the stored hash is unchanged.
        self._verified: dict[str, tuple[str, bytes]] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        charge_point_id = request.match_info["charge_point_id"]
        record, achieved = await self._admit(request, charge_point_id)
        if record.security_profile_pending is not None and await security_profiles.promote(
            self._pool, charge_point_id, achieved
        ):
            log.info("%s: now at security profile %d", charge_point_id, achieved)
        offered = _offered_subprotocols(request)
        if SUBPROTOCOL not in offered:
            # Refused before the upgrade (OCTT TC_088 checks this): J 3.1.2 also allows
            # completing it without the header and closing at once, which no charger can use.
            log.warning("%s: refused, subprotocols offered: %s", charge_point_id, offered or "none")
            raise web.HTTPBadRequest(text="subprotocol ocpp1.6 required\n")
        ws = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,),
            compress=False,  # permessage-deflate costs 3-7x the memory per connection.
            # aiohttp refuses a message *of* max_msg_size bytes; the documented limit is the
            # largest frame accepted, so one more.
            max_msg_size=self._max_message_bytes + 1,
            autoping=True,
            heartbeat=self._ping_interval,  # Ping when quiet; no pong within half of it: closed.
        )
        await ws.prepare(request)
        if self._guard is not None:
            self._guard.admit(request.transport)
        await self._run(charge_point_id, ws)
        return ws

    async def _admit(
        self, request: web.Request, charge_point_id: str
    ) -> tuple[charge_points.HandshakeRecord, int]:
        """The charger's record and the security profile this connection proved; raises the
        HTTP refusal otherwise."""
        try:
            check_charge_point_id(charge_point_id)
        except ValidationFailed:
            raise web.HTTPNotFound(text="unknown charge point\n") from None
        record = await charge_points.fetch_for_handshake(self._pool, charge_point_id)
        if record is None:
            if not self._auto_register:
                log.warning("%s: unknown charge point refused", charge_point_id)
                raise web.HTTPNotFound(text="unknown charge point\n")
            record = await charge_points.admit_pending(self._pool, charge_point_id)
            log.info("%s: unknown charge point admitted as pending", charge_point_id)
        proof = await self._proof(request, record)
        achieved = achieved_profile(proof, charge_point_id)
        if achieved < record.security_profile:
            log.warning("%s: refused, security profile %d proved, %d required",
                        charge_point_id, achieved, record.security_profile)
            raise web.HTTPForbidden(
                text=f"security profile {record.security_profile} required\n"
            )
        return record, achieved

    async def _proof(
        self, request: web.Request, record: charge_points.HandshakeRecord
    ) -> ConnectionProof:
        """What the connection proves: TLS, a verified client certificate, the key (SEC 2)."""
        tls, certificate_name = _tls_identity(request)
        if tls and certificate_name == record.id:
            return ConnectionProof(tls, certificate_name, key_verified=False)  # Profile 3.
        if record.authorization_key_hash is None:
            return ConnectionProof(tls, certificate_name, key_verified=False)
        key = _basic_password(request, record.id)
        if key is None or not await self._key_matches(
            record.id, key, record.authorization_key_hash
        ):
            # A stored key must be presented, whatever the registered profile (SEC 2.2).
            log.warning("%s: refused, missing or wrong authorization key", record.id)
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Basic realm="csms"'}, text="unauthorized\n"
            )
        return ConnectionProof(tls, certificate_name, key_verified=True)

    async def _key_matches(self, charge_point_id: str, key: str, stored: str) -> bool:
        digest = hashlib.sha256(key.encode()).digest()
        cached = self._verified.get(charge_point_id)
        if cached is not None and cached[0] == stored and hmac.compare_digest(cached[1], digest):
            return True
        if not await asyncio.to_thread(verify_secret, key, stored):
            return False
        self._verified[charge_point_id] = (stored, digest)
        return True

    async def _run(self, charge_point_id: str, ws: web.WebSocketResponse) -> None:
        async def disconnect(reason: str) -> None:
            await ws.close(code=1000, message=reason.encode()[:120])

        async def send(text: str) -> None:
            # A socket closing under us (the charger left, a newer connection replaced it) is
            # ordinary here: the caller learns the charger is not connected, nothing is logged.
            if ws.closed:
                raise ChargePointNotConnected(f"{charge_point_id} is not connected")
            try:
                await ws.send_str(text)
            except ConnectionError as error:
                raise ChargePointNotConnected(f"{charge_point_id}: {error}") from None

        session = Session(charge_point_id, send, self._handlers, disconnect, self._tap)
        connected_at = session.connected_at = self._clock()
        previous = self._registry.add(session)
        if previous is not None:
            log.info("%s: new connection replaces the previous one", charge_point_id)
            await previous.disconnect("replaced by a new connection")
        self._live.connected(charge_point_id, connected_at)
        log.info("%s: connected", charge_point_id)
        if self._on_connect is not None:
            self._in_background(self._on_connect(charge_point_id), f"{charge_point_id}: on connect")
        try:
            await self._read(session, ws)
        finally:
            session.close()
            self._registry.remove(session)
            self._live.disconnected(charge_point_id, connected_at)
            log.info("%s: disconnected (%s)", charge_point_id, ws.close_code)

    def _in_background(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``work`` beside the connection; its failure is logged, never left unretrieved."""

        async def logged() -> None:
            try:
                await work
            except Exception as error:
                if is_unavailable(error):
                    log.warning("%s: database unavailable: %r", what, error)
                else:
                    log.exception("%s failed", what)

        task = asyncio.create_task(logged())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def sweep_idle(self, every: float = 5.0) -> None:
        """Close the chargers that have said nothing for ``idle_after`` seconds; until cancelled."""
        if self._idle_after is None:
            return await asyncio.Future()  # Nothing to watch: idle, but alive, until cancelled.
        while True:
            await asyncio.sleep(every)
            silent_since = time.monotonic() - self._idle_after
            for cp_id in list(self._registry):
                session = self._registry.get(cp_id)
                if session is not None and session.last_heard < silent_since:
                    self.idle_closed += 1
                    log.info("%s: nothing heard for %g s; closing", cp_id, self._idle_after)
                    self._in_background(session.disconnect("idle: nothing heard"), cp_id)

    @staticmethod
    async def _read(session: Session, ws: web.WebSocketResponse) -> None:
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                try:
                    await session.receive(message.data)
                except ChargePointNotConnected:
                    return  # Our answer could not be written: the socket is closing.
            elif message.type is WSMsgType.BINARY:
                # J 4: OCPP-J messages are text frames; anything else is dropped.
                log.warning("%s: dropped a binary frame", session.charge_point_id)
            elif message.type is WSMsgType.ERROR:
                log.warning("%s: socket error %s", session.charge_point_id, ws.exception())
                return


def _offered_subprotocols(request: web.Request) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [item.strip() for item in header.split(",") if item.strip()]


def _basic_password(request: web.Request, charge_point_id: str) -> str | None:
    """The password of a Basic auth header whose user is ``charge_point_id`` (SEC profile 1)."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        credentials = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    # RFC 7617: user-id ":" password. The user is known (the charger id, which may itself hold
    # a colon), so the password is whatever follows it.
    prefix = charge_point_id + ":"
    return credentials[len(prefix) :] if credentials.startswith(prefix) else None


def _tls_identity(request: web.Request) -> tuple[bool, str | None]:
    """Whether the connection is TLS, and the Common Name of a client certificate the TLS layer
    verified against ``CSMS_TLS_CLIENT_CA`` (none without one)."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return False, None
    certificate = ssl_object.getpeercert()
    for entry in (certificate or {}).get("subject", ()):
        for name, value in entry:
            if name == "commonName":
                return True, str(value)
    return True, None
