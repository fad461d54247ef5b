"""OCTT 1.6 central-system cases of the Core profile (TC_0xx_CSMS), each run as the tool runs
it: the tool's charger over a real WebSocket, csms and PostgreSQL for real."""

from __future__ import annotations

import pytest

from tests.conftest import ServerHandle
from tests.octt.steps import (
    VALID,
    authorize,
    boot,
    charging,
    connect,
    sent_and_answered,
    shows,
    start,
    status,
    stop,
    transaction,
)


@pytest.fixture
async def cp_id(server: ServerHandle) -> str:
    await server.add_id_tag(VALID)
    return await server.register_charge_point(connectors=2)


# --- 3.1 Cold boot ------------------------------------------------------------------------


async def test_tc_001_csms_cold_boot_charge_point(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        answer = await boot(charger)
        heartbeat = await charger.result("Heartbeat", {})
        assert heartbeat["currentTime"].endswith("Z")
        for connector_id in (1, 2):
            await shows(server, cp_id, connector_id, "Available")
    assert answer["interval"] == 300  # CSMS_HEARTBEAT_INTERVAL's default: the charger's x


# --- 3.2 Start charging session -----------------------------------------------------------


async def test_tc_003_csms_regular_charging_session_plugin_first(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        assert await status(charger, 1, "Preparing") == {}
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        started = await start(charger, 1, VALID)
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}
        await shows(server, cp_id, 1, "Charging")
    assert (await transaction(server, cp_id, started["transactionId"]))["stopped_at"] is None


async def test_tc_004_1_csms_regular_charging_session_identification_first(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        assert await status(charger, 1, "Preparing") == {}
        started = await start(charger, 1, VALID)
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}
        await shows(server, cp_id, 1, "Charging")


async def test_tc_004_2_csms_identification_first_connection_timeout(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        assert await status(charger, 1, "Preparing") == {}
        await shows(server, cp_id, 1, "Preparing")
        assert await status(charger, 1, "Available") == {}  # ConnectionTimeOut passed
        await shows(server, cp_id, 1, "Available")


async def test_tc_005_1_csms_ev_side_disconnected(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        tx = await charging(charger, 1)
        assert await status(charger, 1, "SuspendedEV") == {}
        stopped = await stop(charger, tx, "EVDisconnected", id_tag=VALID)
        assert stopped["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Finishing") == {}
        assert await status(charger, 1, "Available") == {}
        await shows(server, cp_id, 1, "Available")
    row = await transaction(server, cp_id, tx)
    assert row["stop_reason"] == "EVDisconnected" and row["stopped_at"] is not None


# --- 3.3 Cache ----------------------------------------------------------------------------


async def test_tc_007_csms_regular_start_charging_session_cached_id(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        assert await status(charger, 1, "Preparing") == {}
        started = await start(charger, 1, VALID)  # authorized from the cache: no Authorize
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}


async def test_tc_061_csms_clear_authorization_cache(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(server, charger, cp_id, "ClearCache", {}, {"status": "Accepted"})


# --- 3.4 Remote actions, happy flow -------------------------------------------------------


async def test_tc_010_csms_remote_start_cable_plugged_in_first(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        assert await status(charger, 1, "Preparing") == {}
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "RemoteStartTransaction",
            {"connectorId": 1, "idTag": VALID},
            {"status": "Accepted"},
        )
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        started = await start(charger, 1, VALID)
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}


async def test_tc_011_1_csms_remote_start_remote_start_first(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "RemoteStartTransaction",
            {"connectorId": 1, "idTag": VALID},
            {"status": "Accepted"},
        )
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        assert await status(charger, 1, "Preparing") == {}
        started = await start(charger, 1, VALID)
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}
        await shows(server, cp_id, 1, "Charging")


async def test_tc_011_2_csms_remote_start_time_out(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "RemoteStartTransaction",
            {"connectorId": 1, "idTag": VALID},
            {"status": "Accepted"},
        )
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        assert await status(charger, 1, "Preparing") == {}
        assert await status(charger, 1, "Available") == {}  # nobody plugged in in time
        await shows(server, cp_id, 1, "Available")


async def test_tc_012_csms_remote_stop_charging_session(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        tx = await charging(charger, 1)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "RemoteStopTransaction",
            {"transactionId": tx},
            {"status": "Accepted"},
        )
        stopped = await stop(charger, tx, "Remote", id_tag=VALID)
        assert stopped["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Finishing") == {}
        assert await status(charger, 1, "Available") == {}
    assert (await transaction(server, cp_id, tx))["stop_reason"] == "Remote"


# --- 3.5 Reset ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Hard", "Soft"])
async def test_tc_013_csms_hard_reset_and_tc_014_csms_soft_reset(
    server: ServerHandle, cp_id: str, kind: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server, charger, cp_id, "Reset", {"type": kind}, {"status": "Accepted"}
        )
    async with await connect(server, cp_id) as charger:  # the charger comes back
        await boot(charger)
        await shows(server, cp_id, 2, "Available")


# --- 3.6 Unlock connector -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "connector_id", "answer"),
    [
        ("TC_017_1_CSMS not fixed cable", 1, "Unlocked"),
        ("TC_017_2_CSMS fixed cable", 1, "NotSupported"),
        ("TC_030_CSMS unlock failure", 1, "UnlockFailed"),
        ("TC_031_CSMS unknown connector", 3, "NotSupported"),
    ],
    ids=["tc_017_1", "tc_017_2", "tc_030", "tc_031"],
)
async def test_tc_017_1_017_2_030_031_csms_unlock_connector_without_session(
    server: ServerHandle, cp_id: str, case: str, connector_id: int, answer: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "UnlockConnector",
            {"connectorId": connector_id},
            {"status": answer},
        )


async def test_tc_018_1_csms_unlock_connector_with_charging_session(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        tx = await charging(charger, 1)
        await sent_and_answered(
            server, charger, cp_id, "UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}
        )
        assert await status(charger, 1, "Finishing") == {}
        stopped = await stop(charger, tx, "UnlockCommand")
        assert stopped == {} or stopped["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Available") == {}
    row = await transaction(server, cp_id, tx)
    assert row["stop_reason"] == "UnlockCommand" and row["stopped_at"] is not None


# --- 3.7 / 3.13 Configuration -------------------------------------------------------------

CORE_KEYS = [
    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core"},
]


async def test_tc_019_1_csms_retrieve_all_configuration_keys(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server, charger, cp_id, "GetConfiguration", {}, {"configurationKey": CORE_KEYS}
        )


async def test_tc_019_2_csms_retrieve_specific_configuration_key(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "GetConfiguration",
            {"key": ["SupportedFeatureProfiles"]},
            {"configurationKey": CORE_KEYS[2:], "unknownKey": []},
        )


@pytest.mark.parametrize(
    ("key", "value", "answer"),
    [
        ("MeterValueSampleInterval", "60", "Accepted"),  # TC_021_CSMS
        ("OcttUnknownKey", "1", "NotSupported"),  # TC_040_1_CSMS
        ("MeterValueSampleInterval", "-1", "Rejected"),  # TC_040_2_CSMS
    ],
    ids=["tc_021", "tc_040_1", "tc_040_2"],
)
async def test_tc_021_040_1_040_2_csms_change_configuration(
    server: ServerHandle, cp_id: str, key: str, value: str, answer: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "ChangeConfiguration",
            {"key": key, "value": value},
            {"status": answer},
        )


# --- 3.8 Basic actions, non-happy flow ----------------------------------------------------


async def test_tc_024_csms_start_charging_session_lock_failure(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        assert await status(charger, 1, "Preparing") == {}
        assert await status(charger, 1, "Faulted", "ConnectorLockFailure") == {}
        await shows(server, cp_id, 1, "Faulted")


# --- 3.9 Remote actions, non-happy flow ---------------------------------------------------


async def test_tc_026_csms_remote_start_rejected(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "RemoteStartTransaction",
            {"connectorId": 1, "idTag": VALID},
            {"status": "Rejected"},
        )


async def test_tc_028_csms_remote_stop_rejected(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        tx = await charging(charger, 1)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "RemoteStopTransaction",
            {"transactionId": tx + 1000},  # unknown to the charger
            {"status": "Rejected"},
        )
    assert (await transaction(server, cp_id, tx))["stopped_at"] is None


# --- 3.11 Power failure -------------------------------------------------------------------


async def test_tc_032_1_csms_power_failure_boot_stops_transactions(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        tx = await charging(charger, 1)
    async with await connect(server, cp_id) as charger:  # power back
        booted = await charger.result(
            "BootNotification", {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel"}
        )
        assert booted["status"] == "Accepted"
        assert await status(charger, 0, "Available") == {}
        assert await status(charger, 1, "Finishing") == {}
        assert await status(charger, 2, "Available") == {}
        stopped = await stop(charger, tx, "PowerLoss", id_tag=VALID)
        assert stopped["idTagInfo"]["status"] == "Accepted"
    row = await transaction(server, cp_id, tx)
    assert row["stop_reason"] == "PowerLoss" and row["stopped_at"] is not None


# --- 3.12 Offline behaviour ---------------------------------------------------------------

EARLIER = "2026-01-05T08:00:00Z"
LATER = "2026-01-05T09:00:00Z"


async def test_tc_037_1_csms_offline_start_transaction_valid_id_tag(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:  # connectivity restored
        started = await start(charger, 1, VALID, timestamp=EARLIER)
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}
    assert (await transaction(server, cp_id, started["transactionId"]))["started_at"] == EARLIER


async def test_tc_037_3_csms_offline_start_transaction_invalid_id_tag(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        started = await start(charger, 1, "OCTT-INVALID", timestamp=EARLIER)
        assert started["idTagInfo"]["status"] == "Invalid"
        assert await status(charger, 1, "Charging") == {}
        tx = started["transactionId"]
        stopped = await stop(charger, tx, "DeAuthorized", id_tag="OCTT-INVALID")
        assert "idTagInfo" in stopped  # its content: see the test below
        assert await status(charger, 1, "Finishing") == {}
    assert (await transaction(server, cp_id, tx))["stop_reason"] == "DeAuthorized"


@pytest.mark.parametrize("card", ["unknown", "blocked"])
async def test_tc_037_3_csms_stop_answer_keeps_the_refusal_of_the_start(
    server: ServerHandle, cp_id: str, card: str
) -> None:
    """TC_037_3's step 6, beyond what the tool checks: the StopTransaction.conf for the idTag
    csms refused at step 2 must not say Accepted (the charger caches idTagInfo, S 3.5.1)."""
    id_tag = "OCTT-INVALID"
    if card == "blocked":
        id_tag = "OCTT-BLOCKED"
        await server.add_id_tag(id_tag, blocked=True)
    async with await connect(server, cp_id) as charger:
        started = await start(charger, 1, id_tag, timestamp=EARLIER)
        refusal = started["idTagInfo"]["status"]
        assert refusal == ("Invalid" if card == "unknown" else "Blocked")
        stopped = await stop(charger, started["transactionId"], "DeAuthorized", id_tag=id_tag)
        assert stopped["idTagInfo"]["status"] == refusal


async def test_tc_039_csms_offline_transaction(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        started = await start(charger, 1, VALID, timestamp=EARLIER, meter_start=100)
        assert started["idTagInfo"]["status"] == "Accepted"
        tx = started["transactionId"]
        stopped = await stop(charger, tx, "Local", id_tag=VALID, meter_stop=5100, timestamp=LATER)
        assert stopped["idTagInfo"]["status"] == "Accepted"
    row = await transaction(server, cp_id, tx)
    assert (row["started_at"], row["stopped_at"], row["energy_wh"], row["stop_reason"]) == (
        EARLIER,
        LATER,
        5000,
        "Local",
    )
