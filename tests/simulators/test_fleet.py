"""``csms-sim fleet``: many chargers in one process, against a fake CSMS."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

from simulators.charge_point import Backoff
from simulators.fleet import Fleet, FleetOptions, read_key_file
from tests.simulators.fake_csms import FakeCsms


async def test_a_small_fleet_boots_heartbeats_and_charges() -> None:
    async with FakeCsms(interval=1) as csms:
        options = FleetOptions(url=csms.url, count=40, prefix="F-", ramp=0, duration=2.5,
                               sessions_per_hour=3600 * 4, session_minutes=(0.01, 0.02),
                               id_tags=[f"TAG-{n}" for n in range(100)],
                               progress_interval=0.5, backoff=Backoff(0.05, 0.5))
        progress = io.StringIO()
        summary = await Fleet(options, progress).run()
    assert summary.chargers == 40 and summary.booted == 40 and summary.never_booted == 0
    assert summary.connect_failures == 0 and summary.call_errors == 0
    assert summary.sessions_started > 0 and summary.sessions_charged > 0
    assert summary.boot_seconds["p50"] > 0
    assert summary.call_latency_ms["p95"] < 1000
    ids = {cp_id for cp_id, _ in csms.handshakes}
    assert ids == {f"F-{n:05d}" for n in range(1, 41)}
    assert sum(csms.actions(cp_id).count("Heartbeat") for cp_id in ids) >= 40
    assert "connected 40  booted 40" in progress.getvalue()
    assert "StartTransaction" in {call.action for _, call, _ in csms.calls}
    text = summary.to_text()
    assert "40 booted" in text and "KB/charger" in text


async def test_the_ramp_spreads_the_boot_storm() -> None:
    async with FakeCsms() as csms:
        options = FleetOptions(url=csms.url, count=10, ramp=20, duration=0.1,
                               progress_interval=10)
        summary = await Fleet(options, io.StringIO()).run()
    times = sorted(at for _, call, at in csms.calls if call.action == "BootNotification")
    assert summary.booted == 10
    assert (times[-1] - times[0]).total_seconds() >= 0.35  # 10 chargers at 20/s


async def test_keys_from_a_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# per charger, then one for the rest\nK-00001 aaaaaaaaaaaaaaaa1\n"
                        "K-00002,bbbbbbbbbbbbbbbb2\ncccccccccccccccc3\n")
    keys, default = read_key_file(key_file)
    assert keys == {"K-00001": "aaaaaaaaaaaaaaaa1", "K-00002": "bbbbbbbbbbbbbbbb2"}
    assert default == "cccccccccccccccc3"
    wanted = {"K-00001": "aaaaaaaaaaaaaaaa1", "K-00002": "bbbbbbbbbbbbbbbb2",
              "K-00003": "cccccccccccccccc3"}
    async with FakeCsms(keys=wanted) as csms:
        options = FleetOptions(url=csms.url, count=3, prefix="K-", keys=keys,
                               default_key=default, ramp=0, duration=0.3)
        summary = await Fleet(options, io.StringIO()).run()
    assert summary.booted == 3 and summary.connect_failures == 0


async def test_refused_chargers_are_counted_and_fail_the_run() -> None:
    async with FakeCsms(keys={}) as csms:
        options = FleetOptions(url=csms.url, count=3, ramp=0, duration=0.5,
                               backoff=Backoff(0.05, 0.1))
        summary = await Fleet(options, io.StringIO()).run()
    assert summary.never_booted == 3
    assert summary.failure_reasons.get("HTTP 401", 0) >= 3


async def test_the_command_line_prints_a_json_summary() -> None:
    async with FakeCsms() as csms:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simulators", "fleet", "--url", csms.url, "--count", "5",
            "--ramp", "0", "--duration", "0.5", "--json", stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["booted"] == 5
    assert "booted 5" in err.decode()  # the progress line went to stderr


async def test_one_task_per_charger_none_per_connector_and_no_history() -> None:
    from simulators import SimulatedChargePoint

    async with FakeCsms(interval=1) as csms:
        chargers = [SimulatedChargePoint(csms.url, f"T-{n}", connectors=8, record_events=False,
                                         backoff=Backoff(0.05, 0.5)) for n in range(20)]
        for cp in chargers:
            await cp.start()
        for cp in chargers:
            await cp.plug(1)
            await cp.tap(1, "TAG")
        await asyncio.sleep(1.2)  # heartbeats and meter values come and go
        ours = [task for task in asyncio.all_tasks()
                if task.get_coro().__qualname__.startswith("SimulatedChargePoint.")]  # type: ignore[union-attr]
        assert len([t for t in ours if not t.done()]) <= len(chargers) + 2  # readers (+ a flush)
        assert all(cp.history == [] for cp in chargers)
        assert all(cp.model.events == [] for cp in chargers)
        for cp in chargers:
            await cp.close()
