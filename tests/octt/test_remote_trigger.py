"""OCTT 1.6 central-system cases of the Remote Trigger profile (TC_054_CSMS, TC_055_CSMS):
TriggerMessage through the operator commands endpoint, and csms answering what it triggered."""

from __future__ import annotations

import pytest

from tests.conftest import ServerHandle
from tests.octt.steps import boot, connect, now, sent_and_answered, shows


@pytest.fixture
async def cp_id(server: ServerHandle) -> str:
    return await server.register_charge_point(connectors=2)


async def test_tc_054_csms_trigger_message(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)

        async def trigger(message: str, connector_id: int | None = None) -> None:
            payload: dict[str, object] = {"requestedMessage": message}
            if connector_id is not None:
                payload["connectorId"] = connector_id
            await sent_and_answered(
                server, charger, cp_id, "TriggerMessage", payload, {"status": "Accepted"}
            )

        await trigger("MeterValues", 1)
        sample = {
            "timestamp": now(),
            "sampledValue": [{"value": "1234", "measurand": "Energy.Active.Import.Register"}],
        }
        assert await charger.result("MeterValues", {"connectorId": 1, "meterValue": [sample]}) == {}
        await trigger("Heartbeat")
        assert (await charger.result("Heartbeat", {}))["currentTime"].endswith("Z")
        await trigger("StatusNotification", 1)
        assert (
            await charger.result(
                "StatusNotification",
                {"connectorId": 1, "status": "Unavailable", "errorCode": "NoError"},
            )
            == {}
        )
        await shows(server, cp_id, 1, "Unavailable")
        await trigger("DiagnosticsStatusNotification")
        assert await charger.result("DiagnosticsStatusNotification", {"status": "Idle"}) == {}
        await trigger("FirmwareStatusNotification")
        assert await charger.result("FirmwareStatusNotification", {"status": "Idle"}) == {}


async def test_tc_055_csms_trigger_message_rejected(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "TriggerMessage",
            {"requestedMessage": "MeterValues", "connectorId": 3},  # NumberOfConnectors + 1
            {"status": "Rejected"},
        )
