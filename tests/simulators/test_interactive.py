"""``csms-sim run`` driven through a pseudo-terminal and through a pipe."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from tests.simulators.fake_csms import FakeCsms
from tests.simulators.helpers import in_minutes
from tests.simulators.terminal import Terminal

PROMPT = r"csms-sim> "


async def test_the_prompt_drives_a_charger_through_a_terminal() -> None:
    async with FakeCsms() as csms:
        terminal = Terminal("run", "--url", csms.url, "--id", "CP-TTY", "--connectors", "2",
                            "--backoff-max", "0.5", "--config", "MeterValueSampleInterval=1")
        try:
            await terminal.expect(r"boot Accepted")
            await terminal.expect(PROMPT)
            terminal.type("plug 1")
            await terminal.expect(r"connector 1: Preparing\n")
            terminal.type("tap 1 CARD-7")
            await terminal.expect(r"-> Authorize \{\"idTag\":\"CARD-7\"\}")
            await terminal.expect(r"connector 1: transaction started for CARD-7")
            await terminal.expect(r"connector 1: Charging \(transaction \(pending\), CARD-7\)")
            await terminal.expect(r"connector 1: transaction 500 Accepted")
            await terminal.expect(r"-> MeterValues ")
            terminal.type("status")
            await terminal.expect(r"charger CP-TTY: online, boot Accepted")
            await terminal.expect(r"connector 1: Charging, plugged yes, meter \d+ Wh, "
                                  r"transaction 500 for CARD-7")
            await _reserve_from_the_csms(csms, terminal)
            terminal.type("frobnicate 3")
            await terminal.expect(r"error: unknown command 'frobnicate'")
            terminal.type("code 2")
            await terminal.expect(r"error: usage: code N CODE")
            terminal.type("plug 9")
            await terminal.expect(r"error: no connector 9")
            terminal.type("help")
            await terminal.expect(r"code N CODE \| tap N TAG")
            terminal.type("quit")
            await terminal.expect(r"-> StopTransaction \{\"meterStop\"")
            await terminal.expect(r"bye")
            assert await terminal.wait() == 0
        finally:
            terminal.close()
        assert csms.payloads("CP-TTY", "StopTransaction")[0]["reason"] == "Local"


async def _reserve_from_the_csms(csms: FakeCsms, terminal: Terminal) -> None:
    expiry = in_minutes(30)
    task = asyncio.get_running_loop().create_task(csms.call("CP-TTY", "ReserveNow", {
        "connectorId": 2, "idTag": "123456", "reservationId": 7, "expiryDate": expiry}))
    await terminal.expect(r"<- ReserveNow ")
    clock = expiry[11:19]
    await terminal.expect(rf"connector 2: Reserved for 123456 until {clock}Z \(reservation 7\)")
    await terminal.expect(r"-> ReserveNow result \{\"status\":\"Accepted\"\}")
    await task
    terminal.type("code 2 999999")
    await terminal.expect(r"connector 2: refused 999999 \(reserved for 123456\)")


async def test_commands_can_be_piped() -> None:
    async with FakeCsms() as csms:
        script = "plug 1\ntap 1 PIPE-TAG\nwait 0.3\nstatus\nstop 1\nunplug 1\nwait 0.2\n"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simulators", "run", "--url", csms.url, "--id", "CP-PIPE",
            "--quiet", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(script.encode()), 20)
        text = out.decode()
        assert process.returncode == 0, err.decode()
        assert "csms-sim>" not in text  # no prompt in a pipe
        assert "-> " not in text  # --quiet hides the frames
        assert "connector 1: transaction 500 stopped (Local" in text
        assert "connector 1: Charging, plugged yes" in text
        assert text.rstrip().endswith("bye")
        assert csms.actions("CP-PIPE")[-2:] == ["StatusNotification", "StatusNotification"]


async def test_bad_command_line_options_exit_2() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators", "run", "--url", "ws://127.0.0.1:1/ocpp",
        "--id", "X", "--quirk", "teleport", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert b"invalid choice: 'teleport'" in err
