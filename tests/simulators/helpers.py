"""Helpers for the simulator's network tests: CSMS commands over HTTP, bounded waits."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.events import Event, EventKind
from simulators.protocol import format_time
from tests.conftest import ServerHandle


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4).upper()}"


async def command(csms: ServerHandle, cp_id: str, action: str, payload: dict[str, Any]) -> Any:
    """Make the CSMS send ``action`` to the charger; return the charger's answer."""
    status, body = await csms.request(
        "POST", f"/api/v1/charge-points/{cp_id}/commands/{action}", json=payload)
    assert status == 200, (status, body)
    return body


def in_minutes(minutes: float) -> str:
    return format_time(datetime.now(UTC) + timedelta(minutes=minutes))


def is_status(connector: int, status: str) -> Any:
    def test(event: Event) -> bool:
        return (event.kind is EventKind.STATUS and event.connector == connector
                and event.status == status)

    return test


def sent(action: str, **fields: Any) -> Any:
    def test(event: Event) -> bool:
        return (event.kind is EventKind.SENT and event.action == action
                and all((event.payload or {}).get(k) == v for k, v in fields.items()))

    return test


def result(action: str) -> Any:
    def test(event: Event) -> bool:
        return event.kind is EventKind.RESULT and event.action == action

    return test
