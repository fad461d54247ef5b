"""Transactions, meter values, the offline queue and heartbeats (S 4.2, 4.6-4.10) — pure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.protocol import format_time, parse_time
from tests.simulators.sim_bench import T0, Bench


def _energy(meter_values: dict[str, Any]) -> int:
    values = meter_values["meterValue"][0]["sampledValue"]
    return next(int(v["value"]) for v in values
                if v["measurand"] == "Energy.Active.Import.Register")


def test_meter_values_every_sample_interval_with_energy_growing_with_power() -> None:
    bench = Bench(config={"MeterValueSampleInterval": "10"}, heartbeat=3600, power_kw=36)
    bench.plug(1)
    bench.tap(1, "TAG")
    bench.advance(35)
    samples = bench.calls("MeterValues")
    assert [parse_time(s["meterValue"][0]["timestamp"]) for s in samples] == [
        T0 + timedelta(seconds=10 * k) for k in (1, 2, 3)]
    assert [_energy(s) for s in samples] == [100, 200, 300]  # 36 kW = 10 Wh/s
    assert all(s["transactionId"] == 100 for s in samples)
    bench.stop(1)
    stop = bench.calls("StopTransaction")[0]
    assert stop["meterStop"] == 350
    begin, end = stop["transactionData"]
    assert begin["sampledValue"][0]["context"] == "Transaction.Begin"
    assert end["sampledValue"][0] == {"value": "350", "context": "Transaction.End",
                                      "measurand": "Energy.Active.Import.Register",
                                      "location": "Outlet", "unit": "Wh"}


def test_no_samples_with_interval_zero() -> None:
    bench = Bench(config={"MeterValueSampleInterval": "0"}, heartbeat=3600)
    bench.plug(1)
    bench.tap(1, "TAG")
    bench.advance(600)
    assert bench.calls("MeterValues") == []


def test_meters_start_where_the_last_transaction_ended() -> None:
    bench = Bench(power_kw=3.6)
    bench.plug(1)
    bench.tap(1, "TAG")
    bench.advance(1000)
    bench.stop(1)
    bench.tap(1, "TAG")
    assert bench.calls("StartTransaction")[1]["meterStart"] == 1000


def test_start_transaction_not_accepted_stops_with_deauthorized() -> None:
    bench = Bench()
    bench.start_info["TAG"] = {"status": "Invalid"}
    bench.plug(1)
    bench.tap(1, "TAG")
    stop = bench.calls("StopTransaction")[0]
    assert stop["reason"] == "DeAuthorized" and stop["transactionId"] == 100
    assert bench.status(1) == "Finishing"


def test_start_transaction_not_accepted_suspends_without_stop_on_invalid_id() -> None:
    bench = Bench(config={"StopTransactionOnInvalidId": "false"})
    bench.start_info["TAG"] = {"status": "Blocked"}
    bench.plug(1)
    bench.tap(1, "TAG")
    assert bench.calls("StopTransaction") == []
    assert bench.status(1) == "SuspendedEVSE"


def test_offline_transaction_messages_are_delivered_in_order_with_their_times() -> None:
    bench = Bench(config={"MeterValueSampleInterval": "30", "LocalAuthorizeOffline": "true"},
                  heartbeat=3600)
    bench.plug(1)
    bench.tap(1, "TAG")  # caches TAG as Accepted
    bench.stop(1)
    bench.disconnect()
    offline_at = bench.now
    bench.tap(1, "TAG")  # from the cache while offline
    bench.advance(65)
    bench.stop(1)
    bench.unplug(1)
    assert bench.pending is None
    sent_before = len(bench.frames)
    bench.advance(600)
    assert len(bench.frames) == sent_before  # nothing goes out while offline
    bench.connect()
    delivered = [f for f in bench.frames[sent_before:] if getattr(f, "action", "") in (
        "StartTransaction", "MeterValues", "StopTransaction")]
    assert [f.action for f in delivered] == [  # type: ignore[union-attr]
        "StartTransaction", "MeterValues", "MeterValues", "StopTransaction"]
    start, first, _second, stop = (f.payload for f in delivered)  # type: ignore[union-attr]
    assert start["timestamp"] == format_time(offline_at)
    assert first["meterValue"][0]["timestamp"] == format_time(offline_at + timedelta(seconds=30))
    assert stop["timestamp"] == format_time(offline_at + timedelta(seconds=65))
    assert first["transactionId"] == stop["transactionId"] == 101  # learnt on reconnect
    assert bench.status(1) == "Available"
    assert bench.statuses(1)[-1] == "Available"  # the changes while offline were reported


def test_status_changes_while_offline_are_reported_on_reconnect_without_boot() -> None:
    bench = Bench()
    bench.disconnect()
    bench.model.fault(2, bench.now)
    bench.connect()
    assert bench.actions().count("BootNotification") == 1
    assert bench.statuses(2) == ["Available", "Faulted"]


def test_transaction_messages_are_retried_after_a_callerror() -> None:
    bench = Bench(config={"TransactionMessageAttempts": "3",
                          "TransactionMessageRetryInterval": "10"}, heartbeat=3600)
    bench.fail_next["StartTransaction"] = "InternalError"
    bench.plug(1)
    bench.tap(1, "TAG")
    assert len(bench.calls("StartTransaction")) == 1
    bench.advance(9)
    assert len(bench.calls("StartTransaction")) == 1
    bench.advance(1)
    assert len(bench.calls("StartTransaction")) == 2
    assert bench.model.connectors[1].transaction.transaction_id == 100  # type: ignore[union-attr]


def test_transaction_messages_are_dropped_after_the_last_attempt() -> None:
    bench = Bench(config={"TransactionMessageAttempts": "1"})
    bench.fail_next["StopTransaction"] = "InternalError"
    bench.plug(1)
    bench.tap(1, "TAG")
    bench.stop(1)
    assert "gave up StopTransaction after 1 attempts" in bench.texts()
    assert not bench.model.outbox


def test_heartbeats_at_the_interval_from_boot() -> None:
    bench = Bench(heartbeat=30)
    bench.advance(95)
    assert len(bench.calls("Heartbeat")) == 3


def test_pending_boot_is_retried_and_nothing_else_goes_out_meanwhile() -> None:
    bench = Bench(online=False, heartbeat=20)
    bench.boot_status = "Pending"
    bench.connect()
    bench.model.plug(1, bench.now)
    bench.pump()
    assert bench.actions() == ["BootNotification"]
    bench.boot_status = "Accepted"
    bench.advance(20)
    assert bench.actions()[:2] == ["BootNotification", "BootNotification"]
    assert bench.statuses(1) == ["Preparing"]


def test_heartbeat_stops_while_offline() -> None:
    bench = Bench(heartbeat=10)
    bench.disconnect()
    bench.advance(100)
    assert bench.calls("Heartbeat") == []
    assert bench.model.next_deadline() is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["plug", "unplug", "tap", "stop", "offline", "online", "wait"]),
                max_size=25))
def test_every_transaction_is_delivered_once_in_order(script: list[str]) -> None:
    bench = Bench(connectors=1, config={"AllowOfflineTxForUnknownId": "true",
                                        "MeterValueSampleInterval": "20"})
    for step in script:
        if step == "offline" and bench.session.connected:
            bench.disconnect()
        elif step == "online" and not bench.session.connected:
            bench.connect()
        elif step == "wait":
            bench.advance(30)
        elif step in ("plug", "unplug", "stop"):
            getattr(bench, step)(1)
        elif step == "tap":
            bench.tap(1, "TAG")
    if not bench.session.connected:
        bench.connect()
    bench.model.stop(1, bench.now)
    bench.pump()
    starts, stops = bench.calls("StartTransaction"), bench.calls("StopTransaction")
    assert len(starts) == len(stops)
    tx_ids = [s["transactionId"] for s in stops]
    assert tx_ids == sorted(set(tx_ids))
    times = [parse_time(p["timestamp"]) for p in starts + stops]
    assert all(t <= bench.now for t in times)
    assert not bench.model.outbox
