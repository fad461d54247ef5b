"""Transactions: ``GET /api/v1/transactions`` (operators)."""

from __future__ import annotations

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import POOL
from csms.api.encoding import json_response
from csms.api.requests import cursor_param, limit_param, page, query_flag, query_text
from csms.domain.identifiers import INT32_MAX
from csms.store import transactions

routes = web.RouteTableDef()


@routes.get("/api/v1/transactions")
async def list_transactions(request: web.Request) -> web.Response:
    """Newest first; ``charge_point_id`` and ``open=true`` filter."""
    operator(request)
    limit = limit_param(request)
    rows = await transactions.list_page(
        request.app[POOL],
        before=cursor_param(request, int, maximum=INT32_MAX),
        limit=limit,
        charge_point_id=query_text(request, "charge_point_id"),
        open_only=query_flag(request, "open"),
    )
    return json_response(page([dict(row) for row in rows], limit, "id"))
