"""What the charger answers to every CSMS CALL (S 5, J 4.2.3) — pure, fake clock."""

from __future__ import annotations

import pytest

from simulators.protocol import CallError, CallResult
from tests.simulators.sim_bench import Bench


def _charging(bench: Bench, n: int = 1, tag: str = "TAG-1") -> int:
    bench.plug(n)
    bench.tap(n, tag)
    tx = bench.model.connectors[n].transaction
    assert tx is not None and tx.transaction_id is not None
    return tx.transaction_id


def test_unknown_actions_get_not_implemented() -> None:
    answer = Bench().call("Teleport", {})
    assert isinstance(answer, CallError) and answer.error_code == "NotImplemented"


def test_actions_of_missing_features_get_not_supported() -> None:
    bench = Bench(security_events="off")  # a charger without the security extension
    answer = bench.call("InstallCertificate", {"certificateType": "CentralSystemRootCertificate",
                                               "certificate": "x"})
    assert isinstance(answer, CallError) and answer.error_code == "NotSupported"
    answer = bench.call("GetDiagnostics", {"location": "ftp://x"})  # no FirmwareManagement
    assert isinstance(answer, CallError) and answer.error_code == "NotSupported"
    assert bench.calls("SecurityEventNotification") == []


def test_firmware_management_answers_when_the_profile_is_on() -> None:
    bench = Bench(profiles="Core,FirmwareManagement")
    assert bench.ask("GetDiagnostics", {"location": "ftp://x"}) == {
        "fileName": "CP-T-diagnostics-20260301T100000Z.txt"}
    assert bench.ask("UpdateFirmware", {"location": "ftp://x",
                                        "retrieveDate": "2030-01-01T00:00:00Z"}) == {}


@pytest.mark.parametrize(("payload", "code"), [
    ({}, "OccurenceConstraintViolation"),
    ({"type": 1}, "TypeConstraintViolation"),
    ({"type": "Lukewarm"}, "PropertyConstraintViolation"),
    ({"type": "Hard", "extra": 1}, "FormationViolation"),
])
def test_payloads_that_break_the_schema_get_the_matching_callerror(
    payload: dict[str, object], code: str
) -> None:
    answer = Bench().call("Reset", payload)
    assert isinstance(answer, CallError) and answer.error_code == code


def test_a_payload_that_is_not_an_object_is_a_formation_violation() -> None:
    bench = Bench()
    bench.session.receive('[2,"x1","Reset",[]]', bench.now)
    bench.pump()
    answer = bench.frames[-1]
    assert isinstance(answer, CallError) and answer.error_code == "FormationViolation"


def test_remote_start_and_stop() -> None:
    bench = Bench()
    bench.plug(2)
    assert bench.ask("RemoteStartTransaction", {"idTag": "R1"}) == {"status": "Accepted"}
    assert bench.status(2) == "Charging"  # the connector with a car waiting
    assert bench.calls("Authorize") == []  # AuthorizeRemoteTxRequests is false
    assert bench.ask("RemoteStartTransaction", {"idTag": "R2"}) == {"status": "Accepted"}
    assert bench.status(1) == "Preparing"  # waits for the car
    bench.plug(1)
    tx = bench.model.connectors[1].transaction
    assert tx is not None and tx.id_tag == "R2"
    assert bench.ask("RemoteStartTransaction", {"idTag": "R3"}) == {"status": "Rejected"}
    assert bench.ask("RemoteStopTransaction", {"transactionId": 999}) == {"status": "Rejected"}
    assert bench.ask("RemoteStopTransaction", {"transactionId": tx.transaction_id}) == {
        "status": "Accepted"}
    assert bench.calls("StopTransaction")[-1]["reason"] == "Remote"


