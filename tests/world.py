"""The ``world`` fixture: a site in Berlin with a tariff, a two-connector charger, a driver."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from csms.domain.timestamps import format_timestamp
from tests.charger_stub import ChargerStub, Responder
from tests.conftest import ServerHandle, ShiftableClock
from tests.waiting import eventually

TARIFF = {
    "currency": "EUR",
    "reservation_fee_per_hour": "1.00",
    "session_fee": "0.50",
    "periods": [
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "00:00",
            "end": "07:00",
            "energy_price_per_kwh": "0.25",
            "time_price_per_hour": "0",
        },
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "07:00",
            "end": "22:00",
            "energy_price_per_kwh": "0.45",
            "time_price_per_hour": "0",
        },
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "22:00",
            "end": "24:00",
            "energy_price_per_kwh": "0.25",
            "time_price_per_hour": "0",
        },
    ],
}
_emails = itertools.count()


@dataclass
class World:
    server: ServerHandle
    clock: ShiftableClock
    site_id: int
    cp_id: str
    driver: str  # the driver's token

    def window(self, starts_in: float = 0, minutes: float = 60) -> tuple[str, str]:
        start = self.clock() + timedelta(minutes=starts_in)
        start = start.replace(microsecond=0)
        return format_timestamp(start), format_timestamp(start + timedelta(minutes=minutes))

    async def book(
        self,
        connector_id: int = 1,
        window: tuple[str, str] | None = None,
        *,
        token: str | None = None,
        cp_id: str | None = None,
        key: str | None = None,
    ) -> tuple[int, Any]:
        start, end = window or self.window()
        headers = {"Idempotency-Key": key} if key else {}
        return await self.server.request(
            "POST",
            "/api/v1/reservations",
            token=token or self.driver,
            json={
                "charge_point_id": cp_id or self.cp_id,
                "connector_id": connector_id,
                "start": start,
                "end": end,
            },
            headers=headers,
        )

    async def reservation(self, reservation_id: int, token: str | None = None) -> dict[str, Any]:
        status, body = await self.server.request(
            "GET", f"/api/v1/reservations/{reservation_id}", token=token or self.driver
        )
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def connect(
        self, cp_id: str | None = None, *, free: tuple[int, ...] = (), **replies: Responder
    ) -> ChargerStub:
        """A scripted charger; ``free`` connectors report Available, and the call returns once
        the CSMS shows the charger online with them free (a move or a search now counts them)."""
        cp_id = cp_id or self.cp_id
        charger = await ChargerStub.connect(f"{self.server.ocpp_url}/{cp_id}", **replies)
        for connector_id in free:
            await charger.result(
                "StatusNotification",
                {"connectorId": connector_id, "status": "Available", "errorCode": "NoError"},
            )
        if free:
            await eventually(lambda: self.charge_point(cp_id), lambda c: _shows_free(c, free))
        return charger

    async def charge_point(self, cp_id: str) -> dict[str, Any]:
        status, body = await self.server.request("GET", f"/api/v1/charge-points/{cp_id}")
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def new_driver(self) -> str:
        return await sign_up_driver(self.server)

    async def add_charger(self, connectors: int = 2, connector_type: str = "Type2") -> str:
        return await self.server.register_charge_point(
            connectors=connectors, site_id=self.site_id, connector_type=connector_type
        )


def _shows_free(charge_point: dict[str, Any], free: tuple[int, ...]) -> bool:
    statuses = {c["connector_id"]: c.get("status") for c in charge_point["connectors"]}
    return bool(charge_point["online"]) and all(statuses.get(n) == "Available" for n in free)


async def sign_up_driver(server: ServerHandle) -> str:
    email = f"driver{next(_emails)}@example.com"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            server.http_url + "/api/v1/users", json={"email": email, "password": "driver-password"}
        ) as response:
            assert response.status == 201
        async with http.post(
            server.http_url + "/api/v1/tokens", json={"email": email, "password": "driver-password"}
        ) as response:
            return str((await response.json())["token"])


async def make_world(server: ServerHandle, clock: ShiftableClock) -> World:
    """A site in Berlin with :data:`TARIFF`, a two-connector charger and a signed-up driver."""
    status, site = await server.request(
        "POST", "/api/v1/sites", json={"name": "Berlin Yard", "timezone": "Europe/Berlin"}
    )
    assert status == 201
    status, tariff = await server.request("PUT", f"/api/v1/sites/{site['id']}/tariff", json=TARIFF)
    assert status == 200, tariff
    cp_id = await server.register_charge_point(connectors=2, site_id=site["id"])
    return World(server, clock, site["id"], cp_id, await sign_up_driver(server))


@pytest.fixture
async def world(server: ServerHandle, clock: ShiftableClock) -> AsyncIterator[World]:
    yield await make_world(server, clock)


def parse(text: str) -> datetime:
    from csms.domain.timestamps import parse_timestamp

    return parse_timestamp(text)
