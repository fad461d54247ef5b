"""Every charger-initiated 1.6 action over a real WebSocket, and what it stores."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import ServerHandle
from tests.ocpp_client import BOOT, OcppTestClient
from tests.waiting import eventually

T0 = "2026-03-01T10:00:00Z"


@pytest.fixture
async def charger(server: ServerHandle) -> AsyncIterator[tuple[str, OcppTestClient]]:
    cp_id = await server.register_charge_point()
    client = await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}")
    yield cp_id, client
    await client.close()


async def test_boot_notification_stores_identity(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    boot = {**BOOT, "chargePointSerialNumber": "SN-1", "firmwareVersion": "1.2.3", "meterType": "M"}
    answer = await client.result("BootNotification", boot)
    assert answer["status"] == "Accepted"
    assert server.pool is not None
    row = await server.pool.fetchrow("SELECT * FROM charge_points WHERE id = $1", cp_id)
    assert (row["vendor"], row["model"], row["serial_number"], row["firmware_version"]) == (
        "TestVendor",
        "TestModel",
        "SN-1",
        "1.2.3",
    )
    assert row["booted_at"] is not None


async def test_heartbeat_updates_last_seen_and_online(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    answer = await client.result("Heartbeat", {})
    assert answer["currentTime"].endswith("Z")
    status, _detail = await eventually(
        lambda: server.request("GET", f"/api/v1/charge-points/{cp_id}"),
        lambda r: r[1]["online"] and r[1]["last_seen_at"] is not None,
    )
    assert status == 200


async def test_charger_goes_offline_when_socket_closes(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    await eventually(
        lambda: server.request("GET", f"/api/v1/charge-points/{cp_id}"), lambda r: r[1]["online"]
    )
    await client.close()
    await eventually(
        lambda: server.request("GET", f"/api/v1/charge-points/{cp_id}"),
        lambda r: not r[1]["online"],
    )


async def test_status_notification_including_connector_zero(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    base = {"errorCode": "NoError", "timestamp": T0}
    assert (
        await client.result("StatusNotification", {**base, "connectorId": 0, "status": "Available"})
        == {}
    )
    assert (
        await client.result(
            "StatusNotification",
            {**base, "connectorId": 1, "status": "Preparing", "info": "plugged"},
        )
        == {}
    )
    assert (
        await client.result(
            "StatusNotification",
            {
                "connectorId": 2,
                "status": "Faulted",
                "errorCode": "GroundFailure",
                "vendorErrorCode": "E7",
            },
        )
        == {}
    )
    _, detail = await eventually(
        lambda: server.request("GET", f"/api/v1/charge-points/{cp_id}"),
        lambda r: r[1]["status"] == "Available" and r[1]["connectors"][1]["status"] == "Faulted",
    )
    first, second = detail["connectors"]
    assert (first["status"], first["info"]) == ("Preparing", "plugged")
    assert (second["status"], second["error_code"]) == ("Faulted", "GroundFailure")


async def test_status_of_unregistered_connector_is_stored(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    await client.result(
        "StatusNotification", {"connectorId": 3, "status": "Available", "errorCode": "NoError"}
    )
    _, detail = await eventually(
        lambda: server.request("GET", f"/api/v1/charge-points/{cp_id}"),
        lambda r: len(r[1]["connectors"]) == 3,
    )
    assert detail["connectors"][2] == {
        **detail["connectors"][2],
        "connector_id": 3,
        "connector_type": None,
        "status": "Available",
    }


async def test_status_with_connector_out_of_range_is_refused(
    charger: tuple[str, OcppTestClient],
) -> None:
    _, client = charger
    answer = await client.call(
        "StatusNotification", {"connectorId": -1, "status": "Available", "errorCode": "NoError"}
    )
    assert answer[0] == 4 and answer[2] == "PropertyConstraintViolation"


async def test_authorize(server: ServerHandle, charger: tuple[str, OcppTestClient]) -> None:
    _, client = charger
    await server.add_id_tag("CARD-OK", parent_id_tag="FLEET-1")
    await server.add_id_tag("CARD-BLOCKED", blocked=True)
    await server.add_id_tag("CARD-OLD", expiry_date="2020-01-01T00:00:00Z")
    assert await client.result("Authorize", {"idTag": "card-ok"}) == {
        "idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET-1"}
    }
    assert (await client.result("Authorize", {"idTag": "CARD-BLOCKED"}))["idTagInfo"][
        "status"
    ] == "Blocked"
    old = (await client.result("Authorize", {"idTag": "CARD-OLD"}))["idTagInfo"]
    assert old == {"status": "Expired", "expiryDate": "2020-01-01T00:00:00.000Z"}
    assert (await client.result("Authorize", {"idTag": "NOBODY"}))["idTagInfo"][
        "status"
    ] == "Invalid"


async def test_transaction_with_meter_values(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    await server.add_id_tag("CARD-TX")
    started = await client.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "CARD-TX", "meterStart": 1000, "timestamp": T0},
    )
    assert started["idTagInfo"]["status"] == "Accepted"
    tx = started["transactionId"]
    assert 0 < tx <= 2**31 - 1
    sample = {
        "timestamp": "2026-03-01T10:15:00+01:00",
        "sampledValue": [
            {"value": "5000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "11.2", "measurand": "Power.Active.Import", "unit": "kW"},
        ],
    }
    assert (
        await client.result(
            "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [sample]}
        )
        == {}
    )
    stopped = await client.result(
        "StopTransaction",
        {
            "transactionId": tx,
            "meterStop": 9000,
            "timestamp": "2026-03-01T11:00:00Z",
            "idTag": "CARD-TX",
            "reason": "Local",
            "transactionData": [
                {"timestamp": "2026-03-01T10:59:00Z", "sampledValue": [{"value": "8900"}]}
            ],
        },
    )
    assert stopped == {"idTagInfo": {"status": "Accepted"}}
    status, page = await server.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    assert status == 200
    [row] = page["items"]
    assert (
        row["id"],
        row["meter_start"],
        row["meter_stop"],
        row["energy_wh"],
        row["stop_reason"],
    ) == (
        tx,
        1000,
        9000,
        8000,
        "Local",
    )
    assert row["started_at"] == "2026-03-01T10:00:00Z"
    assert server.pool is not None
    values = await server.pool.fetch(
        "SELECT measurand, value, sampled_at FROM meter_values WHERE transaction_id = $1 ORDER BY sampled_at, measurand",
        tx,
    )
    assert [(v["measurand"], v["value"]) for v in values] == [
        ("Energy.Active.Import.Register", "5000"),
        ("Power.Active.Import", "11.2"),
        ("Energy.Active.Import.Register", "8900"),
    ]
    assert values[0]["sampled_at"].isoformat() == "2026-03-01T09:15:00+00:00"


async def test_unknown_id_tag_still_gets_a_transaction(charger: tuple[str, OcppTestClient]) -> None:
    _, client = charger
    answer = await client.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "STRANGER", "meterStart": 0, "timestamp": T0},
    )
    assert answer["idTagInfo"]["status"] == "Invalid"
    assert answer["transactionId"] > 0


async def test_concurrent_tx_for_a_tag_already_charging(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    _, client = charger
    await server.add_id_tag("CARD-TWICE")
    first = await client.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "CARD-TWICE", "meterStart": 0, "timestamp": T0},
    )
    second = await client.result(
        "StartTransaction",
        {"connectorId": 2, "idTag": "CARD-TWICE", "meterStart": 0, "timestamp": T0},
    )
    assert first["idTagInfo"]["status"] == "Accepted"
    assert second["idTagInfo"]["status"] == "ConcurrentTx"


async def test_stop_of_unknown_transaction_is_answered(charger: tuple[str, OcppTestClient]) -> None:
    _, client = charger
    assert (
        await client.result(
            "StopTransaction", {"transactionId": 999999, "meterStop": 5, "timestamp": T0}
        )
        == {}
    )


async def test_data_transfer_is_kept(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    answer = await client.result(
        "DataTransfer", {"vendorId": "com.example", "messageId": "x", "data": "hello"}
    )
    assert answer == {"status": "UnknownVendorId"}
    _, detail = await server.request("GET", f"/api/v1/charge-points/{cp_id}")
    assert detail["recent_events"][0]["payload"] == {
        "vendorId": "com.example",
        "messageId": "x",
        "data": "hello",
    }


async def test_firmware_and_diagnostics_status(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    assert await client.result("FirmwareStatusNotification", {"status": "Downloading"}) == {}
    assert await client.result("DiagnosticsStatusNotification", {"status": "Uploaded"}) == {}
    _, detail = await server.request("GET", f"/api/v1/charge-points/{cp_id}")
    assert (detail["firmware_status"], detail["diagnostics_status"]) == ("Downloading", "Uploaded")
