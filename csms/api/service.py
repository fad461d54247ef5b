"""Service endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import asyncpg
from aiohttp import web

from csms import metrics
from csms.api.context import EMBEDDED_POSTGRES, MESSAGE_LOG, POOL, REGISTRY, SETTINGS, WORKERS
from csms.api.encoding import json_response
from csms.booking.states import ReservationStatus
from csms.errors import DatabaseUnavailable
from csms.gateway.session import CALL_ERRORS_RECEIVED, CALL_ERRORS_SENT, CALLS_RECEIVED
from csms.metrics import Snapshot
from csms.schemas_dir import SCHEMAS_DIR
from csms.store.booking_metrics import BookingFigures, booking_figures

log = logging.getLogger(__name__)

OPENAPI_PATH = SCHEMAS_DIR / "openapi.json"
#: Booking figures are read from PostgreSQL at most this often (seconds): a scrape every few
#: seconds from several Prometheus servers and nodes must not scan the history each time.
BOOKING_FIGURES_TTL = 5.0
#: Per node (one app each): the ``id`` of its pool, when its figures were read, and what they
#: were (a node's new pool, after a restart in one process, reads them again).
_BOOKING_CACHE: dict[str, tuple[int, float, BookingFigures]] = {}

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Alive, or failing for good: 503 only when csms cannot recover by itself (a background
    worker keeps failing for a reason other than the database), so that an orchestrator
    restarts it. A database that is away makes ``/readyz`` fail, not this."""
    supervisor = request.app[WORKERS]
    workers = {
        state.name: {"running": state.running, "failures": state.failures,
                     "last_error": state.last_error}
        for state in supervisor.states.values()
    }
    broken = supervisor.broken
    if broken:
        return json_response(
            {"status": "failing", "broken": broken, "workers": workers}, status=503
        )
    return json_response({"status": "ok", "workers": workers})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers too (503 ``database_unavailable`` while it does not)."""
    try:
        await request.app[POOL].fetchval("SELECT 1", timeout=2)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise DatabaseUnavailable(f"database not reachable: {error}") from error
    return json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics_page(request: web.Request) -> web.Response:
    """Prometheus text format 0.0.4; every sample is labelled with this node's id (several
    nodes behind one address are told apart). Booking figures are cluster-wide, read from
    PostgreSQL at most every :data:`BOOKING_FIGURES_TTL` seconds."""
    app = request.app
    families: list[metrics.Family] = [
        *_gateway_families(app),
        *_worker_families(app),
        *_pool_families(app[POOL]),
        *await _booking_families(app),
        *_message_log_families(app),
        *metrics.REGISTRY.families(),
    ]
    text = metrics.render(families, {"node": app[SETTINGS].node_id})
    return web.Response(text=text, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def _counted(counts: Mapping[str, int], label: str) -> list[metrics.Sample]:
    """The samples of a ``collections.Counter`` (its keys are bounded where it is counted)."""
    return [("", {label: key[:64]}, count) for key, count in sorted(counts.items())]


def _gateway_families(app: web.Application) -> list[metrics.Family]:
    return [
        Snapshot("csms_connected_charge_points", "Charge points connected to this node.",
                 "gauge", [("", {}, len(app[REGISTRY]))]),
        Snapshot("csms_ocpp_calls_received_total",
                 "OCPP CALLs received from charge points, by action.",
                 "counter", _counted(CALLS_RECEIVED, "action")),
        Snapshot("csms_ocpp_call_errors_sent_total",
                 "CALLERRORs this node sent to charge points, by error code (J 4.2.3).",
                 "counter", _counted(CALL_ERRORS_SENT, "code")),
        Snapshot("csms_ocpp_call_errors_received_total",
                 "CALLERRORs charge points answered this node's calls with, by error code "
                 "(codes outside J 4.2.3 counted as (other)).",
                 "counter", _counted(CALL_ERRORS_RECEIVED, "code")),
    ]


def _worker_families(app: web.Application) -> list[metrics.Family]:
    states = sorted(app[WORKERS].states.values(), key=lambda state: state.name)
    families: list[metrics.Family] = [
        Snapshot("csms_worker_failures_total",
                 "Failures of a background worker (each restarted).", "counter",
                 [("", {"worker": s.name}, s.failures) for s in states]),
        Snapshot("csms_worker_restarts_total",
                 "Times a background worker was started again after a failure.", "counter",
                 [("", {"worker": s.name}, s.restarts) for s in states]),
        Snapshot("csms_worker_up",
                 "Whether a background worker runs (0 while it waits to restart).", "gauge",
                 [("", {"worker": s.name}, int(s.running)) for s in states]),
    ]
    embedded = app.get(EMBEDDED_POSTGRES)
    if embedded is not None:
        families.append(Snapshot(
            "csms_embedded_postgres_restarts_total",
            "Times the embedded PostgreSQL was found gone and started again.", "counter",
            [("", {}, embedded.restarts)],
        ))
    return families


def _pool_families(pool: asyncpg.Pool) -> list[metrics.Family]:
    return [
        Snapshot("csms_db_pool_connections", "Connections this node's database pool holds.",
                 "gauge", [("", {}, pool.get_size())]),
        Snapshot("csms_db_pool_idle_connections",
                 "Connections of this node's database pool not in use now.",
                 "gauge", [("", {}, pool.get_idle_size())]),
        Snapshot("csms_db_pool_max_connections",
                 "The most connections this node's database pool opens (CSMS_DB_POOL_MAX).",
                 "gauge", [("", {}, pool.get_max_size())]),
    ]


async def _booking_families(app: web.Application) -> list[metrics.Family]:
    figures = await _booking_figures(app)
    if figures is None:
        return []
    return [
        Snapshot("csms_bookings", "Bookings per status, cluster-wide (every node reads the "
                 "same shared tables).", "gauge",
                 [("", {"status": s.value}, figures.by_status.get(s.value, 0))
                  for s in ReservationStatus]),
        Snapshot("csms_booking_transitions_total",
                 "Booking status changes ever recorded, cluster-wide, by from and to status "
                 "(from=\"(new)\": created).", "counter",
                 [("", {"from": old, "to": new}, n)
                  for (old, new), n in sorted(figures.transitions.items())]),
        Snapshot("csms_scheduler_overdue_seconds",
                 "How long the oldest due booking no scheduler holds has waited, cluster-wide "
                 "(0: none waits).", "gauge", [("", {}, figures.overdue_seconds)]),
    ]


async def _booking_figures(app: web.Application) -> BookingFigures | None:
    """The figures of the last :data:`BOOKING_FIGURES_TTL` seconds, read again when older;
    ``None`` while the database does not answer (the rest of the page is still served)."""
    pool, node = app[POOL], app[SETTINGS].node_id
    cached = _BOOKING_CACHE.get(node)
    now = time.monotonic()
    if cached is not None and cached[0] == id(pool) and now - cached[1] < BOOKING_FIGURES_TTL:
        return cached[2]
    try:
        figures = await booking_figures(pool)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        log.warning("metrics: booking figures not read: %r", error)
        return None
    _BOOKING_CACHE[node] = (id(pool), now, figures)
    return figures


def _message_log_families(app: web.Application) -> list[metrics.Family]:
    writer = app.get(MESSAGE_LOG)
    if writer is None:
        return []
    return [
        Snapshot(f"csms_message_log_{what}_total", text, "counter",
                 [("", {}, getattr(writer, what))])
        for what, text in (
            ("queued", "OCPP frames taken into the message log's queue on this node."),
            ("written", "OCPP frames written to the message log (ocpp_messages)."),
            ("dropped", "OCPP frames the message log dropped (queue full, or refused)."),
        )
    ]


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=OPENAPI_PATH.read_bytes(), content_type="application/json")
