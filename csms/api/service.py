"""Service endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from csms.api.context import POOL, REGISTRY
from csms.api.encoding import json_response
from csms.errors import DatabaseUnavailable
from csms.gateway.session import CALLS_RECEIVED
from csms.schemas_dir import SCHEMAS_DIR

OPENAPI_PATH = SCHEMAS_DIR / "openapi.json"

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers."""
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers too."""
    try:
        await request.app[POOL].fetchval("SELECT 1", timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise DatabaseUnavailable(f"database not reachable: {error}") from error
    return json_response({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    lines = [
        "# HELP csms_connected_charge_points Charge points connected to this node.",
        "# TYPE csms_connected_charge_points gauge",
        f"csms_connected_charge_points {len(request.app[REGISTRY])}",
        "# HELP csms_ocpp_calls_received_total OCPP CALLs received from charge points, by action.",
        "# TYPE csms_ocpp_calls_received_total counter",
    ]
    for action, count in sorted(CALLS_RECEIVED.items()):
        safe = action.replace("\\", "").replace('"', "")[:64]
        lines.append(f'csms_ocpp_calls_received_total{{action="{safe}"}} {count}')
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=OPENAPI_PATH.read_bytes(), content_type="application/json")
