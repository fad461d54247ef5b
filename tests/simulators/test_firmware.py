"""Firmware updates: UpdateFirmware (S 5.19, 4.5) and SignedUpdateFirmware (SEC L01),
downloaded over real HTTP from a loopback server, and the state machine on the fake clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from simulators import SimulatedChargePoint
from simulators.charge_point import Backoff
from simulators.effects import Download
from simulators.protocol import Call, CallResult, format_time
from tests.simulators.fake_csms import FakeCsms
from tests.simulators.file_server import FileServer
from tests.simulators.pki import Ca, Signer, pem
from tests.simulators.sim_bench import T0, Bench

FAST = Backoff(0.05, 0.3)
PROFILES = "Core,FirmwareManagement,RemoteTrigger"
IMAGE = b"\x7fELF pretend this is firmware\n" * 40


def _statuses(csms: FakeCsms, cp_id: str, action: str = "FirmwareStatusNotification"
              ) -> list[str]:
    return [p["status"] for p in csms.payloads(cp_id, action)]


def _now() -> str:
    return format_time(datetime.now(UTC))


async def test_update_firmware_downloads_installs_reboots_and_reports() -> None:
    async with FakeCsms() as csms, FileServer() as files:
        files.firmware["csms-sim-2.0.bin"] = IMAGE
        async with SimulatedChargePoint(csms.url, "CP-FW", profiles=PROFILES, backoff=FAST,
                                        strict=True) as cp:
            answer = await csms.call("CP-FW", "UpdateFirmware", {
                "location": f"{files.url}/fw/csms-sim-2.0.bin", "retrieveDate": _now()})
            assert isinstance(answer, CallResult) and answer.payload == {}
            await csms.until(lambda: "Installed" in _statuses(csms, "CP-FW"), timeout=10)
            assert cp.model.firmware_version == "csms-sim-2.0.bin"
        assert _statuses(csms, "CP-FW") == ["Downloading", "Downloaded", "Installing",
                                            "Installed"]
        assert files.count("GET") == 1
        frames = [(c.action, c.payload) for who, c, _ in csms.calls if who == "CP-FW"]
        boots = [i for i, (action, _) in enumerate(frames) if action == "BootNotification"]
        installing = frames.index(("FirmwareStatusNotification", {"status": "Installing"}))
        installed = frames.index(("FirmwareStatusNotification", {"status": "Installed"}))
        assert installing < boots[1] < installed  # OCTT TC_044: Installed after the reboot
        assert frames[boots[1]][1]["firmwareVersion"] == "csms-sim-2.0.bin"
        events = [p["type"] for p in csms.payloads("CP-FW", "SecurityEventNotification")]
        assert events == ["StartupOfTheDevice", "FirmwareUpdated", "ResetOrReboot"]


async def test_a_failing_download_is_retried_at_the_retry_interval() -> None:
    async with FakeCsms() as csms, FileServer() as files:
        files.firmware["fw.bin"], files.fail = IMAGE, 2
        async with SimulatedChargePoint(csms.url, "CP-RT", profiles=PROFILES, backoff=FAST,
                                        strict=True):
            await csms.call("CP-RT", "UpdateFirmware", {
                "location": f"{files.url}/fw/fw.bin", "retrieveDate": _now(), "retries": 3,
                "retryInterval": 1})
            await csms.until(lambda: "Downloaded" in _statuses(csms, "CP-RT"), timeout=10)
        gets = [when for method, _, when in files.requests if method == "GET"]
        assert len(gets) == 3
        assert all((b - a).total_seconds() >= 0.95 for a, b in itertools.pairwise(gets))
        assert _statuses(csms, "CP-RT")[:2] == ["Downloading", "Downloaded"]


async def test_download_failed_after_the_last_try() -> None:
    async with FakeCsms() as csms, FileServer() as files:
        files.fail = 99
        async with SimulatedChargePoint(csms.url, "CP-DF", profiles=PROFILES, backoff=FAST,
                                        strict=True):
            await csms.call("CP-DF", "UpdateFirmware", {
                "location": f"{files.url}/fw/fw.bin", "retrieveDate": _now(), "retries": 2,
                "retryInterval": 0})
            await csms.until(lambda: "DownloadFailed" in _statuses(csms, "CP-DF"), timeout=10)
        assert _statuses(csms, "CP-DF") == ["Downloading", "DownloadFailed"]
        assert files.count("GET") == 2


def test_nothing_before_the_retrieve_date_and_an_empty_file_fails_to_install() -> None:
    bench = Bench(profiles=PROFILES)
    later = format_time(T0 + timedelta(minutes=10))
    assert bench.ask("UpdateFirmware", {"location": "http://127.0.0.1:9/fw/x.bin",
                                        "retrieveDate": later}) == {}
    bench.advance(599)
    assert bench.model.take_effects() == [] and bench.calls("FirmwareStatusNotification") == []
    bench.advance(1)
    download = bench.model.take_effects()
    assert download == [Download(1, "http://127.0.0.1:9/fw/x.bin")]
    assert bench.ask("TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}) == {
        "status": "Accepted"}
    bench.model.firmware.download_finished(1, b"", None, bench.now)
    bench.pump()
    assert [p["status"] for p in bench.calls("FirmwareStatusNotification")] == [
        "Downloading", "Downloading", "Downloaded", "InstallationFailed"]  # 2nd: triggered
    bench.ask("TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
    assert bench.calls("FirmwareStatusNotification")[-1] == {"status": "Idle"}


def test_installation_waits_until_no_transaction_runs() -> None:
    bench = Bench(profiles=PROFILES)
    bench.plug(1)
    bench.tap(1, "TAG")
    bench.ask("UpdateFirmware", {"location": "http://x/fw/v2", "retrieveDate": format_time(T0)})
    bench.model.firmware.download_finished(1, IMAGE, None, bench.now)
    bench.pump()
    bench.advance(30)
    assert "Installing" not in [p["status"] for p in bench.calls("FirmwareStatusNotification")]
    bench.stop(1)
    bench.advance(5)
    assert bench.calls("FirmwareStatusNotification")[-1] == {"status": "Installing"}
    bench.advance(1)
    assert bench.model.reboot_pending == "Firmware" and bench.model.firmware_version == "v2"


def _signed(location: str, signer: Signer, signature: str, request_id: int = 7) -> dict[str, object]:
    return {"requestId": request_id, "retries": 1, "firmware": {
        "location": location, "retrieveDateTime": _now(), "signature": signature,
        "signingCertificate": pem(signer.certificate)}}


async def test_signed_update_firmware_checks_the_signature_and_reports_each_step() -> None:
    root = Ca("manufacturer root")
    signer = Signer(root)
    async with FakeCsms() as csms, FileServer() as files:
        files.firmware["signed.bin"] = IMAGE
        async with SimulatedChargePoint(csms.url, "CP-SF", backoff=FAST, strict=True,
                                        new_firmware_version="2.0.0") as cp:
            installed = await csms.call("CP-SF", "InstallCertificate", {
                "certificateType": "ManufacturerRootCertificate", "certificate": root.pem})
            assert installed.payload == {"status": "Accepted"}  # type: ignore[union-attr]
            answer = await csms.call("CP-SF", "SignedUpdateFirmware", _signed(
                f"{files.url}/fw/signed.bin", signer, signer.sign(IMAGE)))
            assert isinstance(answer, CallResult) and answer.payload == {"status": "Accepted"}
            await csms.until(lambda: "Installed" in _statuses(
                csms, "CP-SF", "SignedFirmwareStatusNotification"), timeout=10)
            assert cp.model.firmware_version == "2.0.0"
        notes = csms.payloads("CP-SF", "SignedFirmwareStatusNotification")
        assert [n["status"] for n in notes] == ["Downloading", "Downloaded", "SignatureVerified",
                                                "Installing", "InstallRebooting", "Installed"]
        assert {n["requestId"] for n in notes} == {7}
        assert csms.payloads("CP-SF", "BootNotification")[1]["firmwareVersion"] == "2.0.0"


def test_a_wrong_signature_or_an_untrusted_signing_certificate_is_refused() -> None:
    root, stranger = Ca("manufacturer root", around=T0), Ca("someone else", around=T0)
    bench = Bench()
    untrusted = _signed("http://x/fw/a.bin", Signer(stranger), "AAAA", request_id=1)
    untrusted["firmware"]["retrieveDateTime"] = format_time(T0)  # type: ignore[index]
    assert bench.ask("SignedUpdateFirmware", untrusted) == {"status": "InvalidCertificate"}
    bench.ask("InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                     "certificate": root.pem})
    signer = Signer(root)
    wrong = _signed("http://x/fw/a.bin", signer, signer.sign(b"other bytes"), request_id=2)
    wrong["firmware"]["retrieveDateTime"] = format_time(T0)  # type: ignore[index]
    assert bench.ask("SignedUpdateFirmware", wrong) == {"status": "Accepted"}
    bench.model.firmware.download_finished(1, IMAGE, None, bench.now)
    bench.pump()
    assert [p["status"] for p in bench.calls("SignedFirmwareStatusNotification")] == [
        "Downloading", "Downloaded", "InvalidSignature"]
    assert [p["type"] for p in bench.calls("SecurityEventNotification")] == [
        "StartupOfTheDevice", "InvalidFirmwareSigningCertificate", "InvalidFirmwareSignature"]


def test_a_new_signed_update_cancels_the_one_in_progress() -> None:
    root = Ca(around=T0)
    signer = Signer(root)
    bench = Bench()
    bench.ask("InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                     "certificate": root.pem})
    later = _signed("http://x/fw/a.bin", signer, signer.sign(IMAGE), request_id=1)
    later["firmware"]["retrieveDateTime"] = format_time(T0 + timedelta(hours=1))  # type: ignore[index]
    assert bench.ask("SignedUpdateFirmware", later) == {"status": "Accepted"}
    assert bench.calls("SignedFirmwareStatusNotification") == [
        {"status": "DownloadScheduled", "requestId": 1}]
    again = {**later, "requestId": 2}
    assert bench.ask("SignedUpdateFirmware", again) == {"status": "AcceptedCanceled"}
    frames = [f for f in bench.frames if isinstance(f, Call)]
    assert frames[-1].payload == {"status": "DownloadScheduled", "requestId": 2}


@pytest.mark.parametrize("quirks", [[], ["installed-before-reboot"]])
def test_installed_goes_after_the_reboot_unless_the_quirk_sends_it_before(
    quirks: list[str],
) -> None:
    bench = Bench(profiles=PROFILES, quirks=quirks)
    bench.ask("UpdateFirmware", {"location": "http://x/fw/v3.bin", "retrieveDate": format_time(T0)})
    bench.model.firmware.download_finished(1, IMAGE, None, bench.now)
    bench.advance(1)
    assert bench.session.ready_to_reboot()
    before_reboot = [p["status"] for p in bench.calls("FirmwareStatusNotification")]
    bench.disconnect()
    bench.model.reboot(bench.now)
    bench.connect()
    statuses = [p["status"] for p in bench.calls("FirmwareStatusNotification")]
    assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert before_reboot == (statuses if quirks else statuses[:3])
    assert bench.calls("BootNotification")[-1]["firmwareVersion"] == "v3.bin"