def test_remote_start_on_a_given_connector() -> None:
    bench = Bench()
    bench.plug(2)
    assert bench.ask("RemoteStartTransaction", {"idTag": "R1", "connectorId": 2}) == {
        "status": "Accepted"}
    assert bench.status(2) == "Charging"
    for connector in (2, 3):  # busy / no such connector
        assert bench.ask("RemoteStartTransaction", {"idTag": "R2", "connectorId": connector}) == {
            "status": "Rejected"}


def test_remote_start_with_authorize_remote_tx_requests() -> None:
    bench = Bench(config={"AuthorizeRemoteTxRequests": "true"})
    bench.tags["NOPE"] = {"status": "Invalid"}
    bench.plug(1)
    assert bench.ask("RemoteStartTransaction", {"idTag": "NOPE", "connectorId": 1}) == {
        "status": "Accepted"}
    assert bench.calls("Authorize") == [{"idTag": "NOPE"}]
    assert bench.calls("StartTransaction") == []


def test_remote_start_respects_reservations() -> None:
    bench = Bench(connectors=1)
    bench.reserve(1, "123456")
    assert bench.ask("RemoteStartTransaction", {"idTag": "OTHER"}) == {"status": "Rejected"}
    assert bench.ask("RemoteStartTransaction", {"idTag": "123456"}) == {"status": "Accepted"}
    bench.plug(1)
    assert bench.calls("StartTransaction")[0]["reservationId"] == 7


def test_remote_start_for_another_idtag_with_the_accept_wrong_code_quirk() -> None:
    bench = Bench(connectors=1, quirks=["accept-wrong-code"])
    bench.reserve(1, "123456")
    assert bench.ask("RemoteStartTransaction", {"idTag": "OTHER"}) == {"status": "Accepted"}


def test_change_availability() -> None:
    bench = Bench()
    assert bench.ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {
        "status": "Accepted"}
    assert bench.status(1) == "Unavailable"
    bench.tap(1, "X")
    assert bench.calls("Authorize") == []
    assert bench.ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {
        "status": "Accepted"}
    assert bench.ask("ChangeAvailability", {"connectorId": 1, "type": "Operative"}) == {
        "status": "Accepted"}
    assert bench.status(1) == "Available"
    assert bench.ask("ChangeAvailability", {"connectorId": 9, "type": "Operative"}) == {
        "status": "Rejected"}


def test_change_availability_is_scheduled_during_a_transaction() -> None:
    bench = Bench()
    _charging(bench, 1)
    assert bench.ask("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}) == {
        "status": "Scheduled"}
    assert bench.status(1) == "Charging"
    assert bench.status(2) == "Unavailable" and bench.status(0) == "Unavailable"
    bench.stop(1)
    assert bench.status(1) == "Unavailable"
    assert bench.statuses(1)[-2:] == ["Charging", "Unavailable"]


def test_get_configuration() -> None:
    bench = Bench()
    answer = bench.ask("GetConfiguration", {"key": ["HeartbeatInterval", "Nope",
                                                    "SupportedFeatureProfiles"]})
    assert answer["configurationKey"] == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
        {"key": "SupportedFeatureProfiles", "readonly": True,
         "value": "Core,Reservation,RemoteTrigger,LocalAuthListManagement"}]
    assert answer["unknownKey"] == ["Nope"]
    everything = bench.ask("GetConfiguration", {})
    assert len(everything["configurationKey"]) > 30
    assert "unknownKey" not in everything


def test_change_configuration_takes_effect() -> None:
    bench = Bench(heartbeat=600)
    assert bench.ask("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "5"}) == {
        "status": "Accepted"}
    bench.advance(5)
    assert len(bench.calls("Heartbeat")) == 1
    assert bench.ask("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "5"}) == {
        "status": "Rejected"}
    assert bench.ask("ChangeConfiguration", {"key": "Bogus", "value": "5"}) == {
        "status": "NotSupported"}
    bench.ask("ChangeConfiguration", {"key": "AuthorizationKey", "value": "0123456789abcdef"})
    assert "configuration AuthorizationKey = (hidden)" in bench.texts()
    assert bench.model.config.get("AuthorizationKey") == "0123456789abcdef"


