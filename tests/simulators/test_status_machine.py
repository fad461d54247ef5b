"""The connector status machine (S 4.9) and the driver's actions — pure, fake clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from simulators.connector import derive_status
from tests.simulators.sim_bench import Bench


def test_boot_then_a_status_notification_for_every_connector_including_zero() -> None:
    bench = Bench(connectors=3)
    assert bench.actions() == (["BootNotification"] + ["StatusNotification"] * 4
                               + ["SecurityEventNotification"])  # StartupOfTheDevice (SEC)
    assert [p["connectorId"] for p in bench.calls("StatusNotification")] == [0, 1, 2, 3]
    assert all(p["status"] == "Available" for p in bench.calls("StatusNotification"))
    assert bench.model.config.get_int("HeartbeatInterval") == 60


def test_a_whole_charging_session_walks_the_table() -> None:
    bench = Bench()
    bench.plug(1)
    bench.tap(1, "TAG-1")
    bench.advance(10)
    bench.stop(1)
    bench.unplug(1)
    assert bench.statuses(1) == ["Available", "Preparing", "Charging", "Finishing", "Available"]
    assert bench.actions()[5:] == [  # after the boot's statuses and StartupOfTheDevice
        "StatusNotification",
        "Authorize",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "StatusNotification",
        "StatusNotification",
    ]


def test_card_first_then_plug() -> None:
    bench = Bench()
    bench.tap(1, "TAG-1")
    assert bench.status(1) == "Preparing"
    assert bench.calls("StartTransaction") == []
    bench.plug(1)
    assert bench.status(1) == "Charging"
    assert bench.calls("StartTransaction")[0]["idTag"] == "TAG-1"


def test_no_plug_within_connection_timeout_returns_to_available() -> None:
    bench = Bench(config={"ConnectionTimeOut": "30"})
    bench.tap(1, "TAG-1")
    bench.advance(29)
    assert bench.status(1) == "Preparing"
    bench.advance(2)
    assert bench.status(1) == "Available"
    assert bench.calls("StartTransaction") == []


def test_refused_card_leaves_the_connector_alone() -> None:
    bench = Bench()
    bench.tags["BAD"] = {"status": "Blocked"}
    bench.plug(1)
    bench.tap(1, "BAD")
    assert bench.status(1) == "Preparing"
    assert bench.calls("StartTransaction") == []
    assert any("refused BAD (idTag Blocked)" in text for text in bench.texts())


def test_the_same_card_stops_and_another_card_does_not() -> None:
    bench = Bench()
    bench.plug(1)
    bench.tap(1, "TAG-1")
    bench.tap(1, "TAG-2")
    assert bench.status(1) == "Charging"
    bench.tap(1, "tag-1")  # idTags are case-insensitive
    assert bench.status(1) == "Finishing"
    assert bench.calls("StopTransaction")[0]["reason"] == "Local"


def test_unplugging_stops_with_ev_disconnected() -> None:
    bench = Bench()
    bench.plug(1)
    bench.tap(1, "TAG-1")
    bench.unplug(1)
    assert bench.calls("StopTransaction")[0]["reason"] == "EVDisconnected"
    assert bench.statuses(1)[-1] == "Available"


def test_unplugging_without_stop_on_ev_side_disconnect_suspends() -> None:
    bench = Bench(config={"StopTransactionOnEVSideDisconnect": "false"})
    bench.plug(1)
    bench.tap(1, "TAG-1")
    bench.unplug(1)
    assert bench.status(1) == "SuspendedEV"
    bench.plug(1)
    assert bench.status(1) == "Charging"
    assert bench.calls("StopTransaction") == []


def test_the_car_pausing_is_suspended_ev_and_stops_the_meter() -> None:
    bench = Bench()
    bench.plug(1)
    bench.tap(1, "TAG-1")
    bench.advance(100)
    bench.model.suspend(1, bench.now)
    bench.pump()
    meter = bench.model.connectors[1].meter
    bench.advance(100)
    assert bench.status(1) == "SuspendedEV"
    assert bench.model.connectors[1].meter == meter
    bench.model.suspend(1, bench.now, suspended=False)
    bench.pump()
    assert bench.status(1) == "Charging"


def test_fault_stops_the_transaction_and_clear_recovers() -> None:
    bench = Bench()
    bench.plug(1)
    bench.tap(1, "TAG-1")
    bench.fault(1)
    assert bench.status(1) == "Faulted"
    assert bench.calls("StopTransaction")[0]["reason"] == "Other"
    faulted = bench.calls("StatusNotification")[-1]
    assert faulted["errorCode"] == "OtherError"
    bench.tap(1, "TAG-2")
    assert len(bench.calls("Authorize")) == 1  # refused locally, no Authorize
    bench.clear(1)
    assert bench.status(1) == "Finishing"  # the transaction ended, the cable is still in
    bench.unplug(1)
    assert bench.status(1) == "Available"


def test_connector_zero_can_fault() -> None:
    bench = Bench()
    bench.fault(0)
    assert bench.statuses(0) == ["Available", "Faulted"]
    bench.clear(0)
    assert bench.statuses(0)[-1] == "Available"


def test_unknown_connectors_are_refused() -> None:
    bench = Bench(connectors=2)
    with pytest.raises(ValueError):
        bench.plug(3)
    with pytest.raises(ValueError):
        bench.tap(0, "X")
    with pytest.raises(ValueError):
        bench.model.fault(1, bench.now, "NoError")


def test_stop_with_nothing_going_on_is_refused_and_withdraws_a_waiting_driver() -> None:
    bench = Bench()
    bench.stop(1)
    assert "connector 1: refused (nothing to stop)" in bench.texts()
    bench.tap(1, "TAG-1")
    bench.stop(1)
    assert bench.status(1) == "Available"


class DriverMachine(RuleBasedStateMachine):
    """Random driver actions never break the S 4.9 invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.bench = Bench(connectors=2, config={"MeterValueSampleInterval": "5"})
        self.meters = [0, 0, 0]

    connector = st.integers(1, 2)

    @rule(n=connector)
    def plug(self, n: int) -> None:
        self.bench.plug(n)

    @rule(n=connector)
    def unplug(self, n: int) -> None:
        self.bench.unplug(n)

    @rule(n=connector, tag=st.sampled_from(["A", "B", "BAD"]))
    def tap(self, n: int, tag: str) -> None:
        self.bench.tags["BAD"] = {"status": "Invalid"}
        self.bench.tap(n, tag)

    @rule(n=connector)
    def stop(self, n: int) -> None:
        self.bench.stop(n)

    @rule(n=connector)
    def fault(self, n: int) -> None:
        self.bench.fault(n)

    @rule(n=connector)
    def clear(self, n: int) -> None:
        self.bench.clear(n)

    @rule(seconds=st.integers(0, 120))
    def wait(self, seconds: int) -> None:
        self.bench.advance(seconds)

    @invariant()
    def every_change_is_reported_and_consistent(self) -> None:
        for connector in self.bench.model.connectors:
            assert connector.status is derive_status(connector)
            reported = self.bench.statuses(connector.connector_id)
            assert reported[-1] == connector.status
            assert all(a != b for a, b in itertools.pairwise(reported))
            if connector.status in ("Charging", "SuspendedEV", "SuspendedEVSE"):
                assert connector.transaction is not None
            if connector.transaction is not None:
                assert connector.status in ("Charging", "SuspendedEV", "SuspendedEVSE")

    @invariant()
    def meters_only_go_up(self) -> None:
        for connector in self.bench.model.connectors[1:]:
            assert connector.meter >= self.meters[connector.connector_id]
            self.meters[connector.connector_id] = connector.meter

    @invariant()
    def transactions_pair_up(self) -> None:
        starts = len(self.bench.calls("StartTransaction"))
        stops = len(self.bench.calls("StopTransaction"))
        running = sum(c.transaction is not None for c in self.bench.model.connectors)
        assert starts == stops + running
        assert self.bench.pending is None  # one CALL at a time, all answered


TestDriverMachine = DriverMachine.TestCase
TestDriverMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
