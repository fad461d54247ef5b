"""OCTT 1.6 central-system cases of the Smart Charging profile (TC_056, 057, 059, 066, 067
_CSMS). csms has no smart-charging logic of its own: an operator sends the profile messages
through the commands endpoint, which must deliver them as given and relay the answers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ServerHandle
from tests.octt.steps import (
    VALID,
    authorize,
    boot,
    charging,
    connect,
    now,
    sent_and_answered,
    start,
    status,
)


@pytest.fixture
async def cp_id(server: ServerHandle) -> str:
    await server.add_id_tag(VALID)
    return await server.register_charge_point(connectors=2)


def tx_default_profile(profile_id: int, stack_level: int) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "validFrom": "2026-01-01T00:00:00Z",
        "validTo": "2027-01-01T00:00:00Z",
        "chargingSchedule": {
            "duration": 3600,
            "startSchedule": now(),
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 1}],
        },
    }


async def test_tc_056_csms_central_smart_charging_tx_default_profile(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": tx_default_profile(1, 0)},
            {"status": "Accepted"},
        )


async def test_tc_057_csms_central_smart_charging_tx_profile(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        tx = await charging(charger, 1)
        profile = {
            "chargingProfileId": 2,
            "transactionId": tx,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6000.0}],
            },
        }
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": profile},
            {"status": "Accepted"},
        )


async def test_tc_059_csms_remote_start_transaction_with_charging_profile(
    server: ServerHandle, cp_id: str
) -> None:
    profile = {
        "chargingProfileId": 3,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        },
    }
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "RemoteStartTransaction",
            {"connectorId": 1, "idTag": VALID, "chargingProfile": profile},
            {"status": "Accepted"},
        )
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        assert await status(charger, 1, "Preparing") == {}
        started = await start(charger, 1, VALID)
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}


async def test_tc_066_csms_get_composite_schedule(server: ServerHandle, cp_id: str) -> None:
    schedule = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": now(),
        "chargingSchedule": {
            "duration": 600,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        },
    }
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "GetCompositeSchedule",
            {"connectorId": 1, "duration": 600, "chargingRateUnit": "A"},
            schedule,
        )


async def test_tc_067_csms_clear_charging_profile(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        for n in range(3):
            await sent_and_answered(
                server,
                charger,
                cp_id,
                "SetChargingProfile",
                {"connectorId": 1, "csChargingProfiles": tx_default_profile(10 + n, n)},
                {"status": "Accepted"},
            )
        for clear in (
            {"id": 10},
            {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 1},
            {},
        ):
            await sent_and_answered(
                server, charger, cp_id, "ClearChargingProfile", clear, {"status": "Accepted"}
            )
