"""OCTT 1.6 central-system cases of the Firmware Management profile (TC_044_x_CSMS firmware
update, TC_045_x_CSMS diagnostics): csms's own update and diagnostics flows over real sockets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.charger_stub import ChargerStub
from tests.conftest import ServerHandle
from tests.integration.api.test_firmware_and_diagnostics import exchange, upload_firmware
from tests.octt.steps import boot, connect, shows, status

DOWNLOAD_AND_INSTALL = ["Downloading", "Downloaded", "Installing"]


async def updates(server: ServerHandle, cp_id: str) -> list[dict[str, Any]]:
    code, page = await server.request("GET", f"/api/v1/charge-points/{cp_id}/firmware-updates")
    assert code == 200, page
    return page["items"]  # type: ignore[no-any-return]


async def start_update(server: ServerHandle, cp_id: str, charger: ChargerStub) -> dict[str, Any]:
    firmware = await upload_firmware(server, "octt-fw.bin")
    code, update = await server.request(
        "POST",
        f"/api/v1/charge-points/{cp_id}/firmware-updates",
        json={"firmware_id": firmware["id"]},
    )
    assert code == 201, update
    sent = await charger.wait_call("UpdateFirmware")
    assert sent["location"] == update["location"]
    assert sent["retrieveDate"].endswith("Z")
    got = await exchange("GET", sent["location"])  # the location from step 1 serves the image
    assert got.status == 200
    return update  # type: ignore[no-any-return]


async def firmware_status(charger: ChargerStub, state: str) -> None:
    assert await charger.result("FirmwareStatusNotification", {"status": state}) == {}


@pytest.mark.parametrize(
    "outcome", ["Installed", "InstallationFailed"], ids=["tc_044_1", "tc_044_3"]
)
async def test_tc_044_1_and_044_3_csms_firmware_update_download_and_install(
    server: ServerHandle, outcome: str
) -> None:
    cp_id = await server.register_charge_point(connectors=2)
    async with await connect(server, cp_id, UpdateFirmware=lambda p: {}) as charger:
        await boot(charger)
        update = await start_update(server, cp_id, charger)
        await firmware_status(charger, "Downloading")
        await firmware_status(charger, "Downloaded")
        for connector_id in (1, 2):
            assert await status(charger, connector_id, "Unavailable") == {}
        await firmware_status(charger, "Installing")
    async with await connect(server, cp_id) as charger:  # rebooted into the new firmware
        await boot(charger)
        await firmware_status(charger, outcome)
        await shows(server, cp_id, 1, "Available")
    [latest] = await updates(server, cp_id)
    assert (latest["id"], latest["status"]) == (update["id"], outcome)


async def test_tc_044_2_csms_firmware_update_download_failed(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(connectors=2)
    async with await connect(server, cp_id, UpdateFirmware=lambda p: {}) as charger:
        await boot(charger)
        update = await start_update(server, cp_id, charger)
        await firmware_status(charger, "Downloading")
        await firmware_status(charger, "DownloadFailed")
    [latest] = await updates(server, cp_id)
    assert (latest["id"], latest["status"]) == (update["id"], "DownloadFailed")


async def test_tc_045_2_csms_get_diagnostics_upload_failed(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    path = f"/api/v1/charge-points/{cp_id}/diagnostics"
    async with await connect(
        server, cp_id, GetDiagnostics=lambda p: {"fileName": "d.log"}
    ) as charger:
        await boot(charger)
        code, request = await server.request("POST", path, json={})
        assert code == 201, request
        sent = await charger.wait_call("GetDiagnostics")
        assert sent["location"] == request["location"]
        assert await charger.result("DiagnosticsStatusNotification", {"status": "Uploading"}) == {}
        assert (
            await charger.result("DiagnosticsStatusNotification", {"status": "UploadFailed"}) == {}
        )
        assert (await charger.result("Heartbeat", {}))["currentTime"]  # normal operation goes on
        code, listed = await server.request("GET", path)
    assert code == 200
    [latest] = listed["items"]
    assert (latest["id"], latest["status"], latest["file_received"]) == (
        request["id"],
        "UploadFailed",
        False,
    )
