"""``/api/v1/charge-points/{cp_id}/security-profile``: read and change (operators)."""

from __future__ import annotations

from aiohttp import web

from csms.api.auth import operator
from csms.api.context import COMMANDS, POOL, SETTINGS
from csms.api.encoding import json_response
from csms.api.requests import json_body, path_text, query_flag
from csms.domain.security_profiles import check_profile
from csms.errors import ValidationFailed
from csms.services import security_profiles as service
from csms.store import security_profiles as store
from csms.store.security_profiles import SecurityProfile

routes = web.RouteTableDef()
PATH = "/api/v1/charge-points/{cp_id}/security-profile"


def _present(found: SecurityProfile) -> dict[str, object]:
    return {"charge_point_id": found.charge_point_id, "profile": found.profile,
            "pending": found.pending}


@routes.get(PATH)
async def get_profile(request: web.Request) -> web.Response:
    operator(request)
    found = await store.get(request.app[POOL], path_text(request, "cp_id"))
    return json_response(_present(found))


@routes.put(PATH)
async def put_profile(request: web.Request) -> web.Response:
    """Lowering applies at once; raising is pending until the charger reconnects with it."""
    operator(request)
    cp_id = path_text(request, "cp_id")
    body = await json_body(request, required=frozenset({"profile"}))
    try:
        profile = check_profile(body["profile"])
    except ValueError as error:
        raise ValidationFailed(str(error)) from None
    offline = query_flag(request, "offline")
    await store.get(request.app[POOL], cp_id)  # 404 before anything is sent
    found = await service.change(
        request.app[POOL], request.app[COMMANDS], request.app[SETTINGS], cp_id, profile,
        offline=offline,
    )
    return json_response(_present(found))
