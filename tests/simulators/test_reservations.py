"""Reservations (S 5.13, 5.1) and their quirks — pure, fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.protocol import CallError, format_time
from tests.simulators.sim_bench import Bench


def test_reserve_then_the_reserved_code_charges_with_the_reservation_id() -> None:  # OCTT 046
    bench = Bench()
    assert bench.reserve(1, "123456", reservation_id=7) == "Accepted"
    assert bench.status(1) == "Reserved"
    bench.plug(1)
    assert bench.status(1) == "Reserved"  # a car alone does not take a reserved connector
    bench.tap(1, "123456")
    start = bench.calls("StartTransaction")[0]
    assert start["reservationId"] == 7 and start["idTag"] == "123456"
    assert bench.statuses(1) == ["Available", "Reserved", "Preparing", "Charging"]
    assert bench.actions()[-4:] == ["Authorize", "StatusNotification", "StartTransaction",
                                    "StatusNotification"]
    assert bench.model.all_reservations() == []


def test_status_reserved_follows_the_answer_by_default() -> None:
    bench = Bench()
    bench.reserve(1, "123456")
    kinds = [type(f).__name__ + (f.action if hasattr(f, "action") else "")
             for f in bench.frames[-2:]]
    assert kinds == ["CallResult", "CallStatusNotification"]


def test_other_idtags_are_refused_locally_without_asking_the_csms() -> None:
    bench = Bench()
    bench.reserve(1, "123456")
    bench.plug(1)
    bench.tap(1, "654321")
    assert bench.calls("Authorize") == []
    assert bench.calls("StartTransaction") == []
    assert "connector 1: refused 654321 (reserved for 123456)" in bench.texts()
    assert bench.status(1) == "Reserved"


def test_the_csms_still_has_the_last_word_on_the_reserved_code() -> None:
    bench = Bench()
    bench.tags["123456"] = {"status": "Expired"}
    bench.reserve(1, "123456")
    bench.tap(1, "123456")
    assert bench.calls("StartTransaction") == []
    assert bench.status(1) == "Reserved"


def test_the_other_connector_stays_free() -> None:
    bench = Bench()
    bench.reserve(1, "123456")
    bench.plug(2)
    bench.tap(2, "ANYONE")
    assert bench.status(2) == "Charging"
    assert "reservationId" not in bench.calls("StartTransaction")[0]


def test_expiry_frees_the_connector_on_time() -> None:  # OCTT 047
    bench = Bench(heartbeat=3600)
    bench.reserve(1, "123456", minutes=10)
    bench.advance(599)
    assert bench.status(1) == "Reserved"
    bench.advance(1)
    assert bench.status(1) == "Available"
    assert bench.calls("StatusNotification")[-1]["timestamp"] == format_time(
        bench.now)
    assert "connector 1: reservation 7 expired" in bench.texts()


def test_expiry_is_a_deadline() -> None:
    bench = Bench(heartbeat=0, config={"HeartbeatInterval": "0"})
    bench.reserve(1, "123456", minutes=10)
    assert bench.session.next_deadline() == bench.now + timedelta(minutes=10)


@pytest.mark.parametrize(("prepare", "status"), [  # OCTT 048_1..3
    (lambda b: b.fault(1), "Faulted"),
    (lambda b: b.plug(1), "Occupied"),
    (lambda b: (b.plug(1), b.tap(1, "X")), "Occupied"),
    (lambda b: b.reserve(1, "OTHER", reservation_id=99), "Occupied"),
    (lambda b: b.ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}),
     "Unavailable"),
    (lambda b: b.ask("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}),
     "Unavailable"),
    (lambda b: b.fault(0), "Faulted"),
])
def test_reserve_now_answers(prepare: object, status: str) -> None:
    bench = Bench()
    prepare(bench)  # type: ignore[operator]
    assert bench.reserve(1, "123456", reservation_id=7) == status


def test_reserve_now_without_the_reservation_profile_is_rejected() -> None:  # OCTT 048_4
    bench = Bench(profiles="Core,RemoteTrigger")
    assert bench.reserve(1, "123456") == "Rejected"
    assert bench.ask("CancelReservation", {"reservationId": 7}) == {"status": "Rejected"}


def test_unknown_connector_is_rejected() -> None:
    assert Bench(connectors=2).reserve(3, "123456") == "Rejected"


def test_same_reservation_id_replaces_the_reservation() -> None:
    bench = Bench()
    bench.reserve(1, "123456", reservation_id=7)
    assert bench.reserve(1, "999999", reservation_id=7) == "Accepted"
    assert bench.model.connectors[1].reservation.id_tag == "999999"  # type: ignore[union-attr]
    assert bench.reserve(2, "999999", reservation_id=7) == "Accepted"  # moved
    assert bench.status(1) == "Available" and bench.status(2) == "Reserved"
    assert len(bench.model.all_reservations()) == 1


def test_connector_zero_only_when_supported() -> None:  # OCTT 049
    assert Bench().reserve(0, "123456") == "Rejected"
    bench = Bench(config={"ReserveConnectorZeroSupported": "true"})
    assert bench.reserve(0, "123456", reservation_id=3) == "Accepted"
    assert bench.statuses(1) == ["Available"] and bench.statuses(2) == ["Available"]
    bench.plug(1)
    bench.tap(1, "SOMEONE")  # connector 2 is still free for the reservation
    assert bench.status(1) == "Charging"
    bench.plug(2)
    bench.tap(2, "OTHER")  # the last free connector is held for 123456
    assert bench.status(2) == "Preparing"
    assert "connector 2: refused OTHER (reserved for 123456)" in bench.texts()
    bench.tap(2, "123456")
    assert bench.calls("StartTransaction")[-1]["reservationId"] == 3
    assert bench.model.zero_reservations == []


def test_connector_zero_is_occupied_when_nothing_is_free() -> None:
    bench = Bench(connectors=1, config={"ReserveConnectorZeroSupported": "true"})
    bench.plug(1)
    bench.tap(1, "X")
    assert bench.reserve(0, "123456") == "Occupied"
    bench.fault(1)
    assert bench.reserve(0, "123456") == "Faulted"


def test_cancel_reservation() -> None:  # OCTT 051, 052
    bench = Bench()
    bench.reserve(1, "123456", reservation_id=7)
    assert bench.ask("CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
    assert bench.status(1) == "Available"
    assert bench.ask("CancelReservation", {"reservationId": 7}) == {"status": "Rejected"}


def test_parent_id_tag_from_reserve_now_lets_a_sibling_charge() -> None:  # OCTT 053
    bench = Bench()
    bench.tags["SIBLING"] = {"status": "Accepted", "parentIdTag": "FAMILY"}
    bench.reserve(1, "123456", parent="FAMILY")
    bench.plug(1)
    bench.tap(1, "SIBLING")
    assert bench.calls("Authorize") == [{"idTag": "SIBLING"}]
    start = bench.calls("StartTransaction")[0]
    assert start["idTag"] == "SIBLING" and start["reservationId"] == 7


def test_parent_learnt_from_authorize_lets_a_sibling_charge() -> None:
    bench = Bench(quirks=["authorize-after-reserve"])
    bench.tags["123456"] = {"status": "Accepted", "parentIdTag": "FAMILY"}
    bench.tags["SIBLING"] = {"status": "Accepted", "parentIdTag": "family"}
    bench.tags["STRANGER"] = {"status": "Accepted", "parentIdTag": "OTHERS"}
    bench.reserve(1, "123456")
    assert bench.calls("Authorize") == [{"idTag": "123456"}]  # the quirk
    bench.plug(1)
    bench.tap(1, "STRANGER")
    assert bench.calls("StartTransaction") == []
    assert "connector 1: refused STRANGER (reserved for 123456)" in bench.texts()
    bench.tap(1, "SIBLING")
    assert bench.calls("StartTransaction")[0]["reservationId"] == 7


def test_reservation_ends_when_the_connector_faults_or_goes_unavailable() -> None:
    bench = Bench()
    bench.reserve(1, "A", reservation_id=1)
    bench.reserve(2, "B", reservation_id=2)
    bench.fault(1)
    bench.ask("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    assert bench.model.all_reservations() == []
    assert "connector 1: reservation 1 ended: connector Faulted" in bench.texts()
    assert "connector 2: reservation 2 ended: connector Unavailable" in bench.texts()
    bench.clear(1)
    assert bench.status(1) == "Available"


def test_offline_the_reserved_code_still_charges() -> None:
    bench = Bench()
    bench.reserve(1, "123456")
    bench.disconnect()
    bench.plug(1)
    bench.tap(1, "123456")
    assert bench.status(1) == "Charging"
    bench.connect()
    assert bench.calls("StartTransaction")[0]["reservationId"] == 7


# ---- quirks ------------------------------------------------------------------------------


def test_quirk_reserved_before_answer() -> None:
    bench = Bench(quirks=["reserved-before-answer"])
    bench.reserve(1, "123456")
    last_two = bench.frames[-2:]
    assert getattr(last_two[0], "action", None) == "StatusNotification"
    assert last_two[0].payload["status"] == "Reserved"  # type: ignore[union-attr]
    assert last_two[1].payload == {"status": "Accepted"}  # type: ignore[union-attr]


def test_quirk_reserved_before_answer_waits_for_the_link() -> None:
    bench = Bench(quirks=["reserved-before-answer"])
    bench.auto = False
    bench.model.tick(bench.now + timedelta(seconds=60))  # a Heartbeat goes out, unanswered
    bench.pump()
    assert bench.pending is not None and bench.pending.action == "Heartbeat"
    frames = len(bench.frames)
    bench.session.receive(
        '[2,"r1","ReserveNow",{"connectorId":1,"idTag":"X","reservationId":1,'
        '"expiryDate":"2030-01-01T00:00:00Z"}]', bench.now)
    bench.pump()
    assert len(bench.frames) == frames  # answer held back behind the StatusNotification
    bench.auto = True
    bench.reply()
    actions = [getattr(f, "action", type(f).__name__) for f in bench.frames[frames:]]
    assert actions[:2] == ["StatusNotification", "CallResult"]


def test_quirk_no_reservation_id() -> None:
    bench = Bench(quirks=["no-reservation-id"])
    bench.reserve(1, "123456")
    bench.plug(1)
    bench.tap(1, "123456")
    assert "reservationId" not in bench.calls("StartTransaction")[0]
    assert bench.model.all_reservations() == []


def test_quirk_accept_wrong_code_charges_and_stops_when_the_csms_says_no() -> None:
    bench = Bench(quirks=["accept-wrong-code"])
    bench.start_info["WRONG"] = {"status": "Invalid"}
    bench.reserve(1, "123456")
    bench.plug(1)
    bench.tap(1, "WRONG")
    assert bench.calls("Authorize") == []
    start = bench.calls("StartTransaction")[0]
    assert start["idTag"] == "WRONG" and start["reservationId"] == 7
    stop = bench.calls("StopTransaction")[0]
    assert stop["reason"] == "DeAuthorized" and stop["transactionId"] == 100
    assert bench.statuses(1)[-2:] == ["Charging", "Finishing"]


def test_quirk_reserve_now_callerror() -> None:
    bench = Bench(quirks=["reserve-now-callerror"])
    answer = bench.call("ReserveNow", {"connectorId": 1, "idTag": "X", "reservationId": 1,
                                       "expiryDate": "2030-01-01T00:00:00Z"})
    assert isinstance(answer, CallError)
    assert bench.status(1) == "Available"


def test_quirk_lazy_expiry_waits_for_something_else_to_happen() -> None:
    bench = Bench(quirks=["lazy-expiry"], heartbeat=60)
    bench.reserve(1, "123456", minutes=1)
    bench.advance(600)  # heartbeats come and go: they are not "something else"
    assert bench.status(1) == "Reserved"
    assert bench.model.next_deadline() is not None  # but no deadline for the expiry itself
    bench.plug(2)  # a driver at the other connector: now the charger notices
    assert bench.status(1) == "Available"


def test_unknown_quirks_are_refused() -> None:
    with pytest.raises(ValueError):
        Bench(quirks=["teleport"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4), st.integers(1, 30)),
                min_size=1, max_size=8), st.integers(0, 40))
def test_reservations_never_outlive_their_expiry(
    requests: list[tuple[int, int, int]], wait_minutes: int
) -> None:
    bench = Bench(config={"ReserveConnectorZeroSupported": "true"}, heartbeat=0)
    for connector, reservation_id, minutes in requests:
        bench.reserve(connector, f"TAG{reservation_id}", reservation_id=reservation_id,
                      minutes=minutes)
    ids = [r.reservation_id for r in bench.model.all_reservations()]
    assert len(ids) == len(set(ids))  # one reservation per id
    bench.advance(wait_minutes * 60)
    for reservation in bench.model.all_reservations():
        assert reservation.expiry > bench.now
    for state in bench.model.connectors[1:]:
        assert (state.status == "Reserved") == (state.reservation is not None)
