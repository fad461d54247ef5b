"""A charger repeats transaction messages until answered: repeats change nothing (S 4.8, J 4)."""

from __future__ import annotations

import asyncio

from tests.conftest import ServerHandle
from tests.ocpp_client import OcppTestClient

START = {
    "connectorId": 1,
    "idTag": "CARD-R",
    "meterStart": 100,
    "timestamp": "2026-03-01T08:00:00.250Z",
}


async def test_repeated_start_gives_the_same_transaction(server: ServerHandle) -> None:
    await server.add_id_tag("CARD-R")
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        first = await client.result("StartTransaction", START)
        again = await client.result("StartTransaction", START)
    # And after a reconnect, as a charger does when the answer was lost with the connection.
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        later = await client.result(
            "StartTransaction", {**START, "timestamp": "2026-03-01T09:00:00.250+01:00"}
        )
    assert first == again == later
    _, page = await server.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    assert len(page["items"]) == 1


async def test_simultaneous_repeats_from_two_connections_store_one(server: ServerHandle) -> None:
    await server.add_id_tag("CARD-R")
    cp_id = await server.register_charge_point()
    url = f"{server.ocpp_url}/{cp_id}"
    # Two sockets race (a reconnect while the old socket is still being read).
    clients = [await OcppTestClient.open(url) for _ in range(2)]
    answers = await asyncio.gather(
        *(c.call("StartTransaction", START) for c in clients), return_exceptions=True
    )
    ids = {a[2]["transactionId"] for a in answers if isinstance(a, list) and a[0] == 3}
    assert len(ids) <= 1
    _, page = await server.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    assert len(page["items"]) == 1
    for c in clients:
        await c.close()


async def test_repeated_stop_and_meter_values_count_once(server: ServerHandle) -> None:
    await server.add_id_tag("CARD-R")
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        tx = (await client.result("StartTransaction", START))["transactionId"]
        meter = {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [
                {"timestamp": "2026-03-01T08:30:00Z", "sampledValue": [{"value": "3100"}]}
            ],
        }
        stop = {
            "transactionId": tx,
            "meterStop": 6100,
            "timestamp": "2026-03-01T09:00:00Z",
            "transactionData": [
                {"timestamp": "2026-03-01T08:45:00Z", "sampledValue": [{"value": "4600"}]}
            ],
        }
        for _ in range(3):
            assert await client.result("MeterValues", meter) == {}
        for _ in range(3):
            assert await client.result("StopTransaction", stop) == {}
        # A late repeat with another final meter must not rewrite the closed transaction.
        assert await client.result("StopTransaction", {**stop, "meterStop": 99999}) == {}
    _, page = await server.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    [row] = page["items"]
    assert (row["meter_stop"], row["energy_wh"]) == (6100, 6000)
    assert server.pool is not None
    assert (
        await server.pool.fetchval(
            "SELECT count(*) FROM meter_values WHERE transaction_id = $1", tx
        )
        == 2
    )


async def test_offline_queue_with_old_timestamps(server: ServerHandle) -> None:
    """Messages queued while offline arrive later, in order, with their own times."""
    await server.add_id_tag("CARD-R")
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        tx = (
            await client.result("StartTransaction", {**START, "timestamp": "2025-12-31T23:00:00Z"})
        )["transactionId"]
        await client.result(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": tx,
                "meterValue": [
                    {"timestamp": "2025-12-31T23:30:00Z", "sampledValue": [{"value": "1100"}]}
                ],
            },
        )
        await client.result(
            "StopTransaction",
            {"transactionId": tx, "meterStop": 2100, "timestamp": "2026-01-01T00:00:00Z"},
        )
    _, page = await server.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    [row] = page["items"]
    assert (row["started_at"], row["stopped_at"]) == (
        "2025-12-31T23:00:00Z",
        "2026-01-01T00:00:00Z",
    )


async def test_ids_outside_int32_match_nothing_but_are_answered(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        big = 2**40
        stop = {"transactionId": big, "meterStop": 1, "timestamp": "2026-03-01T09:00:00Z"}
        assert await client.result("StopTransaction", stop) == {}
        assert await client.result("StopTransaction", {**stop, "transactionId": -1}) == {}
        meter = {
            "connectorId": 1,
            "transactionId": big,
            "meterValue": [{"timestamp": "2026-03-01T08:30:00Z", "sampledValue": [{"value": "1"}]}],
        }
        assert await client.result("MeterValues", meter) == {}
        started = await client.result("StartTransaction", {**START, "reservationId": big})
        assert started["transactionId"] > 0
