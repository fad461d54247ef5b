"""The application factory: one aiohttp app serving the HTTP API and the OCPP endpoint.

Resources are opened and closed in ``cleanup_ctx`` (database, then gateway), so tests and
``csms serve`` get the same lifecycle. When the HTTP and OCPP ports differ, each port serves
only its own paths.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from csms.api import (
    accounts,
    booking,
    calendar,
    charge_points,
    charger_detail,
    events,
    files,
    fleet,
    id_tags,
    message_log,
    pages,
    receipts,
    security_profiles,
    service,
    sites,
    transactions,
    webhooks,
)
from csms.api.auth import auth_middleware, install_limits
from csms.api.context import (
    BOOKING,
    CLOCK,
    COMMANDS,
    EMBEDDED_POSTGRES,
    GATEWAY,
    GUARD,
    LIVE_FEED,
    LIVE_STATE,
    LOCAL_LISTS,
    MESSAGE_LOG,
    POOL,
    REGISTRY,
    SCHEDULER,
    SETTINGS,
    WORKERS,
)
from csms.api.errors import error_middleware
from csms.api.http_metrics import http_metrics_middleware
from csms.booking.codes import WrongCodeRule
from csms.booking.reconcile import ConnectorWatch
from csms.booking.service import Booking
from csms.clock import Clock, system_clock
from csms.cluster.node import ClusterNode, join_cluster
from csms.commands import CommandRouter
from csms.domain.certificates import CertificateAuthority
from csms.gateway import schemas
from csms.gateway.commands import LocalCommandRouter
from csms.gateway.guard import ConnectionGuard
from csms.gateway.handlers import ChargePointHandlers
from csms.gateway.registry import Registry
from csms.gateway.transport import Gateway
from csms.services.email import email_transport
from csms.services.security import CertificateSigning, load_authority
from csms.services.transactions import Transactions
from csms.services.verification import IdTagVerifier
from csms.settings import Settings
from csms.store.database import close_pool, create_pool, database_url
from csms.store.migrations import migrate
from csms.workers.live_feed import LiveFeed
from csms.workers.live_state import LiveStateWriter
from csms.workers.local_lists import LocalListSync
from csms.workers.message_log import MessageLog
from csms.workers.notifications import NotificationDelivery, Reminders
from csms.workers.scheduler import Scheduler
from csms.workers.supervisor import Supervisor
from csms.workers.token_purge import purge_tokens

log = logging.getLogger(__name__)

OCPP_PREFIX = "/ocpp/"
#: The security extension's certificate signing: the CA (read at start) and the service.
CSR_AUTHORITY: web.AppKey[CertificateAuthority | None] = web.AppKey("csr_authority")
CERTIFICATES = web.AppKey("certificates", CertificateSigning)
CLUSTER = web.AppKey("cluster", ClusterNode)


def create_app(settings: Settings, clock: Clock = system_clock) -> web.Application:
    guard = ConnectionGuard(
        timeout=settings.handshake_timeout, per_address=settings.max_pending_per_address
    )
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[http_metrics_middleware, error_middleware,
                     _port_middleware(settings, guard), auth_middleware],
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[CSR_AUTHORITY] = load_authority(settings.csr_ca_cert, settings.csr_ca_key)
    install_limits(app)
    app[GUARD] = guard
    app[WORKERS] = Supervisor()
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_gateway)
    app.cleanup_ctx.append(_workers)
    app.on_shutdown.append(_close_connections)
    for module in (service, accounts, sites, fleet, charge_points, id_tags, transactions,
                   booking, events):
        app.router.add_routes(module.routes)
    app.router.add_routes(security_profiles.routes)
    app.router.add_routes(files.routes)
    app.router.add_routes(message_log.routes)
    app.router.add_routes(charger_detail.routes)
    app.router.add_routes(webhooks.routes)
    app.router.add_routes(calendar.routes)
    app.router.add_routes(receipts.routes)
    app.router.add_routes(pages.routes)
    app.router.add_get(OCPP_PREFIX + "{charge_point_id}", _ocpp)
    return app


async def _ocpp(request: web.Request) -> web.StreamResponse:
    return await request.app[GATEWAY].handle(request)


def _port_middleware(settings: Settings, guard: ConnectionGuard) -> Middleware:
    ocpp_ports = {settings.ocpp_port, settings.ocpp_plain_port} - {0}

    @web.middleware
    async def separate_ports(request: web.Request, handler: Handler) -> web.StreamResponse:
        ocpp = request.path.startswith(OCPP_PREFIX)
        # Chargers download firmware and upload diagnostics (S 5.9, 5.19) where they reach
        # csms: the file locations are served on the OCPP port too.
        on_ocpp_port = ocpp or request.path.startswith(files.LOCATIONS_PREFIX)
        if settings.http_port != settings.ocpp_port:
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            port = sockname[1] if sockname else None
            if (port in ocpp_ports) != on_ocpp_port:
                raise web.HTTPNotFound()
        if not ocpp:
            # An HTTP client has sent a whole request: keep-alive limits apply from here.
            # An OCPP connection is admitted once its upgrade completes (the gateway).
            guard.admit(request.transport)
        return await handler(request)

    return separate_ports


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with database_url(settings.database_url, settings.data_dir) as (url, embedded):
        pool = await create_pool(
            url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            patience=settings.db_start_patience,
        )
        try:
            async with pool.acquire() as connection:
                await migrate(connection)
            app[POOL] = pool
            if embedded is not None:
                app[EMBEDDED_POSTGRES] = embedded
            yield
        finally:
            await close_pool(pool)


async def _gateway(app: web.Application) -> AsyncIterator[None]:
    """The gateway and everything that runs beside it, started and stopped together."""
    settings = app[SETTINGS]
    schemas.warm_up()
    live = app[LIVE_STATE] = LiveStateWriter(
        app[POOL], settings.node_id, settings.live_state_flush_interval
    )
    await live.start_node()
    _assemble(app, live)
    try:
        yield
    finally:
        await live.stop_node()


async def _workers(app: web.Application) -> AsyncIterator[None]:
    """The background workers, supervised; stopped before the gateway and the database."""
    supervisor = app[WORKERS]
    embedded = app.get(EMBEDDED_POSTGRES)
    if embedded is not None:
        supervisor.start("embedded-postgres", embedded.watch)
    supervisor.start("live-state", app[LIVE_STATE].run)
    supervisor.start("scheduler", app[SCHEDULER].run)
    supervisor.start("live-feed", app[LIVE_FEED].run)
    supervisor.start("idle-connections", app[GATEWAY].sweep_idle)
    cluster = app[CLUSTER]
    supervisor.start("cluster-listener", cluster.listener.run)
    supervisor.start("command-relay", cluster.relay.run)
    supervisor.start("connection-ownership", cluster.ownership.run)
    if app[SETTINGS].local_lists:
        supervisor.start("local-lists", app[LOCAL_LISTS].run)
    if MESSAGE_LOG in app:
        supervisor.start("message-log", app[MESSAGE_LOG].run)
    supervisor.start("token-purge", functools.partial(purge_tokens, app[POOL], app[CLOCK]))
    _notification_workers(app, supervisor)
    try:
        yield
    finally:
        await supervisor.stop()


def _notification_workers(app: web.Application, supervisor: Supervisor) -> None:
    """Reminders (unless ``CSMS_REMINDER_MINUTES`` is 0) and delivery to webhooks and email."""
    settings, pool, clock = app[SETTINGS], app[POOL], app[CLOCK]
    if settings.reminder_minutes:
        reminders = Reminders(
            pool, clock, timedelta(minutes=settings.reminder_minutes),
            every=max(settings.scheduler_poll_seconds, 1.0),
        )
        supervisor.start("notification-reminders", reminders.run)
    delivery = NotificationDelivery(
        pool, clock, email=email_transport(settings.email), timeout=settings.webhook_timeout,
        max_attempts=settings.webhook_max_attempts, first_retry=settings.webhook_retry_seconds,
        poll_seconds=settings.scheduler_poll_seconds,
    )
    supervisor.start("notification-delivery", delivery.run)


def _assemble(app: web.Application, live: LiveStateWriter) -> None:
    settings, pool, clock = app[SETTINGS], app[POOL], app[CLOCK]
    registry = app[REGISTRY] = Registry()
    local = LocalCommandRouter(registry, settings.call_timeout)
    cluster = app[CLUSTER] = join_cluster(
        pool, node_id=settings.node_id, local=local, registry=registry, live=live,
        call_timeout=settings.call_timeout,
    )
    router = app[COMMANDS] = cluster.router
    handlers, scheduler = _booking_parts(app, router, live)
    local_lists = app[LOCAL_LISTS] = LocalListSync(
        pool, router, clock, node_id=settings.node_id, call_timeout=settings.call_timeout,
        every=settings.local_list_sync_seconds, settle=settings.local_list_settle_seconds,
        code_lead=timedelta(seconds=settings.local_list_code_lead_seconds),
    )
    tap = None
    if settings.message_log:
        tap = _message_log(app).note
    app[GATEWAY] = Gateway(
        pool=pool,
        registry=registry,
        live=live,
        handlers=handlers.table(),
        clock=clock,
        auto_register=settings.auto_register,
        max_message_bytes=settings.max_body_bytes,
        guard=app[GUARD],
        ping_interval=settings.ws_ping_interval or None,
        idle_after=settings.idle_after(),
        on_connect=_on_connect(scheduler, local_lists if settings.local_lists else None),
        tap=tap,
    )
    app[LIVE_FEED] = LiveFeed(pool)


def _message_log(app: web.Application) -> MessageLog:
    settings = app[SETTINGS]
    writer = app[MESSAGE_LOG] = MessageLog(
        app[POOL], app[CLOCK], node_id=settings.node_id,
        retention=timedelta(days=settings.message_log_retention_days),
        flush_interval=settings.message_log_flush_interval,
    )
    return writer


def _on_connect(
    scheduler: Scheduler, local_lists: LocalListSync | None
) -> Callable[[str], Coroutine[Any, Any, None]]:
    async def connected(charge_point_id: str) -> None:
        if local_lists is not None:
            await local_lists.charger_connected(charge_point_id)
        await scheduler.charger_connected(charge_point_id)

    return connected


def _booking_parts(
    app: web.Application, router: CommandRouter, live: LiveStateWriter
) -> tuple[ChargePointHandlers, Scheduler]:
    """Everything that moves a booking, wired to one verifier and one transaction service."""
    settings, pool, clock = app[SETTINGS], app[POOL], app[CLOCK]
    rule = WrongCodeRule(
        settings.wrong_code_limit, timedelta(seconds=settings.wrong_code_window_seconds)
    )
    verifier = IdTagVerifier(pool, clock, rule)
    transactions = Transactions(pool, clock, verifier)
    scheduler = app[SCHEDULER] = Scheduler(
        pool,
        router,
        clock,
        poll_seconds=settings.scheduler_poll_seconds,
        retry_interval=timedelta(seconds=settings.dispatch_retry_seconds),
        call_timeout=settings.call_timeout,
        settle=transactions.settle_abandoned,
    )
    lead = timedelta(seconds=settings.reserve_lead_seconds)
    app[BOOKING] = Booking(pool, router, clock, settings.booking_terms(), lead)
    watch = ConnectorWatch(pool, clock, transactions.settle_abandoned)
    lifetime = timedelta(days=settings.csr_validity_days)
    certificates = app[CERTIFICATES] = CertificateSigning(
        pool, router, clock, app[CSR_AUTHORITY], lifetime, settings.csr_organization
    )
    handlers = ChargePointHandlers(
        pool,
        live,
        clock,
        settings.heartbeat_interval,
        verifier=verifier,
        transactions=transactions,
        on_connector_status=watch.status_changed,
        certificates=certificates,
    )
    return handlers, scheduler


async def _close_connections(app: web.Application) -> None:
    app[LIVE_FEED].close()
    await app[CERTIFICATES].close()
    registry = app[REGISTRY]
    sessions = [registry.get(cp_id) for cp_id in list(registry)]
    await asyncio.gather(
        *(session.disconnect("server shutting down") for session in sessions if session),
        return_exceptions=True,
    )