def test_reset_stops_transactions_then_boots_again() -> None:
    bench = Bench()
    _charging(bench, 1)
    assert bench.ask("Reset", {"type": "Soft"}) == {"status": "Accepted"}
    assert bench.calls("StopTransaction")[-1]["reason"] == "SoftReset"
    assert bench.session.ready_to_reboot()
    bench.disconnect()
    bench.model.reboot(bench.now)
    bench.connect()
    assert bench.actions()[-5:] == (["BootNotification"] + ["StatusNotification"] * 3
                                    + ["SecurityEventNotification"])
    assert bench.calls("SecurityEventNotification")[-1]["type"] == "ResetOrReboot"
    assert bench.model.booted and bench.status(1) == "Preparing"  # the car is still there


def test_hard_reset_reason() -> None:
    bench = Bench()
    _charging(bench, 2)
    bench.ask("Reset", {"type": "Hard"})
    assert bench.calls("StopTransaction")[-1]["reason"] == "HardReset"


def test_unlock_connector() -> None:
    bench = Bench()
    assert bench.ask("UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    _charging(bench, 1)
    assert bench.ask("UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    assert bench.calls("StopTransaction")[-1]["reason"] == "UnlockCommand"
    assert bench.ask("UnlockConnector", {"connectorId": 7}) == {"status": "NotSupported"}


@pytest.mark.parametrize(("requested", "action"), [
    ("BootNotification", "BootNotification"), ("Heartbeat", "Heartbeat"),
    ("StatusNotification", "StatusNotification"), ("MeterValues", "MeterValues"),
    ("DiagnosticsStatusNotification", "DiagnosticsStatusNotification"),
    ("FirmwareStatusNotification", "FirmwareStatusNotification"),
])
def test_trigger_message_answers_first_then_sends(requested: str, action: str) -> None:
    bench = Bench()
    before = len(bench.frames)
    assert bench.ask("TriggerMessage", {"requestedMessage": requested, "connectorId": 1}) == {
        "status": "Accepted"}
    sent = bench.frames[before:]
    assert isinstance(sent[0], CallResult)
    assert getattr(sent[1], "action", None) == action


def test_trigger_message_for_every_connector_and_bad_connectors() -> None:
    bench = Bench()
    before = len(bench.calls("StatusNotification"))
    bench.ask("TriggerMessage", {"requestedMessage": "StatusNotification"})
    assert len(bench.calls("StatusNotification")) == before + 3
    assert bench.ask("TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 5}) == {
        "status": "Rejected"}


def test_trigger_message_without_the_profile() -> None:
    answer = Bench(profiles="Core").call("TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert isinstance(answer, CallError) and answer.error_code == "NotSupported"


def test_triggered_meter_values_carry_the_transaction() -> None:
    bench = Bench()
    tx_id = _charging(bench, 1)
    bench.ask("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
    meter = bench.calls("MeterValues")[-1]
    assert meter["transactionId"] == tx_id
    assert meter["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


def test_local_list_and_cache() -> None:
    bench = Bench(config={"LocalPreAuthorize": "true"})
    assert bench.ask("GetLocalListVersion", {}) == {"listVersion": 0}
    entries = [{"idTag": "LOCAL", "idTagInfo": {"status": "Accepted"}},
               {"idTag": "GONE", "idTagInfo": {"status": "Blocked"}}]
    assert bench.ask("SendLocalList", {"listVersion": 3, "updateType": "Full",
                                       "localAuthorizationList": entries}) == {
        "status": "Accepted"}
    assert bench.ask("GetLocalListVersion", {}) == {"listVersion": 3}
    bench.plug(1)
    bench.tap(1, "local")
    assert bench.calls("Authorize") == []  # LocalPreAuthorize from the list
    assert bench.status(1) == "Charging"
    assert bench.ask("SendLocalList", {"listVersion": 3, "updateType": "Differential",
                                       "localAuthorizationList": []}) == {
        "status": "VersionMismatch"}
    assert bench.ask("SendLocalList", {"listVersion": 4, "updateType": "Differential",
                                       "localAuthorizationList": [{"idTag": "GONE"}]}) == {
        "status": "Accepted"}
    assert len(bench.model.auth) == 1
    assert bench.ask("ClearCache", {}) == {"status": "Accepted"}


def test_local_list_too_long_fails() -> None:
    bench = Bench()
    entries = [{"idTag": f"T{i}", "idTagInfo": {"status": "Accepted"}} for i in range(101)]
    assert bench.ask("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                       "localAuthorizationList": entries}) == {"status": "Failed"}


def test_local_list_without_the_profile() -> None:
    bench = Bench(profiles="Core")
    assert bench.ask("GetLocalListVersion", {}) == {"listVersion": -1}
    assert bench.ask("SendLocalList", {"listVersion": 1, "updateType": "Full"}) == {
        "status": "NotSupported"}


def test_cache_answers_offline_and_clear_cache_forgets() -> None:
    bench = Bench()
    _charging(bench, 1, "CACHED")
    bench.stop(1)
    bench.unplug(1)
    bench.disconnect()
    bench.plug(1)
    bench.tap(1, "CACHED")
    assert bench.status(1) == "Charging"  # LocalAuthorizeOffline from the cache
    bench.model.stop(1, bench.now)
    bench.model.unplug(1, bench.now)
    bench.connect()
    bench.ask("ClearCache", {})
    bench.disconnect()
    bench.plug(1)
    bench.tap(1, "CACHED")
    assert bench.status(1) == "Preparing"
    assert "connector 1: refused CACHED (offline and the idTag is not known locally)" in (
        bench.texts())


def test_allow_offline_tx_for_unknown_id() -> None:
    bench = Bench(config={"AllowOfflineTxForUnknownId": "true"})
    bench.disconnect()
    bench.plug(1)
    bench.tap(1, "STRANGER")
    assert bench.status(1) == "Charging"


def test_data_transfer() -> None:
    bench = Bench()
    assert bench.ask("DataTransfer", {"vendorId": "acme"}) == {"status": "UnknownVendorId"}
    assert bench.ask("DataTransfer", {"vendorId": "csms-sim", "data": "ping"}) == {
        "status": "Accepted", "data": "ping"}


def test_smart_charging_is_declined_in_its_own_terms() -> None:
    bench = Bench(profiles="Core,SmartCharging")
    assert bench.ask("ClearChargingProfile", {}) == {"status": "Unknown"}
    assert bench.ask("GetCompositeSchedule", {"connectorId": 1, "duration": 60}) == {
        "status": "Rejected"}


def test_the_whole_charger_goes_unavailable_and_back() -> None:
    bench = Bench()
    bench.ask("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    assert [bench.status(n) for n in (0, 1, 2)] == ["Unavailable"] * 3
    bench.ask("ChangeAvailability", {"connectorId": 0, "type": "Operative"})
    assert [bench.status(n) for n in (0, 1, 2)] == ["Available"] * 3
    assert bench.statuses(0) == ["Available", "Unavailable", "Available"]


def test_a_new_sample_interval_applies_to_the_running_transaction() -> None:
    bench = Bench(config={"MeterValueSampleInterval": "600"}, heartbeat=3600)
    _charging(bench, 1)
    bench.ask("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "5"})
    bench.advance(11)
    assert len(bench.calls("MeterValues")) == 2


def test_a_triggered_boot_notification_keeps_the_charger_booted() -> None:
    bench = Bench()
    bench.ask("TriggerMessage", {"requestedMessage": "BootNotification"})
    assert bench.actions().count("BootNotification") == 2
    assert bench.model.booted
    assert bench.actions().count("StatusNotification") == 3  # no second round of reports
