"""Running the app: sites on the HTTP and OCPP ports, TLS, clean shutdown on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import ssl
from collections.abc import AsyncIterator

from aiohttp import web

from csms.api.context import GUARD, POOL
from csms.app import create_app
from csms.clock import Clock, system_clock
from csms.gateway.guard import ConnectionGuard
from csms.settings import Settings

log = logging.getLogger(__name__)


def ocpp_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS for the OCPP port: profile 2 with a certificate, profile 3 with a client CA too.

    Client certificates are optional at the TLS layer (a certificate presented must verify):
    one port serves chargers of profile 2 and 3, and the gateway refuses a charger whose
    connection proves less than its registered profile.
    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # SEC: TLS 1.2 or newer.
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(settings.tls_client_ca)
    return context


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are watched by a :class:`ConnectionGuard` until admitted."""

    __slots__ = ("_guard", "_host", "_ocpp", "_port", "_reuse_port")

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None = None,
        *,
        ocpp: bool,
        reuse_port: bool = False,
    ) -> None:
        # A deep backlog: after a power cut, thousands of chargers connect within seconds.
        super().__init__(runner, ssl_context=ssl_context, backlog=BACKLOG)
        self._host, self._port, self._guard, self._ocpp = host, port, guard, ocpp
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.factory(server, capped=self._ocpp),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=self._reuse_port,
            ssl_handshake_timeout=self._guard.timeout if self._ssl_context else None,
        )


#: Connections the kernel queues before csms accepts them.
BACKLOG = 4096
#: Seconds an idle HTTP keep-alive connection is kept open.
KEEPALIVE_SECONDS = 15.0


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: Clock = system_clock) -> AsyncIterator[web.AppRunner]:
    """Serve until the block exits; then close connections, flush, stop the database."""
    app = create_app(settings, clock)
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=5, keepalive_timeout=KEEPALIVE_SECONDS
    )
    await runner.setup()
    try:
        tls = ocpp_ssl_context(settings)
        await _start_sites(runner, settings, app[GUARD], tls)
        scheme = "wss" if tls else "ws"
        log.info(
            "csms serving HTTP on http://%s:%s and OCPP on %s://%s:%s/ocpp/{id}",
            settings.host,
            settings.http_port,
            scheme,
            settings.host,
            settings.ocpp_port,
        )
        yield runner
    finally:
        await runner.cleanup()
        log.info("csms stopped")


async def _start_sites(
    runner: web.AppRunner,
    settings: Settings,
    guard: ConnectionGuard,
    tls: ssl.SSLContext | None,
) -> None:
    """Listen on the HTTP and OCPP ports (one site when they are the same port)."""
    host = settings.host
    # SO_REUSEPORT only for the workers of `csms serve --workers N` (csms.serve_processes),
    # not always on Linux: with it, any other process of the same user may bind the same
    # port and silently take a share of the connections (a second csms started by mistake
    # would split the chargers between two servers); one process fails with "address in
    # use" instead. The parent of the workers checks that the ports are free first.
    shared = settings.workers > 1
    if settings.ocpp_port == settings.http_port:
        await GuardedSite(
            runner, host, settings.http_port, guard, ssl_context=tls, ocpp=True,
            reuse_port=shared,
        ).start()
    else:
        await GuardedSite(
            runner, host, settings.http_port, guard, ocpp=False, reuse_port=shared
        ).start()
        await GuardedSite(
            runner, host, settings.ocpp_port, guard, ssl_context=tls, ocpp=True,
            reuse_port=shared,
        ).start()
    if settings.ocpp_plain_port:
        # Profile 0/1 chargers beside TLS ones: plain WebSocket on a port of its own.
        await GuardedSite(
            runner, host, settings.ocpp_plain_port, guard, ocpp=True, reuse_port=shared
        ).start()


async def serve(settings: Settings, clock: Clock = system_clock, *, demo: bool = False) -> None:
    """Run until SIGINT or SIGTERM; with ``demo``, seed demo data and run simulated chargers."""
    # Tens of thousands of long-lived connection objects make the default collector's full
    # passes take up to a second (measured: p99 938 ms at 19,900 chargers); collecting the young
    # generation less often keeps p99 under 5 ms at the same memory (benchmarks/RESULTS.md).
    gc.set_threshold(20_000, 10, 10)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(settings, clock) as runner, contextlib.AsyncExitStack() as extras:
        if demo:
            from csms import demo as demo_mode

            await demo_mode.seed(runner.app[POOL])
            await extras.enter_async_context(demo_mode.simulated_chargers(settings))
            print(demo_mode.banner(settings), flush=True)
        else:
            print("csms is ready", flush=True)
        await stop.wait()
        log.info("shutting down")
