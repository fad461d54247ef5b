"""What the charger page reads: status history (ordering, paging, connector filter, 404,
hostile parameters), identity from the boot, and the local list's state — over HTTP, from a
real charger socket."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ServerHandle
from tests.ocpp_client import BOOT, OcppTestClient
from tests.waiting import eventually
from tests.world import sign_up_driver

STATUSES = [(1, "Preparing"), (2, "Available"), (1, "Charging"), (0, "Faulted"),
            (1, "Finishing"), (2, "Reserved"), (1, "Available")]


async def _history(server: ServerHandle, cp_id: str, query: str = "") -> dict[str, Any]:
    status, body = await server.request(
        "GET", f"/api/v1/charge-points/{cp_id}/status-history{query}"
    )
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def _notify(client: OcppTestClient, connector: int, status: str) -> None:
    error = "GroundFailure" if status == "Faulted" else "NoError"
    payload: dict[str, Any] = {"connectorId": connector, "errorCode": error, "status": status}
    if status == "Faulted":
        payload |= {"info": "relay stuck", "vendorErrorCode": "E42"}
    assert await client.result("StatusNotification", payload) == {}


@pytest.fixture
async def reported(server: ServerHandle) -> str:
    """A charger that booted and reported :data:`STATUSES`, all of them stored."""
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        await client.result("BootNotification", {**BOOT, "chargeBoxSerialNumber": "BOX-7",
                                                 "firmwareVersion": "1.2.3", "iccid": "8949"})
        for connector, status in STATUSES:
            await _notify(client, connector, status)
        await eventually(lambda: _history(server, cp_id, "?limit=500"),
                         lambda body: len(body["items"]) == len(STATUSES))
    return cp_id


async def test_history_newest_first_with_every_field(server: ServerHandle, reported: str) -> None:
    items = (await _history(server, reported))["items"]
    assert [(i["connector_id"], i["status"]) for i in items] == STATUSES[::-1]
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    faulted = next(i for i in items if i["status"] == "Faulted")
    assert faulted == {**faulted, "connector_id": 0, "error_code": "GroundFailure",
                       "info": "relay stuck", "vendor_error_code": "E42"}


async def test_paging_and_connector_filter(server: ServerHandle, reported: str) -> None:
    seen: list[tuple[int, str]] = []
    query, pages = "?limit=3", 0
    while True:
        body = await _history(server, reported, query)
        pages += 1
        seen += [(i["connector_id"], i["status"]) for i in body["items"]]
        if body["next_cursor"] is None:
            break
        query = f"?limit=3&cursor={body['next_cursor']}"
    assert seen == STATUSES[::-1] and pages == 3
    one = (await _history(server, reported, "?connector_id=1"))["items"]
    assert [i["status"] for i in one] == ["Available", "Finishing", "Charging", "Preparing"]
    whole = (await _history(server, reported, "?connector_id=0"))["items"]
    assert [i["status"] for i in whole] == ["Faulted"]
    assert (await _history(server, reported, "?connector_id=9"))["items"] == []


async def test_unknown_charger_and_operators_only(server: ServerHandle, reported: str) -> None:
    for path in ("status-history", "identity", "local-list"):
        status, body = await server.request("GET", f"/api/v1/charge-points/NOPE-1/{path}")
        assert (status, body["error"]["code"]) == (404, "not_found"), path
        driver = await sign_up_driver(server)
        status, _ = await server.request("GET", f"/api/v1/charge-points/{reported}/{path}",
                                         token=driver)
        assert status == 403, path


@pytest.mark.parametrize("query", [
    "?connector_id=-1", "?connector_id=18446744073709551616", "?connector_id=abc",
    "?connector_id=%C2%B2", "?connector_id=2147483648", "?limit=0", "?limit=501",
    "?limit=18446744073709551616", "?cursor=not-a-cursor", "?cursor=%00",
    "?cursor=" + "A" * 5000, "?cursor=OTIyMzM3MjAzNjg1NDc3NTgwOA",  # 2^63 as JSON, base64
])
async def test_hostile_parameters_are_422(
    server: ServerHandle, reported: str, query: str
) -> None:
    status, body = await server.request(
        "GET", f"/api/v1/charge-points/{reported}/status-history{query}"
    )
    assert (status, body["error"]["code"]) == (422, "validation_failed"), body


async def test_hostile_charger_ids_are_not_found(server: ServerHandle) -> None:
    for cp_id in ("%00", "x" * 5000, "%F0%9F%94%8C"):
        status, body = await server.request("GET", f"/api/v1/charge-points/{cp_id}/status-history")
        assert status in (404, 422), (cp_id, status, body)


async def test_identity_is_what_the_charger_said_at_boot(
    server: ServerHandle, reported: str
) -> None:
    status, body = await server.request("GET", f"/api/v1/charge-points/{reported}/identity")
    assert status == 200, body
    assert body["charge_point_id"] == reported
    assert (body["vendor"], body["model"]) == (BOOT["chargePointVendor"], BOOT["chargePointModel"])
    assert (body["charge_box_serial_number"], body["firmware_version"], body["iccid"]) == (
        "BOX-7", "1.2.3", "8949")
    assert body["serial_number"] is None and body["booted_at"].endswith("Z")


async def test_local_list_of_a_charger_never_sent_one(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    status, body = await server.request("GET", f"/api/v1/charge-points/{cp_id}/local-list")
    assert status == 200, body
    assert body["version"] is None and body["in_step"] is False
    assert body["managed"] is None and body["synced_at"] is None
    assert isinstance(body["current_version"], int)
