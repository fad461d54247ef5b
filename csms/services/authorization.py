"""Authorize an idTag at a charger (S 4.1, 5.2)."""

from __future__ import annotations

import logging

import asyncpg

from csms.clock import Clock
from csms.domain.authorization import IdTagInfo, decide
from csms.store import id_tags

log = logging.getLogger(__name__)


async def authorize(
    pool: asyncpg.Pool, clock: Clock, charge_point_id: str, id_tag: str
) -> IdTagInfo:
    """The ``idTagInfo`` for ``id_tag`` presented at ``charge_point_id`` now."""
    record = await id_tags.find(pool, id_tag)
    info = decide(record, clock())
    log.info("authorize %s at %s: %s", id_tag, charge_point_id, info.status)
    return info
