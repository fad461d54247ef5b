"""The simulator against a real ``csms serve`` process (real PostgreSQL, real WebSockets).

The CSMS is made to send its calls through its operator API
(``POST /api/v1/charge-points/{id}/commands/{Action}``); what the CSMS stored is read back
through ``GET /api/v1/transactions``. Every charger id is new, so tests share the process.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from simulators import EventKind, SimulatedChargePoint
from simulators.charge_point import Backoff
from simulators.protocol import parse_time
from tests.conftest import CsmsProcess
from tests.simulators.helpers import command, in_minutes, is_status, result, sent, unique
from tests.waiting import eventually

FAST = Backoff(0.05, 0.5)
KEY = "sim-key-0123456789ab"


async def _transactions(csms: CsmsProcess, cp_id: str) -> list[dict[str, Any]]:
    status, body = await csms.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    assert status == 200, body
    return list(body["items"])


async def _charger(csms: CsmsProcess, **options: Any) -> SimulatedChargePoint:
    cp_id = await csms.register_charge_point(connectors=options.pop("connectors", 2))
    return SimulatedChargePoint(csms.ocpp_url, cp_id, backoff=FAST, strict=True, **options)


async def test_boot_reports_every_connector_and_heartbeats_as_told(csms: CsmsProcess) -> None:
    async with await _charger(csms) as cp:
        boot = await cp.wait_for(result("BootNotification"))
        assert boot.payload is not None and boot.payload["status"] == "Accepted"
        assert cp.model.config.get_int("HeartbeatInterval") == boot.payload["interval"] > 0
        assert boot.payload["currentTime"].endswith("Z")  # some chargers break on +00:00
        for n in (0, 1, 2):
            await cp.wait_for(sent("StatusNotification", connectorId=n, status="Available"))
        answer = await command(csms, cp.cp_id, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        assert answer == {"status": "Accepted"}
        heartbeat = await cp.wait_for(result("Heartbeat"))
        assert heartbeat.payload is not None and heartbeat.payload["currentTime"].endswith("Z")


async def test_basic_auth_right_key_wrong_key_unknown_charger(csms: CsmsProcess) -> None:
    cp_id = await csms.register_charge_point(key=KEY)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, key=KEY, backoff=FAST) as cp:
        assert cp.model.booted
    for who, key, refusal in ((cp_id, "wrong-key-0123456789", "HTTP 401"),
                              (unique("NOBODY"), KEY, "HTTP 40")):
        stranger = SimulatedChargePoint(csms.ocpp_url, who, key=key, backoff=FAST)
        with pytest.raises(TimeoutError, match=refusal):
            await stranger.start(timeout=1.0)
        await stranger.close()


async def test_reserve_then_only_the_code_charges(csms: CsmsProcess) -> None:
    tag = unique("RES")
    await csms.add_id_tag(tag)
    async with await _charger(csms) as cp:
        answer = await command(csms, cp.cp_id, "ReserveNow", {
            "connectorId": 1, "idTag": tag, "reservationId": 4242, "expiryDate": in_minutes(30)})
        assert answer == {"status": "Accepted"}
        await cp.wait_for(is_status(1, "Reserved"))
        await cp.plug(1)
        await cp.code(1, "WRONG")
        await cp.wait_for(lambda e: e.kind is EventKind.REFUSED and e.connector == 1)
        assert cp.seen(sent("Authorize")) is None  # refused by the charger itself
        await cp.code(1, tag)
        await cp.wait_for(sent("StartTransaction", reservationId=4242, idTag=tag))
        start = await cp.wait_for(result("StartTransaction"))
        assert start.payload is not None
        await cp.wait_for(is_status(1, "Charging"))
        assert cp.transaction_id(1) == start.payload["transactionId"]
    stored = await _transactions(csms, cp.cp_id)
    assert stored[0]["id"] == start.payload["transactionId"]
    assert stored[0]["stop_reason"] == "Local"  # closing the charger stops it cleanly


@pytest.mark.parametrize(("prepare", "status"), [
    ("plug", "Occupied"), ("fault", "Faulted"), ("inoperative", "Unavailable"),
    ("reserved", "Occupied"), ("no-profile", "Rejected"), ("connector-0", "Rejected"),
])
async def test_every_reserve_now_answer_reaches_the_csms(
    csms: CsmsProcess, prepare: str, status: str
) -> None:
    profiles = "Core,RemoteTrigger" if prepare == "no-profile" else "Core,Reservation"
    async with await _charger(csms, profiles=profiles) as cp:
        if prepare == "plug":
            await cp.plug(1)
        elif prepare == "fault":
            await cp.fault(1)
        elif prepare == "inoperative":
            assert await command(csms, cp.cp_id, "ChangeAvailability",
                                 {"connectorId": 1, "type": "Inoperative"}) == {
                "status": "Accepted"}
        elif prepare == "reserved":
            await command(csms, cp.cp_id, "ReserveNow", {
                "connectorId": 1, "idTag": "FIRST", "reservationId": 1,
                "expiryDate": in_minutes(30)})
        connector = 0 if prepare == "connector-0" else 1
        answer = await command(csms, cp.cp_id, "ReserveNow", {
            "connectorId": connector, "idTag": "123456", "reservationId": 2,
            "expiryDate": in_minutes(30)})
        assert answer == {"status": status}


async def test_cancel_reservation_and_expiry(csms: CsmsProcess) -> None:
    async with await _charger(csms) as cp:
        reserve = {"connectorId": 1, "idTag": "123456", "reservationId": 11,
                   "expiryDate": in_minutes(30)}
        assert await command(csms, cp.cp_id, "ReserveNow", reserve) == {"status": "Accepted"}
        cancel = {"reservationId": 11}
        assert await command(csms, cp.cp_id, "CancelReservation", cancel) == {
            "status": "Accepted"}
        await cp.wait_for(is_status(1, "Available"))
        assert await command(csms, cp.cp_id, "CancelReservation", cancel) == {
            "status": "Rejected"}
        expiry = datetime.now(UTC).timestamp() + 2
        reserve.update(reservationId=12, expiryDate=_iso(expiry))
        cp.mark()  # what the CSMS does next is a new action
        assert await command(csms, cp.cp_id, "ReserveNow", reserve) == {"status": "Accepted"}
        await cp.wait_for(is_status(1, "Reserved"))
        freed = await cp.wait_for(sent("StatusNotification", connectorId=1,
                                       status="Available"), timeout=5)
        assert freed.payload is not None
        assert abs(parse_time(freed.payload["timestamp"]).timestamp() - expiry) < 1.0


def _iso(timestamp: float) -> str:
    from simulators.protocol import format_time

    return format_time(datetime.fromtimestamp(timestamp, UTC))


async def test_remote_start_and_stop(csms: CsmsProcess) -> None:
    tag = unique("REMOTE")
    await csms.add_id_tag(tag)
    async with await _charger(csms) as cp:
        await cp.plug(2)
        answer = await command(csms, cp.cp_id, "RemoteStartTransaction",
                               {"idTag": tag, "connectorId": 2})
        assert answer == {"status": "Accepted"}
        start = await cp.wait_for(result("StartTransaction"))
        assert start.payload is not None
        tx_id = start.payload["transactionId"]
        assert await command(csms, cp.cp_id, "RemoteStopTransaction",
                             {"transactionId": tx_id}) == {"status": "Accepted"}
        await cp.wait_for(sent("StopTransaction", reason="Remote", transactionId=tx_id))
        await cp.wait_for(result("StopTransaction"))
    stored = await _transactions(csms, cp.cp_id)
    assert (stored[0]["id"], stored[0]["stop_reason"]) == (tx_id, "Remote")


async def test_meter_values_reach_the_csms_and_energy_adds_up(csms: CsmsProcess) -> None:
    tag = unique("METER")
    await csms.add_id_tag(tag)
    async with await _charger(csms, power_kw=36.0) as cp:
        assert await command(csms, cp.cp_id, "ChangeConfiguration", {
            "key": "MeterValueSampleInterval", "value": "1"}) == {"status": "Accepted"}
        configuration = await command(csms, cp.cp_id, "GetConfiguration",
                                      {"key": ["MeterValueSampleInterval", "Nope"]})
        assert configuration["configurationKey"][0]["value"] == "1"
        assert configuration["unknownKey"] == ["Nope"]
        await cp.plug(1)
        await cp.tap(1, tag)
        await cp.wait_for(result("StartTransaction"))
        await cp.wait_for(result("MeterValues"), timeout=3)
        await cp.wait_for(result("MeterValues"), timeout=3)
        await cp.stop(1)
        stop = await cp.wait_for(sent("StopTransaction"))
        await cp.wait_for(result("StopTransaction"))
    assert stop.payload is not None
    stored = (await _transactions(csms, cp.cp_id))[0]
    assert stored["meter_stop"] == stop.payload["meterStop"]
    assert stored["energy_wh"] == stop.payload["meterStop"] - stored["meter_start"] >= 20


async def test_change_availability_is_scheduled_while_charging(csms: CsmsProcess) -> None:
    tag = unique("AVAIL")
    await csms.add_id_tag(tag)
    async with await _charger(csms) as cp:
        await cp.plug(1)
        await cp.tap(1, tag)
        await cp.wait_for(result("StartTransaction"))
        assert await command(csms, cp.cp_id, "ChangeAvailability",
                             {"connectorId": 1, "type": "Inoperative"}) == {"status": "Scheduled"}
        await cp.stop(1)
        await cp.wait_for(sent("StatusNotification", connectorId=1, status="Unavailable"))


async def test_offline_sessions_reach_the_csms_with_their_times(csms: CsmsProcess) -> None:
    tag = unique("OFFLINE")
    await csms.add_id_tag(tag)
    async with await _charger(csms) as cp:
        await cp.plug(1)
        await cp.tap(1, tag)  # online: the CSMS accepts it and the charger caches it
        await cp.wait_for(result("StartTransaction"))
        await cp.stop(1)
        await cp.wait_for(result("StopTransaction"))
        await cp.go_offline()
        started = datetime.now(UTC)
        await cp.tap(1, tag)  # offline: from the authorization cache
        await asyncio.sleep(1.0)
        await cp.stop(1)
        stopped = datetime.now(UTC)
        await asyncio.sleep(0.5)
        await cp.go_online()
        await cp.wait_for(result("StopTransaction"))
    rows = await eventually(lambda: _transactions(csms, cp.cp_id),
                            lambda rows: len(rows) == 2 and rows[0]["stopped_at"] is not None)
    offline = rows[0]
    assert abs(_moment(offline["started_at"]) - started.timestamp()) < 0.5
    assert abs(_moment(offline["stopped_at"]) - stopped.timestamp()) < 0.5


def _moment(value: object) -> float:
    return parse_time(value).timestamp()


async def test_reset_reboots_the_charger(csms: CsmsProcess) -> None:
    async with await _charger(csms) as cp:
        cp.mark()
        assert await command(csms, cp.cp_id, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
        await cp.wait_for(lambda e: e.kind is EventKind.BOOT and e.status == "Accepted")
        assert cp.connects == 2


async def test_local_list_and_data_transfer(csms: CsmsProcess) -> None:
    async with await _charger(csms) as cp:
        assert await command(csms, cp.cp_id, "SendLocalList", {
            "listVersion": 5, "updateType": "Full",
            "localAuthorizationList": [{"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}}],
        }) == {"status": "Accepted"}
        assert await command(csms, cp.cp_id, "GetLocalListVersion", {}) == {"listVersion": 5}
        assert await command(csms, cp.cp_id, "ClearCache", {}) == {"status": "Accepted"}
        assert await command(csms, cp.cp_id, "DataTransfer", {"vendorId": "other"}) == {
            "status": "UnknownVendorId"}
        assert await command(csms, cp.cp_id, "UnlockConnector", {"connectorId": 1}) == {
            "status": "Unlocked"}


async def test_a_wrong_code_that_a_quirky_charger_starts_is_stopped(csms: CsmsProcess) -> None:
    """accept-wrong-code: the charger starts for anyone; the CSMS must say no in
    StartTransaction, and the charger stops (StopTransactionOnInvalidId)."""
    owner = unique("OWNER")
    await csms.add_id_tag(owner)
    async with await _charger(csms, quirks=["accept-wrong-code"]) as cp:
        await command(csms, cp.cp_id, "ReserveNow", {
            "connectorId": 1, "idTag": owner, "reservationId": 77, "expiryDate": in_minutes(30)})
        await cp.plug(1)
        await cp.code(1, "000000")
        start = await cp.wait_for(result("StartTransaction"))
        assert start.payload is not None
        assert start.payload["idTagInfo"]["status"] != "Accepted"
        await cp.wait_for(sent("StopTransaction", reason="DeAuthorized"))


async def test_a_repeated_start_or_stop_transaction_is_not_counted_twice(
    csms: CsmsProcess
) -> None:
    """What a charger does when an answer was lost: send the very same message again."""
    from simulators.core import OutgoingCall

    tag = unique("AGAIN")
    await csms.add_id_tag(tag)
    async with await _charger(csms) as cp:
        await cp.plug(1)
        await cp.tap(1, tag)
        first = await cp.wait_for(result("StartTransaction"))
        start = await cp.wait_for(sent("StartTransaction"))
        tx = cp.model.connectors[1].transaction
        assert tx is not None and start.payload is not None and first.payload is not None
        copy = OutgoingCall("StartTransaction", dict(start.payload), 1, tx)
        cp.model.queue(copy)
        await cp.flush()
        again = await cp.wait_for(result("StartTransaction"))
        assert again.payload is not None
        assert again.payload["transactionId"] == first.payload["transactionId"]
        await cp.stop(1)
        stop = await cp.wait_for(sent("StopTransaction"))
        await cp.wait_for(result("StopTransaction"))
        assert stop.payload is not None
        cp.model.queue(OutgoingCall("StopTransaction", dict(stop.payload), 1, tx))
        await cp.flush()
        await cp.wait_for(result("StopTransaction"))
    rows = await _transactions(csms, cp.cp_id)
    assert len(rows) == 1 and rows[0]["meter_stop"] == stop.payload["meterStop"]


async def test_diagnostics_and_the_security_log_reach_csms(csms: CsmsProcess) -> None:
    path_of = "/api/v1/charge-points/{}/diagnostics"
    async with await _charger(csms, profiles="Core,FirmwareManagement") as cp:
        await cp.tamper()
        path = path_of.format(cp.cp_id)
        status, diagnostics = await csms.request("POST", path)
        assert status == 201 and diagnostics["log_type"] is None, diagnostics
        status, log = await csms.request("POST", path, json={"log_type": "SecurityLog"})
        assert status == 201 and log["file_name"], log

        def done(listed: tuple[int, Any]) -> bool:
            return all(item["status"] == "Uploaded" for item in listed[1]["items"])

        status, listed = await eventually(lambda: csms.request("GET", path), done, timeout=15)
    by_id = {item["id"]: item for item in listed["items"]}
    # What csms keeps is what the charger made.
    for request in (diagnostics, log):
        stored = by_id[request["id"]]
        assert stored["file_received"], stored
        async with aiohttp.ClientSession(headers=csms.headers()) as http, http.get(
            f"{csms.http_url}/api/v1/diagnostics/{request['id']}/file"
        ) as response:
            assert response.status == 200
            assert await response.read() == cp.model.uploads.files[stored["file"]["name"]]
    security_log = cp.model.uploads.files[by_id[log["id"]]["file"]["name"]].decode()
    assert "TamperDetectionActivated" in security_log
