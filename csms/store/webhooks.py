"""Operators' webhook subscriptions. The secret is written here and read only by the delivery
worker (:func:`csms.store.notifications.claim_due`): nothing here returns it."""

from __future__ import annotations

from typing import Any

import asyncpg

from csms.domain.notifications import WebhookSpec
from csms.errors import NotFound

_COLUMNS = "id, url, events, active, created_at"


async def create(pool: asyncpg.Pool, spec: WebhookSpec) -> dict[str, Any]:
    """Store a subscription; it receives the events written from now on."""
    row = await pool.fetchrow(
        f"""INSERT INTO webhooks (url, secret, events) VALUES ($1, $2, $3)
            RETURNING {_COLUMNS}""",
        spec.url,
        spec.secret,
        list(spec.events),
    )
    assert row is not None
    return dict(row)


async def list_all(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Every subscription, oldest first, each with how its deliveries stand."""
    rows = await pool.fetch(
        f"""SELECT {", ".join("w." + c for c in _COLUMNS.split(", "))},
                   count(*) FILTER (WHERE d.state = 'pending') AS pending,
                   count(*) FILTER (WHERE d.state = 'delivered') AS delivered,
                   count(*) FILTER (WHERE d.state = 'dead') AS dead
            FROM webhooks w LEFT JOIN notification_deliveries d ON d.webhook_id = w.id
            GROUP BY w.id ORDER BY w.id"""
    )
    return [dict(row) for row in rows]


async def delete(pool: asyncpg.Pool, webhook_id: int) -> None:
    """Remove a subscription and what was still to be delivered to it."""
    deleted = await pool.fetchval(
        "DELETE FROM webhooks WHERE id = $1 RETURNING id", webhook_id
    )
    if deleted is None:
        raise NotFound(f"no webhook {webhook_id}")
