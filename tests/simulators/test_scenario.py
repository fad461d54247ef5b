"""``csms-sim scenario``: the file format, expectations and exit codes (against a fake CSMS)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.expectations import parse_expectation
from simulators.scenario import ScenarioError, Settings, load, run_file
from tests.simulators.fake_csms import FakeCsms

SESSION = """\
# a card session, checked step by step
timeout 5
charger CP-SCN connectors=2 power-kw=11 config=MeterValueSampleInterval=1
expect booted
expect status 1 Available
plug 1
expect status 1 Preparing
tap 1 CARD-1                       # the CSMS accepts every card here
expect sent Authorize idTag=CARD-1
expect result Authorize Accepted
expect sent StartTransaction connectorId=1 idTag=CARD-1
expect transaction 1 started                     # in any order after the action
expect sent StatusNotification connectorId=1 status=Preparing
expect sent StatusNotification connectorId=1 status=Charging
expect status 1 Charging within 2
expect sent MeterValues connectorId=1 within 3
expect sent MeterValues connectorId=1 within 3     # a second one
check status 1 Charging
check transaction 1 running
expect no refused within 0.2
stop 1
expect sent StopTransaction reason=Local
expect status 1 Finishing
unplug 1
expect status 1 Available
check transaction 1 none
"""


async def _run(tmp_path: Path, text: str, url: str, **settings: object) -> tuple[int, str]:
    path = tmp_path / "test.scn"
    path.write_text(text)
    out = tmp_path / "out.txt"
    with out.open("w") as stream:
        code = await run_file(path, Settings(url=url, **settings), stream)  # type: ignore[arg-type]
    return code, out.read_text()


async def test_a_passing_scenario(tmp_path: Path) -> None:
    async with FakeCsms() as csms:
        code, out = await _run(tmp_path, SESSION, csms.url)
    assert code == 0, out
    assert out.rstrip().endswith("PASSED test.scn")
    assert "  12 expect transaction 1 started  ok" in out
    assert "  14 expect sent StatusNotification connectorId=1 status=Charging  ok" in out


async def test_a_failing_expectation_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "charger CP-F\nplug 1\nexpect status 1 Charging within 0.3\nexpect status 1 Faulted\n"
    async with FakeCsms() as csms:
        code, _ = await _run(tmp_path, text, csms.url)
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED test.scn line 3: expect status 1 Charging within 0.3: no matching event" in err
    assert "connector 1: Preparing" in err  # what was seen instead


async def test_expect_no_fails_when_it_happens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "charger CP-N\nplug 1\nexpect no status 1 Preparing within 0.1\n"
    async with FakeCsms() as csms:
        assert (await _run(tmp_path, text, csms.url))[0] == 1
    assert "it happened: connector 1: Preparing" in capsys.readouterr().err


async def test_variables_and_several_chargers(tmp_path: Path) -> None:
    text = """\
set card CARD-${random}
charger CP-V1
charger CP-V2 connectors=1 quirk=no-reservation-id
use CP-V1
plug 2
tap 2 ${card}
expect sent StartTransaction connectorId=2
use CP-V2
check status 1 Available
echo ${id} says ${now+1m}
"""
    async with FakeCsms() as csms:
        code, out = await _run(tmp_path, text, csms.url)
        assert code == 0, out
        assert csms.payloads("CP-V1", "StartTransaction")[0]["idTag"].startswith("CARD-")
    assert "CP-V2 says 20" in out


async def test_reservation_expectations(tmp_path: Path) -> None:
    text = """\
charger CP-RES
expect status 1 Available
"""
    async with FakeCsms() as csms:
        path = tmp_path / "r.scn"
        path.write_text(text + "wait 1.5\nexpect status 1 Reserved\nexpect reservation 1 expired "
                        "within 4\nexpect status 1 Available\n")

        async def reserve() -> None:
            await csms.until(lambda: "CP-RES" in csms.connections)
            await asyncio.sleep(0.5)
            await csms.call("CP-RES", "ReserveNow", {
                "connectorId": 1, "idTag": "ABC", "reservationId": 3,
                "expiryDate": _seconds_from_now(3)})

        task = asyncio.get_running_loop().create_task(reserve())
        code = await run_file(path, Settings(url=csms.url))
        await task
    assert code == 0


def _seconds_from_now(seconds: float) -> str:
    from datetime import UTC, datetime, timedelta

    from simulators.protocol import format_time

    return format_time(datetime.now(UTC) + timedelta(seconds=seconds))


@pytest.mark.parametrize(("text", "message"), [
    ("fly 1\n", "line 1: unknown command 'fly'"),
    ("charger X\n\n# c\nexpect status one Reserved\n", "line 4: usage: expect status N STATUS"),
    ("expect sent\n", "line 1: usage: expect sent ACTION"),
    ("check battery\n", "line 1: usage: check status"),
    ("plug\n", "line 1: usage: plug N"),
])
def test_syntax_errors_name_the_line_before_anything_runs(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.scn"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load(path)


def test_comments_do_not_eat_json(tmp_path: Path) -> None:
    path = tmp_path / "c.scn"
    path.write_text('http POST /x {"a":"#1"} expect 200   # a comment\n')
    assert load(path)[0].text == 'http POST /x {"a":"#1"} expect 200'


def test_expectation_parsing() -> None:
    assert parse_expectation("status 1 Reserved within 3").within == 3
    assert parse_expectation("no sent StartTransaction").negative
    with pytest.raises(ValueError):
        parse_expectation("status 1 Reserved within soon")


async def test_the_command_line_exit_codes(tmp_path: Path) -> None:
    good, bad, broken = tmp_path / "good.scn", tmp_path / "bad.scn", tmp_path / "broken.scn"
    good.write_text("charger CP-CLI\nexpect booted\n")
    bad.write_text("charger CP-CLI2\nexpect status 1 Faulted within 0.2\n")
    broken.write_text("charger\n")
    async with FakeCsms() as csms:
        results = []
        for path in (good, bad, broken):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "simulators", "scenario", str(path), "--url", csms.url,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await asyncio.wait_for(process.communicate(), 30)
            results.append((process.returncode, out.decode(), err.decode()))
    assert results[0][0] == 0 and "PASSED good.scn" in results[0][1]
    assert results[1][0] == 1 and "FAILED bad.scn line 2" in results[1][2]
    assert results[2][0] == 2 and "line 1: charger needs an id" in results[2][2]
