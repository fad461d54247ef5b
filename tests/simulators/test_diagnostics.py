"""Diagnostics and logs: GetDiagnostics (S 5.9, 4.4) and GetLog (SEC N01) uploaded over
real HTTP to a loopback server, byte for byte, and ExtendedTriggerMessage (SEC)."""

from __future__ import annotations

import pytest

from simulators import SimulatedChargePoint
from simulators.charge_point import Backoff
from simulators.protocol import CallError, CallResult
from tests.simulators.fake_csms import FakeCsms
from tests.simulators.file_server import FileServer
from tests.simulators.sim_bench import Bench

FAST = Backoff(0.05, 0.3)
PROFILES = "Core,FirmwareManagement"


def _statuses(csms: FakeCsms, cp_id: str, action: str) -> list[str]:
    return [p["status"] for p in csms.payloads(cp_id, action)]


@pytest.mark.parametrize("quirks", [[], ["multipart-upload"]])
async def test_get_diagnostics_uploads_the_file(quirks: list[str]) -> None:
    async with FakeCsms() as csms, FileServer() as files:
        async with SimulatedChargePoint(csms.url, "CP-DG", profiles=PROFILES, backoff=FAST,
                                        quirks=quirks, strict=True) as cp:
            answer = await csms.call("CP-DG", "GetDiagnostics", {
                "location": f"{files.url}/up", "startTime": "2026-01-01T00:00:00Z"})
            assert isinstance(answer, CallResult)
            name = answer.payload["fileName"]
            assert name.startswith("CP-DG-diagnostics-") and name.endswith(".txt")
            await csms.until(lambda: "Uploaded" in _statuses(
                csms, "CP-DG", "DiagnosticsStatusNotification"))
            made = cp.model.uploads.files[name]
        assert files.received == {name: made}  # byte for byte
        assert files.requests[0][0] == ("POST" if quirks else "PUT")
        assert files.content_types == ["multipart/form-data" if quirks else "text/plain"]
        assert made.startswith(b"csms-sim diagnostics of CP-DG\n")
        assert b"covering 2026-01-01T00:00:00.000Z .. -\n" in made
        assert b"StartupOfTheDevice" in made
        assert _statuses(csms, "CP-DG", "DiagnosticsStatusNotification") == [
            "Uploading", "Uploaded"]


async def test_a_failing_upload_is_retried_then_upload_failed() -> None:
    async with FakeCsms() as csms, FileServer() as files:
        files.fail = 99
        async with SimulatedChargePoint(csms.url, "CP-UF", profiles=PROFILES, backoff=FAST,
                                        strict=True):
            await csms.call("CP-UF", "GetDiagnostics", {"location": f"{files.url}/up",
                                                        "retries": 2, "retryInterval": 0})
            await csms.until(lambda: "UploadFailed" in _statuses(
                csms, "CP-UF", "DiagnosticsStatusNotification"))
        assert _statuses(csms, "CP-UF", "DiagnosticsStatusNotification") == [
            "Uploading", "UploadFailed"]
        assert files.count("PUT") == 2 and files.received == {}


async def test_get_log_uploads_the_security_log() -> None:
    async with FakeCsms() as csms, FileServer() as files:
        async with SimulatedChargePoint(csms.url, "CP-LG", backoff=FAST, strict=True) as cp:
            await cp.tamper()
            answer = await csms.call("CP-LG", "GetLog", {
                "logType": "SecurityLog", "requestId": 42,
                "log": {"remoteLocation": f"{files.url}/up"}})
            assert isinstance(answer, CallResult)
            assert answer.payload["status"] == "Accepted"
            name = answer.payload["filename"]
            await csms.until(lambda: "Uploaded" in _statuses(
                csms, "CP-LG", "LogStatusNotification"))
            made = cp.model.uploads.files[name]
        assert files.received == {name: made}
        lines = made.decode().splitlines()
        assert lines[0].startswith("csms-sim security log of CP-LG, made ")
        assert [line.split(" ", 2)[1] for line in lines[1:]] == [
            "StartupOfTheDevice", "TamperDetectionActivated"]
        assert csms.payloads("CP-LG", "LogStatusNotification") == [
            {"status": "Uploading", "requestId": 42}, {"status": "Uploaded", "requestId": 42}]


def test_a_new_get_log_cancels_the_upload_in_progress() -> None:
    bench = Bench()
    request = {"logType": "DiagnosticsLog", "requestId": 1, "log": {"remoteLocation": "http://x"}}
    assert bench.ask("GetLog", request)["status"] == "Accepted"
    assert bench.ask("GetLog", {**request, "requestId": 2})["status"] == "AcceptedCanceled"
    bench.model.uploads.upload_finished(1, None, bench.now)  # the cancelled one: ignored
    bench.model.uploads.upload_finished(2, None, bench.now)
    bench.pump()
    assert bench.calls("LogStatusNotification") == [
        {"status": "Uploading", "requestId": 1}, {"status": "Uploading", "requestId": 2},
        {"status": "Uploaded", "requestId": 2}]


@pytest.mark.parametrize(("requested", "action"), [
    ("BootNotification", "BootNotification"),
    ("Heartbeat", "Heartbeat"),
    ("StatusNotification", "StatusNotification"),
    ("MeterValues", "MeterValues"),
    ("SignChargePointCertificate", "SignCertificate"),
    ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"),
    ("LogStatusNotification", "LogStatusNotification"),
])
def test_extended_trigger_message_answers_then_sends(requested: str, action: str) -> None:
    bench = Bench()
    before = len(bench.frames)
    assert bench.ask("ExtendedTriggerMessage", {"requestedMessage": requested,
                                                "connectorId": 1}) == {"status": "Accepted"}
    answer, call = bench.frames[before], bench.frames[before + 1]
    assert isinstance(answer, CallResult)  # the answer first
    assert getattr(call, "action", None) == action
    if action.endswith("StatusNotification") and action != "StatusNotification":
        assert call.payload == {"status": "Idle"}  # type: ignore[union-attr]


def test_extended_trigger_message_for_a_connector_it_lacks_is_rejected() -> None:
    bench = Bench(connectors=2)
    assert bench.ask("ExtendedTriggerMessage", {"requestedMessage": "StatusNotification",
                                                "connectorId": 3}) == {"status": "Rejected"}
    answer = bench.call("ExtendedTriggerMessage", {"requestedMessage": "Teleport"})
    assert isinstance(answer, CallError) and answer.error_code == "PropertyConstraintViolation"
