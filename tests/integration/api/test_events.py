"""``GET /api/v1/events``: live updates over server-sent events, filtered by who asks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from tests.waiting import eventually
from tests.world import World


class EventStream:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for k, data in self.events if k == kind]


@contextlib.asynccontextmanager
async def listening(url: str, token: str) -> AsyncIterator[EventStream]:
    stream = EventStream()
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/api/v1/events", params={"access_token": token}) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")

        async def read() -> None:
            kind = ""
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    stream.events.append((kind, orjson.loads(line[6:])))

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.7)  # The feed starts from "now" once someone listens.
        try:
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def test_operator_sees_chargers_connectors_and_bookings(world: World) -> None:
    async with (
        listening(world.server.http_url, world.server.token) as stream,
        await world.connect() as charger,
    ):
        await charger.result(
            "StatusNotification",
            {"connectorId": 1, "status": "Preparing", "errorCode": "NoError"},
        )
        await eventually(
            lambda: asyncio.sleep(0, stream.of("connector")),
            lambda e: any(x["status"] == "Preparing" for x in e),
        )
        await eventually(
            lambda: asyncio.sleep(0, stream.of("charge_point")),
            lambda e: any(x["online"] for x in e),
        )
        _, booking = await world.book(2)
        seen = await eventually(
            lambda: asyncio.sleep(0, stream.of("reservation")),
            lambda e: any(x["status"] == "active" for x in e),
        )
    assert all(x["id"] == booking["id"] for x in seen)
    assert all("code" not in x for x in seen)


async def test_driver_sees_only_their_own_bookings(world: World) -> None:
    other = await world.new_driver()
    async with (
        listening(world.server.http_url, world.driver) as mine,
        listening(world.server.http_url, other) as theirs,
        await world.connect() as charger,
    ):
        await charger.result(
            "StatusNotification",
            {"connectorId": 1, "status": "Preparing", "errorCode": "NoError"},
        )
        _, booking = await world.book(1)
        await eventually(
            lambda: asyncio.sleep(0, mine.of("reservation")),
            lambda e: any(x["status"] == "active" for x in e),
        )
        start = world.window()[0]
        started = await charger.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": booking["code"], "meterStart": 0, "timestamp": start},
        )
        await charger.result(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": started["transactionId"],
                "meterValue": [{"timestamp": start, "sampledValue": [{"value": "500"}]}],
            },
        )
        await eventually(
            lambda: asyncio.sleep(0, mine.of("meter")),
            lambda e: e == [{"reservation_id": booking["id"]}],
        )
    assert mine.of("connector") == [] and mine.of("charge_point") == []
    assert theirs.events == []


async def test_events_need_a_token(world: World) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{world.server.http_url}/api/v1/events") as response,
    ):
        assert response.status == 401
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{world.server.http_url}/api/v1/events", params={"access_token": "nope"}
        ) as response,
    ):
        assert response.status == 401
