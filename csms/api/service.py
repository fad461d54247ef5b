"""Service endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from aiohttp import web

from csms.api.context import EMBEDDED_POSTGRES, POOL, REGISTRY, SETTINGS, WORKERS
from csms.api.encoding import json_response
from csms.errors import DatabaseUnavailable
from csms.gateway.session import CALLS_RECEIVED
from csms.schemas_dir import SCHEMAS_DIR

OPENAPI_PATH = SCHEMAS_DIR / "openapi.json"

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
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; every sample is labelled with this node's id (several nodes
    behind one address are told apart)."""
    sample = _sampler(request.app[SETTINGS].node_id)
    lines = [
        "# HELP csms_connected_charge_points Charge points connected to this node.",
        "# TYPE csms_connected_charge_points gauge",
        sample("csms_connected_charge_points", len(request.app[REGISTRY])),
        "# HELP csms_ocpp_calls_received_total OCPP CALLs received from charge points, by action.",
        "# TYPE csms_ocpp_calls_received_total counter",
    ]
    for action, count in sorted(CALLS_RECEIVED.items()):
        safe = action.replace("\\", "").replace('"', "")[:64]
        lines.append(sample("csms_ocpp_calls_received_total", count, action=safe))
    lines += _worker_metrics(request.app, sample)
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


Sampler = Callable[..., str]


def _sampler(node_id: str) -> Sampler:
    node = node_id.replace("\\", "").replace('"', "").replace("\n", "")

    def sample(name: str, value: float, **labels: str) -> str:
        pairs = ",".join(f'{key}="{text}"' for key, text in {"node": node, **labels}.items())
        return f"{name}{{{pairs}}} {value}"

    return sample


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=OPENAPI_PATH.read_bytes(), content_type="application/json")


def _worker_metrics(app: web.Application, sample: Sampler) -> list[str]:
    states = sorted(app[WORKERS].states.values(), key=lambda state: state.name)
    lines = [
        "# HELP csms_worker_failures_total Failures of a background worker (each restarted).",
        "# TYPE csms_worker_failures_total counter",
        *(sample("csms_worker_failures_total", s.failures, worker=s.name) for s in states),
        "# HELP csms_worker_up Whether a background worker runs (0 while it waits to restart).",
        "# TYPE csms_worker_up gauge",
        *(sample("csms_worker_up", int(s.running), worker=s.name) for s in states),
    ]
    embedded = app.get(EMBEDDED_POSTGRES)
    if embedded is not None:
        lines += [
            "# HELP csms_embedded_postgres_restarts_total Times the embedded PostgreSQL was found"
            " gone and started again.",
            "# TYPE csms_embedded_postgres_restarts_total counter",
            sample("csms_embedded_postgres_restarts_total", embedded.restarts),
        ]
    return lines
