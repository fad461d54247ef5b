"""Field-charger quirks: authorize-before-answer, drop-reservation-on-remote-start,
meter-reset-on-reboot (with the power-loss ``reboot``), whole-second-timestamps.

Each is shown on (the deviation) and off (the faithful charger): pure on the fake clock, and over
a real WebSocket where the order on the wire matters.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulators import EventKind, SimulatedChargePoint
from simulators.charge_point import Backoff
from simulators.commands import Command, execute, parse
from simulators.protocol import Call, CallResult, format_time
from tests.simulators.fake_csms import FakeCsms
from tests.simulators.helpers import is_status, sent
from tests.simulators.sim_bench import Bench

FAST = Backoff(0.05, 0.3)
RESERVE = ('[2,"r1","ReserveNow",{"connectorId":1,"idTag":"123456","reservationId":7,'
           '"expiryDate":"2030-01-01T00:00:00Z"}]')


def _wire(bench: Bench, since: int = 0) -> list[str]:
    """What the charger put on the wire: CALL actions, and ``=ReserveNow`` for that answer."""
    names = []
    for frame in bench.frames[since:]:
        if isinstance(frame, Call):
            names.append(frame.action)
        else:
            names.append(f"={frame.message_id}")
    return names


# ---- authorize-before-answer -------------------------------------------------------------


def test_authorize_before_answer_sends_authorize_then_the_answer() -> None:
    bench = Bench(quirks=["authorize-before-answer"])
    before = len(bench.frames)
    bench.session.receive(RESERVE, bench.now)
    bench.pump()  # the bench answers the Authorize at once
    assert _wire(bench, before) == ["Authorize", "=r1", "StatusNotification"]
    assert bench.calls("Authorize") == [{"idTag": "123456"}]
    assert bench.frames[before + 1].payload == {"status": "Accepted"}  # type: ignore[union-attr]
    assert bench.status(1) == "Reserved"  # learning only: nothing starts
    assert bench.calls("StartTransaction") == []


def test_authorize_before_answer_waits_for_the_authorize_result() -> None:
    bench = Bench(quirks=["authorize-before-answer"])
    bench.auto = False
    before = len(bench.frames)
    bench.session.receive(RESERVE, bench.now)
    bench.pump()
    assert _wire(bench, before) == ["Authorize"]  # the answer is held back
    bench.advance(1)
    assert _wire(bench, before) == ["Authorize"]
    bench.reply({"idTagInfo": {"status": "Accepted", "parentIdTag": "FAMILY"}})
    assert _wire(bench, before)[:2] == ["Authorize", "=r1"]
    assert bench.model.auth.parent_of("123456") == "FAMILY"  # learnt before answering


def test_authorize_before_answer_does_not_wait_forever() -> None:
    bench = Bench(quirks=["authorize-before-answer"], heartbeat=3600)
    bench.auto = False
    before = len(bench.frames)
    bench.session.receive(RESERVE, bench.now)
    bench.pump()
    bench.advance(2.9)
    assert _wire(bench, before) == ["Authorize"]
    bench.advance(0.2)  # ANSWER_HOLD_SECONDS = 3
    assert _wire(bench, before) == ["Authorize", "=r1"]
    assert any("without waiting any longer" in text for text in bench.texts())
    bench.reply()  # the late Authorize result is still taken
    assert _wire(bench, before) == ["Authorize", "=r1", "StatusNotification"]


def test_authorize_before_answer_with_reserved_before_answer() -> None:
    bench = Bench(quirks=["authorize-before-answer", "reserved-before-answer"])
    before = len(bench.frames)
    bench.session.receive(RESERVE, bench.now)
    bench.pump()
    assert _wire(bench, before) == ["Authorize", "StatusNotification", "=r1"]


def test_without_the_quirk_no_authorize_and_the_answer_comes_first() -> None:
    bench = Bench()
    before = len(bench.frames)
    bench.session.receive(RESERVE, bench.now)
    bench.pump()
    assert _wire(bench, before) == ["=r1", "StatusNotification"]


def test_authorize_before_answer_only_for_accepted_reservations() -> None:
    bench = Bench(quirks=["authorize-before-answer"])
    bench.plug(1)
    assert bench.reserve(1, "123456") == "Occupied"
    assert bench.calls("Authorize") == []


async def test_authorize_before_answer_on_the_wire() -> None:
    async with (FakeCsms() as csms,
                SimulatedChargePoint(csms.url, "CP-ABA", connectors=1, backoff=FAST,
                                     strict=True, quirks=["authorize-before-answer"]) as cp):
        await csms.until(lambda: csms.actions("CP-ABA").count("StatusNotification") == 2)
        answer = await csms.call("CP-ABA", "ReserveNow", {
            "connectorId": 1, "idTag": "123456", "reservationId": 7,
            "expiryDate": format_time(datetime.now(UTC) + timedelta(minutes=30))})
        assert isinstance(answer, CallResult) and answer.payload == {"status": "Accepted"}
        # By the time the answer arrived, the Authorize had come and been answered.
        assert csms.payloads("CP-ABA", "Authorize") == [{"idTag": "123456"}]
        kinds = [(e.kind, e.action) for e in cp.history
                 if e.kind in (EventKind.SENT, EventKind.RESULT, EventKind.ANSWERED)
                 and e.action in ("Authorize", "ReserveNow")]
        assert kinds == [(EventKind.SENT, "Authorize"), (EventKind.RESULT, "Authorize"),
                         (EventKind.ANSWERED, "ReserveNow")]
        await cp.wait_for(is_status(1, "Reserved"))


# ---- drop-reservation-on-remote-start ----------------------------------------------------


def _remote_start(bench: Bench, tag: str, connector: int | None = 1) -> str:
    payload: dict[str, Any] = {"idTag": tag}
    if connector is not None:
        payload["connectorId"] = connector
    return str(bench.ask("RemoteStartTransaction", payload)["status"])


@pytest.mark.parametrize(("connectors", "connector_id"), [(2, 1), (1, None), (2, None)])
def test_drop_reservation_on_remote_start(connectors: int, connector_id: int | None) -> None:
    bench = Bench(connectors=connectors, quirks=["drop-reservation-on-remote-start"])
    bench.reserve(1, "123456", reservation_id=7)
    before = len(bench.frames)
    assert _remote_start(bench, "OTHER", connector_id) == "Accepted"
    assert bench.model.all_reservations() == []
    assert bench.statuses(1) == ["Available", "Reserved", "Available", "Preparing"]
    assert bench.actions()[-2:] == ["StatusNotification"] * 2  # nothing else
    assert len(bench.frames) - before == 3  # the answer and the two statuses
    assert "connector 1: reservation 7 dropped for a remote start of OTHER (quirk)" in (
        bench.texts())
    bench.plug(1)
    start = bench.calls("StartTransaction")[0]
    assert start["idTag"] == "OTHER" and "reservationId" not in start
    assert bench.status(1) == "Charging"


def test_drop_reservation_with_the_car_already_plugged() -> None:
    bench = Bench(connectors=1, quirks=["drop-reservation-on-remote-start"])
    bench.reserve(1, "123456")
    bench.plug(1)
    assert bench.status(1) == "Reserved"
    assert _remote_start(bench, "OTHER") == "Accepted"
    assert bench.statuses(1) == ["Available", "Reserved", "Preparing", "Charging"]
    assert bench.calls("StartTransaction")[0]["idTag"] == "OTHER"


def test_drop_reservation_keeps_a_reservation_for_the_same_idtag() -> None:
    bench = Bench(quirks=["drop-reservation-on-remote-start"])
    bench.reserve(1, "123456", reservation_id=7)
    assert _remote_start(bench, "123456", None) == "Accepted"
    bench.plug(1)
    assert bench.calls("StartTransaction")[0]["reservationId"] == 7
    assert bench.statuses(1) == ["Available", "Reserved", "Preparing", "Charging"]


def test_drop_reservation_then_authorize_remote_tx_requests() -> None:
    bench = Bench(quirks=["drop-reservation-on-remote-start"],
                  config={"AuthorizeRemoteTxRequests": "true"})
    bench.reserve(1, "123456")
    assert _remote_start(bench, "OTHER") == "Accepted"
    assert bench.calls("Authorize") == [{"idTag": "OTHER"}]
    assert bench.statuses(1) == ["Available", "Reserved", "Available", "Preparing"]


def test_without_the_quirk_a_remote_start_for_another_idtag_is_rejected() -> None:
    bench = Bench()
    bench.reserve(1, "123456")
    assert _remote_start(bench, "OTHER") == "Rejected"
    assert bench.status(1) == "Reserved"
    assert len(bench.model.all_reservations()) == 1
    assert bench.statuses(1) == ["Available", "Reserved"]


# ---- power loss (reboot) and meter-reset-on-reboot -----------------------------------------


def _charge_then_lose_power(bench: Bench) -> int:
    """Charge on connector 1 for 100 s, reserve connector 2, lose power, come back online."""
    bench.plug(1)
    bench.tap(1, "TAG")
    bench.advance(100)
    bench.reserve(2, "123456")
    meter = bench.model.connectors[1].meter
    bench.session.power_loss(bench.now)
    bench.connect()
    return meter


@pytest.mark.parametrize(("quirks", "meter_after"), [([], "same"), (["meter-reset-on-reboot"], 0)])
def test_power_loss_forgets_the_transaction(quirks: list[str], meter_after: object) -> None:
    bench = Bench(quirks=quirks, power_kw=36, config={"MeterValueSampleInterval": "0"})
    before = len(bench.frames)
    meter = _charge_then_lose_power(bench)
    assert meter == 1000
    reboot = bench.actions()[len(bench.actions()) - 5:]
    assert reboot == (["BootNotification"] + ["StatusNotification"] * 3  # connectors 0, 1, 2
                      + ["SecurityEventNotification"])  # ResetOrReboot (power loss)
    assert bench.calls("StopTransaction") == []  # never, not even later
    assert bench.model.all_reservations() == []
    assert bench.statuses(2)[-1] == "Available"  # the reservation is gone
    assert bench.status(1) == "Preparing"  # the car is still plugged in
    assert len(bench.frames) > before
    bench.tap(1, "TAG")  # the driver types the code again: a new transaction
    starts = bench.calls("StartTransaction")
    assert len(starts) == 2
    assert starts[1]["meterStart"] == (meter if meter_after == "same" else 0)
    bench.advance(10)
    bench.stop(1)
    assert bench.calls("StopTransaction")[0]["transactionId"] == 101  # the new one only


def test_reset_keeps_the_meter_without_the_quirk_and_zeroes_it_with() -> None:
    for quirks, expected in (([], 1000), (["meter-reset-on-reboot"], 0)):
        bench = Bench(quirks=quirks, power_kw=36)
        bench.plug(1)
        bench.tap(1, "TAG")
        bench.advance(100)
        bench.ask("Reset", {"type": "Soft"})
        assert bench.calls("StopTransaction")[0]["meterStop"] == 1000
        bench.disconnect()
        bench.model.reboot(bench.now)
        bench.connect()
        bench.tap(1, "TAG")
        assert bench.calls("StartTransaction")[1]["meterStart"] == expected


def test_a_transaction_message_on_the_wire_when_the_power_goes_is_sent_again() -> None:
    bench = Bench()
    bench.plug(1)
    bench.auto = False
    bench.tap(1, "TAG")
    bench.reply()  # the Authorize
    assert bench.pending is not None and bench.pending.action == "StartTransaction"
    bench.session.power_loss(bench.now)
    bench.auto = True
    bench.connect()
    assert bench.actions().count("StartTransaction") == 2  # stored, delivered after the boot
    assert bench.calls("StopTransaction") == []


async def test_reboot_is_a_command() -> None:
    assert parse("reboot") == Command("reboot")
    async with (FakeCsms() as csms,
                SimulatedChargePoint(csms.url, "CP-RC", connectors=1, backoff=FAST) as cp):
        assert await execute(cp, parse("reboot")) is None  # returns at once
        await cp.wait_for(lambda e: e.kind is EventKind.BOOT and e.status == "Accepted")
        assert csms.actions("CP-RC").count("BootNotification") == 2


async def test_reboot_on_the_wire() -> None:
    async with (FakeCsms() as csms,
                SimulatedChargePoint(csms.url, "CP-PL", connectors=1, backoff=FAST,
                                     strict=True, quirks=["meter-reset-on-reboot"]) as cp):
        await cp.plug(1)
        await cp.tap(1, "TAG")
        await csms.until(lambda: {"status": "Charging"}.items() <= _last_status(csms).items())
        cp.model.connectors[1].energy_wh = 5000.0
        await cp.reboot()
        assert cp.connects == 2
        await csms.until(lambda: csms.actions("CP-PL").count("StatusNotification") >= 6)
        tail = csms.actions("CP-PL")[-3:]
        assert tail == ["BootNotification", "StatusNotification", "StatusNotification"]
        assert _last_status(csms)["status"] == "Preparing"  # the car is still plugged in
        assert csms.payloads("CP-PL", "StopTransaction") == []
        await cp.tap(1, "TAG")
        start = await cp.wait_for(sent("StartTransaction"))
        assert start.payload is not None and start.payload["meterStart"] == 0
        await cp.stop(1)
        await cp.wait_for(sent("StopTransaction"))
    stops = csms.payloads("CP-PL", "StopTransaction")
    assert [s["transactionId"] for s in stops] == [501]  # the lost 500 never stops


def _last_status(csms: FakeCsms) -> dict[str, Any]:
    statuses = csms.payloads("CP-PL", "StatusNotification")
    return statuses[-1] if statuses else {}


# ---- whole-second-timestamps -------------------------------------------------------------

WHOLE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _timestamps(bench: Bench) -> list[str]:
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "timestamp":
                    found.append(str(item))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for frame in bench.frames:
        if isinstance(frame, Call):
            walk(frame.payload)
    return found


def _session_with_fractions(quirks: list[str]) -> Bench:
    bench = Bench(quirks=quirks, config={"MeterValueSampleInterval": "10"}, heartbeat=3600)
    bench.advance(0.25)
    bench.plug(1)
    bench.tap(1, "TAG")
    bench.advance(10.5)
    bench.ask("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1})
    bench.stop(1)
    return bench


def test_whole_second_timestamps() -> None:
    bench = _session_with_fractions(["whole-second-timestamps"])
    stamps = _timestamps(bench)
    # Status x3 at boot, Preparing, Start, Charging, MeterValues, triggered status, Stop (+2
    # transactionData), Finishing.
    assert len(stamps) >= 11
    assert all(WHOLE.match(stamp) for stamp in stamps), stamps
    start = bench.calls("StartTransaction")[0]
    assert start["timestamp"] == "2026-03-01T10:00:00Z"  # 10:00:00.250 truncated
    assert bench.calls("StopTransaction")[0]["timestamp"] == "2026-03-01T10:00:10Z"
    assert bench.calls("MeterValues")[0]["meterValue"][0]["timestamp"] == "2026-03-01T10:00:10Z"


def test_without_the_quirk_timestamps_keep_milliseconds() -> None:
    bench = _session_with_fractions([])
    assert bench.calls("StartTransaction")[0]["timestamp"] == "2026-03-01T10:00:00.250Z"
    assert bench.calls("StopTransaction")[0]["timestamp"] == "2026-03-01T10:00:10.750Z"
    assert not any(WHOLE.match(stamp) for stamp in _timestamps(bench))


def test_format_time_whole_seconds() -> None:
    moment = Bench().now + timedelta(seconds=5, milliseconds=999)
    assert format_time(moment, whole_seconds=True) == "2026-03-01T10:00:05Z"
    assert format_time(moment) == "2026-03-01T10:00:05.999Z"
