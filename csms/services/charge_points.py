"""Registering charge points, and sending them commands."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from csms.commands import CommandRouter
from csms.domain.charge_points import (
    check_authorization_key,
    check_charge_point_id,
    check_connectors,
)
from csms.domain.credentials import AUTHORIZATION_KEY_COST, hash_secret
from csms.errors import AlreadyExists, NotFound
from csms.store import charge_points

log = logging.getLogger(__name__)


async def register(
    pool: asyncpg.Pool,
    charge_point_id: object,
    *,
    site_id: int | None,
    authorization_key: object,
    connectors: object,
) -> str:
    """Register a charger, or accept one that was admitted as pending. Returns its id."""
    cp_id = check_charge_point_id(charge_point_id)
    specs = check_connectors(connectors)
    key_hash = None
    if authorization_key is not None:
        key = check_authorization_key(authorization_key)
        key_hash = await asyncio.to_thread(hash_secret, key, AUTHORIZATION_KEY_COST)
    existing = await charge_points.fetch_for_handshake(pool, cp_id)
    if existing is not None and existing.registration_status != "pending":
        raise AlreadyExists(f"charge point {cp_id!r} is already registered")
    if existing is not None:
        await charge_points.accept(
            pool, cp_id, site_id=site_id, authorization_key_hash=key_hash, connectors=specs
        )
    else:
        await charge_points.create(
            pool, cp_id, site_id=site_id, authorization_key_hash=key_hash, connectors=specs
        )
    log.info("registered charge point %s", cp_id)
    return cp_id


async def send_command(
    pool: asyncpg.Pool,
    router: CommandRouter,
    charge_point_id: str,
    action: str,
    payload: dict[str, Any],
    timeout: float | None = None,
) -> dict[str, Any]:
    """Send an operator's command and return the charger's answer.

    A new AuthorizationKey accepted by the charger replaces the stored one at once: from then
    on the charger connects with the new key and the old one stops working (SEC profile 1).
    """
    if await charge_points.fetch_for_handshake(pool, charge_point_id) is None:
        raise NotFound(f"no charge point {charge_point_id!r}")
    new_key = _new_authorization_key(action, payload)
    answer = await router.call(charge_point_id, action, payload, timeout)
    if new_key is not None and answer.get("status") == "Accepted":
        key_hash = await asyncio.to_thread(hash_secret, new_key, AUTHORIZATION_KEY_COST)
        await charge_points.set_authorization_key(pool, charge_point_id, key_hash)
        log.info("%s: AuthorizationKey changed", charge_point_id)
    return answer


def _new_authorization_key(action: str, payload: dict[str, Any]) -> str | None:
    if action != "ChangeConfiguration" or payload.get("key") != "AuthorizationKey":
        return None
    return check_authorization_key(payload.get("value"))
