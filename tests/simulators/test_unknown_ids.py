"""Chargers the CSMS does not know (HTTP 404) and fleets that never boot: bounded, then a clear
exit status — while a known charger still reconnects after a drop, for as long as it runs."""

from __future__ import annotations

import asyncio
import io
import sys
import time

import pytest

from simulators.charge_point import Backoff, GaveUp, SimulatedChargePoint
from simulators.fleet import Fleet, FleetOptions
from tests.conftest import CsmsProcess, free_port
from tests.simulators.fake_csms import FakeCsms
from tests.simulators.helpers import unique

FAST = Backoff(0.05, 0.2)


async def _sim(*args: str, timeout: float = 30.0) -> tuple[int, str, str]:
    """``csms-sim ARGS`` with nothing on stdin: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators", *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"csms-sim {' '.join(args)} still running after {timeout} s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_an_unknown_id_is_given_up_after_three_404s_a_dropped_one_reconnects() -> None:
    async with FakeCsms(known={"KNOWN-1"}) as csms:
        stranger = SimulatedChargePoint(csms.url, "STRANGER-1", backoff=FAST)
        with pytest.raises(GaveUp, match=r"does not know charger 'STRANGER-1' \(HTTP 404"):
            await stranger.start(timeout=10.0)
        await asyncio.sleep(4 * FAST.high)  # longer than any backoff: no attempt follows
        await stranger.close()
        assert [cp_id for cp_id, _ in csms.handshakes].count("STRANGER-1") == 3
        assert stranger.gave_up is not None

        async with SimulatedChargePoint(csms.url, "KNOWN-1", backoff=FAST) as known:
            csms.drop("KNOWN-1")
            await csms.until(lambda: len(csms.peers) == 2)
            await known.wait_booted(5.0)
            assert known.gave_up is None and known.connects == 2


async def test_run_exits_1_with_one_line_for_an_id_csms_does_not_know(csms: CsmsProcess) -> None:
    who = unique("NOBODY")
    began = time.monotonic()
    status, out, err = await _sim("run", "--url", csms.ocpp_url, "--id", who,
                                  "--backoff-max", "0.2")
    assert status == 1, (out, err)
    assert time.monotonic() - began < 20
    assert err.strip().splitlines() == [
        f"csms-sim: {who} will not boot: the CSMS does not know charger {who!r} (HTTP 404 from "
        f"{csms.ocpp_url}/{who}, 3 times); register it there first"]
    assert out.count("connection failed: HTTP 404") == 3


async def test_fleet_with_nothing_listening_exits_1_at_its_boot_deadline() -> None:
    url = f"ws://127.0.0.1:{free_port()}/ocpp"
    began = time.monotonic()
    status, out, err = await _sim("fleet", "--url", url, "--count", "2", "--ramp", "0",
                                  "--boot-timeout", "1")
    assert status == 1, (out, err)
    assert time.monotonic() - began < 20
    assert "2 of 2 chargers not booted 1 s after the ramp: stopping" in err
    assert err.strip().splitlines()[-1].startswith("csms-sim: 2 of 2 chargers never booted (")
    assert "(0 booted" in out


async def test_fleet_of_unknown_ids_stops_once_they_gave_up_and_counts_them() -> None:
    async with FakeCsms(known={"F-00001"}) as csms:
        options = FleetOptions(url=csms.url, count=3, prefix="F-", ramp=0, boot_timeout=60.0,
                               progress_interval=10, backoff=FAST)
        progress = io.StringIO()
        began = time.monotonic()
        summary = await asyncio.wait_for(Fleet(options, progress).run(), 20)
    assert time.monotonic() - began < 10  # not the 60 s deadline: both unknown ids gave up
    assert (summary.booted, summary.never_booted) == (1, 2)
    assert summary.failure_reasons == {"HTTP 404": 6}
    assert summary.never_booted_line() == "2 of 3 chargers never booted (HTTP 404: 6)"
    assert "2 of 3 chargers gave up (ids unknown to the CSMS): stopping" in progress.getvalue()


async def test_fleet_of_known_ids_runs_past_its_boot_deadline() -> None:
    async with FakeCsms() as csms:
        options = FleetOptions(url=csms.url, count=2, ramp=0, duration=1.0, boot_timeout=0.3,
                               progress_interval=10, backoff=FAST)
        began = time.monotonic()
        summary = await Fleet(options, io.StringIO()).run()
    assert summary.never_booted == 0 and time.monotonic() - began >= 1.0
