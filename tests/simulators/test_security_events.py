"""Security events (SEC "Security events/logging"): after boot and reboot, on a refused
AuthorizationKey, on tamper (the ``tamper`` command); a CSMS that answers NotImplemented does
not stop the charger, unless the stop-after-not-implemented quirk is on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from simulators import EventKind, SimulatedChargePoint
from simulators.charge_point import Backoff
from simulators.protocol import parse_time
from simulators.scenario import Settings, run_file
from tests.simulators.fake_csms import FakeCsms
from tests.simulators.helpers import sent
from tests.simulators.sim_bench import T0, Bench

FAST = Backoff(0.05, 0.3)
KEY = "0123456789abcdef0123"


def _types(bench: Bench) -> list[str]:
    return [p["type"] for p in bench.calls("SecurityEventNotification")]


def test_startup_after_the_first_boot_and_reset_or_reboot_after_a_reset() -> None:
    bench = Bench(connectors=1)
    assert bench.actions() == ["BootNotification", "StatusNotification", "StatusNotification",
                               "SecurityEventNotification"]
    startup = bench.calls("SecurityEventNotification")[0]
    assert startup["type"] == "StartupOfTheDevice"
    assert parse_time(startup["timestamp"]) == T0
    assert "csms-sim Simulator csms-sim 0.1.0" in startup["techInfo"]
    bench.ask("Reset", {"type": "Hard"})
    bench.disconnect()
    bench.model.reboot(bench.now)
    bench.connect()
    assert _types(bench) == ["StartupOfTheDevice", "ResetOrReboot"]
    assert bench.calls("SecurityEventNotification")[-1]["techInfo"] == "Hard reset"
    bench.ask("TriggerMessage", {"requestedMessage": "BootNotification"})
    assert _types(bench) == ["StartupOfTheDevice", "ResetOrReboot"]  # a triggered boot: none


def test_critical_mode_sends_only_critical_events_and_off_sends_none() -> None:
    bench = Bench(security_events="critical")
    bench.model.security.report("InvalidMessages", bench.now, "junk")  # not critical: logged
    bench.model.security.report("TamperDetectionActivated", bench.now)
    bench.pump()
    assert _types(bench) == ["StartupOfTheDevice", "TamperDetectionActivated"]
    assert any("InvalidMessages junk" in line
               for line in bench.model.security.log_lines(None, None))
    assert Bench(security_events="off").calls("SecurityEventNotification") == []


def test_a_security_event_waits_for_the_next_connection_but_not_forever() -> None:
    bench = Bench()
    bench.auto = False
    bench.model.security.report("TamperDetectionActivated", bench.now, "lid open")
    bench.pump()
    for _ in range(3):  # each time the link dies before the answer
        bench.disconnect()
        bench.connect()
    tampers = [p for p in bench.calls("SecurityEventNotification")
               if p["type"] == "TamperDetectionActivated"]
    assert len(tampers) == 3 and len({p["timestamp"] for p in tampers}) == 1  # the same event
    assert bench.pending is None  # given up after KEPT_CALL_ATTEMPTS


async def test_tamper_command_sends_tamper_detection_activated() -> None:
    async with FakeCsms() as csms:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simulators", "run", "--url", csms.url, "--id", "CP-TAMPER",
            "--quiet", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(b"tamper\nwait 0.3\n"), 20)
    assert process.returncode == 0, err.decode()
    line = "security event TamperDetectionActivated (critical): enclosure opened"
    assert line in out.decode().splitlines()
    assert [p["type"] for p in csms.payloads("CP-TAMPER", "SecurityEventNotification")] == [
        "StartupOfTheDevice", "TamperDetectionActivated"]


async def test_a_refused_key_is_reported_once_connected() -> None:
    keys = {"CP-WK": KEY}
    async with FakeCsms(keys=keys) as csms:
        cp = SimulatedChargePoint(csms.url, "CP-WK", key="the-wrong-key-0000", backoff=FAST,
                                  strict=True)
        with pytest.raises(TimeoutError, match="HTTP 401"):
            await cp.start(timeout=1.0)
        keys["CP-WK"] = "the-wrong-key-0000"  # the operator fixes the CSMS's record
        await cp.wait_booted(5)
        await csms.until(lambda: len(csms.payloads("CP-WK", "SecurityEventNotification")) == 2)
        events = csms.payloads("CP-WK", "SecurityEventNotification")
        assert [e["type"] for e in events] == ["FailedToAuthenticateAtCentralSystem",
                                               "StartupOfTheDevice"]
        assert events[0]["techInfo"] == "HTTP 401"
        assert len(csms.handshakes) >= 3  # several refusals, one event (queued while offline)
        await cp.close()


async def test_not_implemented_does_not_stop_the_charger() -> None:
    async with FakeCsms(interval=1) as csms:
        csms.errors["SecurityEventNotification"] = "NotImplemented"
        async with SimulatedChargePoint(csms.url, "CP-NI", backoff=FAST, strict=True) as cp:
            await cp.wait_for(lambda e: e.kind is EventKind.CALL_ERROR, timeout=3)
            await cp.wait_for(lambda e: "does not implement SecurityEventNotification; "
                              "carrying on" in e.text)
            await cp.tamper()
            await cp.plug(1)
            await cp.wait_for(sent("StatusNotification", connectorId=1, status="Preparing"))
            await csms.until(lambda: "Heartbeat" in csms.actions("CP-NI"), timeout=3)
            assert cp.connects == 1 and cp.connected


async def test_stop_after_not_implemented_quirk_drops_the_connection() -> None:
    async with FakeCsms() as csms:
        csms.errors["SecurityEventNotification"] = "NotImplemented"
        async with SimulatedChargePoint(csms.url, "CP-NQ", backoff=FAST, strict=True,
                                        quirks=["stop-after-not-implemented"]) as cp:
            await cp.wait_for(lambda e: e.text == "disconnected (1008 SecurityEventNotification "
                              "not implemented)", timeout=3)
            cp.mark()
            await cp.wait_for(lambda e: e.text.startswith("connected"), timeout=3)
            assert cp.connects == 2
            assert csms.actions("CP-NQ").count("BootNotification") == 1  # no reboot


SCENARIO = """\
timeout 5
charger CP-SCS connectors=1 security-events=all config=CpoName=ACME
expect security StartupOfTheDevice
tamper
expect security TamperDetectionActivated
expect sent SecurityEventNotification type=TamperDetectionActivated
csr
expect certificate requested
expect sent SignCertificate
"""


async def test_scenarios_drive_and_expect_security_events(tmp_path: Path) -> None:
    path = tmp_path / "security.scn"
    path.write_text(SCENARIO)
    out = tmp_path / "out.txt"
    async with FakeCsms() as csms:
        with out.open("w") as stream:
            code = await run_file(path, Settings(url=csms.url), stream)
    assert code == 0, out.read_text()
    assert "certificate requested (CN=CP-SCS, O=ACME)" not in out.read_text()  # not verbose
    assert csms.actions("CP-SCS").count("SignCertificate") == 1
