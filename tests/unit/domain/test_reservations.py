"""Reservations: the state machine, what a code is worth at a charger, and what to do with
each answer to ReserveNow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.authorization import AuthorizationStatus as A
from csms.domain.authorization import IdTagInfo
from csms.domain.reservations import (
    LIVE,
    BookedCode,
    DispatchOutcome,
    InvalidTransition,
    NextStep,
    ReservationStatus,
    can_become,
    can_cancel,
    check_transition,
    decide_dispatch,
    verify_code,
)
from csms.errors import Conflict

S = ReservationStatus
TERMINAL = [S.COMPLETED, S.CANCELLED, S.EXPIRED, S.FAILED]
START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
END = datetime(2026, 5, 4, 11, 0, tzinfo=UTC)
LEAD = timedelta(minutes=2)


# --------------------------------------------------------------------------- state machine

ALLOWED = {
    (S.BOOKED, S.BOOKED),  # moved to another connector before dispatch
    (S.BOOKED, S.ACTIVE),
    (S.BOOKED, S.CHARGING),  # code used before the charger had the reservation
    (S.BOOKED, S.CANCELLED),
    (S.BOOKED, S.EXPIRED),
    (S.BOOKED, S.FAILED),
    (S.ACTIVE, S.BOOKED),  # moved to another connector
    (S.ACTIVE, S.CHARGING),
    (S.ACTIVE, S.CANCELLED),
    (S.ACTIVE, S.EXPIRED),
    (S.ACTIVE, S.FAILED),
    (S.CHARGING, S.COMPLETED),
}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition_table(current: ReservationStatus, target: ReservationStatus) -> None:
    allowed = (current, target) in ALLOWED
    assert can_become(current, target) is allowed
    if allowed:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition) as raised:
            check_transition(current, target)
        assert raised.value.message == f"a {current} reservation cannot become {target}"
        assert raised.value.code == "invalid_transition"
        assert isinstance(raised.value, Conflict)  # 409 at the API edge


@pytest.mark.parametrize("state", TERMINAL)
def test_terminal_states_have_no_exits(state: ReservationStatus) -> None:
    assert not any(can_become(state, target) for target in S)
    assert state not in LIVE


def test_live_states_hold_the_connector() -> None:
    assert frozenset({S.BOOKED, S.ACTIVE, S.CHARGING}) == LIVE
    assert all(any(can_become(state, t) for t in S) for state in LIVE)


def test_the_happy_path() -> None:
    for a, b in [(S.BOOKED, S.ACTIVE), (S.ACTIVE, S.CHARGING), (S.CHARGING, S.COMPLETED)]:
        check_transition(a, b)


def test_a_charging_session_can_only_complete() -> None:
    for target in (S.CANCELLED, S.EXPIRED, S.FAILED, S.BOOKED, S.ACTIVE):
        assert not can_become(S.CHARGING, target)


@pytest.mark.parametrize("state", list(S))
def test_only_booked_or_active_can_be_cancelled(state: ReservationStatus) -> None:
    assert can_cancel(state) is (state in (S.BOOKED, S.ACTIVE))
    assert can_cancel(state) is can_become(state, S.CANCELLED)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(S)), max_size=30))
def test_random_walks_never_leave_a_terminal_state(targets: list[ReservationStatus]) -> None:
    state = S.BOOKED
    left_live = False
    for target in targets:
        if can_become(state, target):
            check_transition(state, target)
            assert state in LIVE, "only live states have exits"
            state = target
        else:
            with pytest.raises(InvalidTransition):
                check_transition(state, target)
        if state not in LIVE:
            left_live = True
        assert not (left_live and state in LIVE), "a finished booking came back to life"
    if left_live:
        assert state in TERMINAL


# --------------------------------------------------------------------------- verify_code


def booking(
    status: ReservationStatus = S.ACTIVE,
    connector_id: int = 2,
    dispatched_at: datetime | None = START - LEAD,
    parent: str | None = "DRIVER-7",
) -> BookedCode:
    return BookedCode(
        reservation_id=41,
        charge_point_id="CP-1",
        connector_id=connector_id,
        start=START,
        end=END,
        status=status,
        dispatched_at=dispatched_at,
        parent_id_tag=parent,
    )


ACCEPTED = IdTagInfo(A.ACCEPTED, END, "DRIVER-7")
EXPIRED = IdTagInfo(A.EXPIRED, END, "DRIVER-7")
BLOCKED = IdTagInfo(A.BLOCKED, END, "DRIVER-7")
INVALID = IdTagInfo(A.INVALID)


@pytest.mark.parametrize(
    "now",
    [
        START - LEAD,
        START - timedelta(minutes=1),
        START,
        START + timedelta(minutes=30),
        END - timedelta(microseconds=1),
    ],
)
@pytest.mark.parametrize("connector_id", [2, None])
def test_valid_code_at_its_connector_from_dispatch_to_window_end(
    now: datetime, connector_id: int | None
) -> None:
    assert verify_code(booking(), "CP-1", connector_id, now) == ACCEPTED


def test_accepted_carries_the_window_end_and_no_parent_if_none() -> None:
    info = verify_code(booking(parent=None), "CP-1", 2, START)
    assert info == IdTagInfo(A.ACCEPTED, END, None)


@pytest.mark.parametrize("now", [END, END + timedelta(hours=5)])
@pytest.mark.parametrize("status", [S.BOOKED, S.ACTIVE])
def test_after_the_window_a_code_is_expired(now: datetime, status: ReservationStatus) -> None:
    assert verify_code(booking(status), "CP-1", 2, now) == EXPIRED
    assert verify_code(booking(status), "CP-1", None, now) == EXPIRED


@pytest.mark.parametrize("status", [S.CANCELLED, S.FAILED])
@pytest.mark.parametrize("now", [START - timedelta(hours=1), START, END + timedelta(hours=1)])
def test_cancelled_or_failed_is_blocked(status: ReservationStatus, now: datetime) -> None:
    assert verify_code(booking(status), "CP-1", 2, now) == BLOCKED


@pytest.mark.parametrize("status", [S.COMPLETED, S.EXPIRED])
@pytest.mark.parametrize("now", [START, END + timedelta(hours=1)])
def test_completed_or_expired_is_expired(status: ReservationStatus, now: datetime) -> None:
    assert verify_code(booking(status), "CP-1", 2, now) == EXPIRED


@pytest.mark.parametrize("status", [S.BOOKED, S.ACTIVE, S.CHARGING])
def test_at_another_charger_a_code_is_invalid(status: ReservationStatus) -> None:
    for connector_id in (2, 1, None):
        assert verify_code(booking(status), "CP-2", connector_id, START) == INVALID
    assert verify_code(booking(status), "cp-1", 2, START) == INVALID  # charger ids are exact


@pytest.mark.parametrize("status", [S.BOOKED, S.ACTIVE])
def test_at_another_connector_a_code_is_invalid(status: ReservationStatus) -> None:
    assert verify_code(booking(status), "CP-1", 1, START) == INVALID
    assert verify_code(booking(status), "CP-1", 3, START + timedelta(minutes=10)) == INVALID


def test_connector_zero_means_any_connector() -> None:
    # A booking for "any connector" (ReserveNow connectorId 0) is good at each of them.
    for connector_id in (0, 1, 2, 7, None):
        assert verify_code(booking(connector_id=0), "CP-1", connector_id, START) == ACCEPTED


def test_while_charging_the_code_works_at_its_connector_only() -> None:
    charging = booking(S.CHARGING)
    assert verify_code(charging, "CP-1", 2, START + timedelta(minutes=20)) == ACCEPTED
    assert verify_code(charging, "CP-1", None, START + timedelta(minutes=20)) == ACCEPTED
    # It may stop its own session after the window ended.
    assert verify_code(charging, "CP-1", 2, END + timedelta(minutes=20)) == ACCEPTED
    assert verify_code(charging, "CP-1", 1, START + timedelta(minutes=20)) == IdTagInfo(
        A.CONCURRENT_TX, END, "DRIVER-7"
    )


@pytest.mark.parametrize("connector_id", [2, None])
def test_before_dispatch_and_before_the_window_a_code_is_invalid(connector_id: int | None) -> None:
    not_sent = booking(S.BOOKED, dispatched_at=None)
    assert verify_code(not_sent, "CP-1", connector_id, START - timedelta(minutes=1)) == INVALID
    assert verify_code(not_sent, "CP-1", connector_id, START - timedelta(days=3)) == INVALID
    sent = booking(S.ACTIVE, dispatched_at=START - LEAD)
    assert verify_code(sent, "CP-1", connector_id, START - LEAD - timedelta(seconds=1)) == INVALID


@pytest.mark.parametrize("connector_id", [2, None])
def test_a_booking_not_yet_dispatched_is_good_inside_its_window(connector_id: int | None) -> None:
    # A charger that takes no reservations, or a scheduler running late: the window decides.
    not_sent = booking(S.BOOKED, dispatched_at=None)
    assert verify_code(not_sent, "CP-1", connector_id, START) == ACCEPTED
    assert verify_code(not_sent, "CP-1", connector_id, END - timedelta(seconds=1)) == ACCEPTED


def test_inside_the_window_a_late_dispatch_does_not_invalidate_the_code() -> None:
    """ReserveNow retried at 10:05 after the charger was offline; its queued StartTransaction
    says 10:02 and is judged at 10:02: inside the window, so Accepted."""
    late = booking(S.ACTIVE, dispatched_at=START + timedelta(minutes=5))
    assert verify_code(late, "CP-1", 2, START + timedelta(minutes=2)) == ACCEPTED
    assert verify_code(late, "CP-1", 2, START - timedelta(seconds=1)) == INVALID


statuses = st.sampled_from(list(S))
moments = st.integers(-3 * 3600, 3 * 3600).map(lambda s: START + timedelta(seconds=s))
dispatches = st.none() | st.integers(-3600, 3600).map(lambda s: START + timedelta(seconds=s))


@settings(max_examples=300, deadline=None)
@given(
    status=statuses,
    booked_connector=st.integers(0, 3),
    charger=st.sampled_from(["CP-1", "CP-2"]),
    connector_id=st.none() | st.integers(0, 3),
    now=moments,
    dispatched_at=dispatches,
)
def test_verify_code_answers(
    status: ReservationStatus,
    booked_connector: int,
    charger: str,
    connector_id: int | None,
    now: datetime,
    dispatched_at: datetime | None,
) -> None:
    """The whole mapping (OCPP-NOTES, Authorization); a code is good from the window start, or
    from an earlier dispatch, until the window end."""
    b = booking(status, connector_id=booked_connector, dispatched_at=dispatched_at)
    info = verify_code(b, charger, connector_id, now)
    here = connector_id in (None, 0, booked_connector) or booked_connector == 0
    valid_from = START if dispatched_at is None else min(START, dispatched_at)
    if status in (S.CANCELLED, S.FAILED):
        expected = A.BLOCKED
    elif status in (S.COMPLETED, S.EXPIRED):
        expected = A.EXPIRED
    elif charger != "CP-1":
        expected = A.INVALID
    elif status is S.CHARGING:
        expected = A.ACCEPTED if here else A.CONCURRENT_TX
    elif now >= END:
        expected = A.EXPIRED
    elif here and now >= valid_from:
        expected = A.ACCEPTED
    else:
        expected = A.INVALID
    assert info.status is expected
    if expected is A.INVALID:
        assert info == INVALID  # an invalid code gives nothing away
    else:
        assert (info.expiry_date, info.parent_id_tag) == (END, "DRIVER-7")
    if now >= END and status is not S.CHARGING:
        assert info.status is not A.ACCEPTED


# --------------------------------------------------------------------------- decide_dispatch

RETRY = timedelta(minutes=1)
EARLY = START - LEAD  # plenty of time before the window ends


def test_every_outcome_has_a_decision() -> None:
    for outcome in DispatchOutcome:
        for now in (EARLY, END - RETRY, END + RETRY):
            decision = decide_dispatch(outcome, now, END, RETRY)
            assert decision.reason
            assert decision.step in NextStep


def test_accepted_activates() -> None:
    decision = decide_dispatch(DispatchOutcome.ACCEPTED, EARLY, END, RETRY)
    assert decision.step is NextStep.ACTIVATE
    assert decision.reason == "reserved on the charger"
    assert (decision.move_first, decision.retry_at) == (False, None)


def test_a_charger_without_the_reservation_profile_is_enforced_locally() -> None:
    decision = decide_dispatch(DispatchOutcome.NO_RESERVATION_PROFILE, EARLY, END, RETRY)
    assert decision.step is NextStep.ENFORCE_LOCALLY
    assert decision.reason == "the charger takes no reservations; the CSMS holds the booking"
    assert (decision.move_first, decision.retry_at) == (False, None)


@pytest.mark.parametrize(
    ("outcome", "why"),
    [
        (DispatchOutcome.REJECTED, "the charger refused the reservation"),
        (DispatchOutcome.CALL_ERROR, "the charger answered the reservation with an error"),
    ],
)
@pytest.mark.parametrize("now", [EARLY, END - timedelta(seconds=1)])
def test_a_refusing_charger_moves_else_is_enforced_locally(
    outcome: DispatchOutcome, why: str, now: datetime
) -> None:
    decision = decide_dispatch(outcome, now, END, RETRY)
    assert decision.step is NextStep.ENFORCE_LOCALLY
    assert decision.move_first is True
    assert decision.retry_at is None
    assert decision.reason == f"{why}; the CSMS holds the booking"


@pytest.mark.parametrize(
    ("outcome", "why", "move"),
    [
        (DispatchOutcome.OCCUPIED, "the connector is occupied", True),
        (DispatchOutcome.FAULTED, "the connector is faulted", True),
        (DispatchOutcome.UNAVAILABLE, "the connector is unavailable", True),
        (DispatchOutcome.TIMEOUT, "the charger did not answer", False),
        (DispatchOutcome.NOT_CONNECTED, "the charger is offline", False),
    ],
)
def test_trouble_is_retried_while_the_window_lasts(
    outcome: DispatchOutcome, why: str, move: bool
) -> None:
    decision = decide_dispatch(outcome, EARLY, END, RETRY)
    assert decision.step is NextStep.RETRY
    assert decision.retry_at == EARLY + RETRY
    assert decision.move_first is move
    assert decision.reason == f"{why}; trying again"
    # The last retry that still fits: one microsecond before the window would be over.
    last = END - RETRY - timedelta(microseconds=1)
    assert decide_dispatch(outcome, last, END, RETRY).retry_at == last + RETRY


@pytest.mark.parametrize(
    ("outcome", "why"),
    [
        (DispatchOutcome.OCCUPIED, "the connector is occupied"),
        (DispatchOutcome.FAULTED, "the connector is faulted"),
        (DispatchOutcome.UNAVAILABLE, "the connector is unavailable"),
        (DispatchOutcome.TIMEOUT, "the charger did not answer"),
        (DispatchOutcome.NOT_CONNECTED, "the charger is offline"),
    ],
)
@pytest.mark.parametrize(
    "now", [END - RETRY, END - timedelta(seconds=1), END, END + timedelta(hours=1)]
)
def test_trouble_fails_when_a_retry_would_come_too_late(
    outcome: DispatchOutcome, why: str, now: datetime
) -> None:
    decision = decide_dispatch(outcome, now, END, RETRY)
    assert decision.step is NextStep.FAIL
    assert decision.retry_at is None
    assert decision.reason == f"{why} until the window ended"


@pytest.mark.parametrize(
    "outcome", [DispatchOutcome.OCCUPIED, DispatchOutcome.FAULTED, DispatchOutcome.UNAVAILABLE]
)
def test_connector_trouble_near_the_end_still_tries_another_connector(
    outcome: DispatchOutcome,
) -> None:
    decision = decide_dispatch(outcome, END - timedelta(seconds=30), END, RETRY)
    assert decision.step is NextStep.FAIL
    assert decision.move_first is True


@settings(max_examples=200, deadline=None)
@given(
    outcome=st.sampled_from(list(DispatchOutcome)),
    now_offset=st.integers(-7200, 7200),
    retry_seconds=st.integers(1, 900),
)
def test_retries_are_scheduled_only_inside_the_window(
    outcome: DispatchOutcome, now_offset: int, retry_seconds: int
) -> None:
    now = END + timedelta(seconds=now_offset)
    interval = timedelta(seconds=retry_seconds)
    decision = decide_dispatch(outcome, now, END, interval)
    if decision.step is NextStep.RETRY:
        assert decision.retry_at == now + interval
        assert decision.retry_at < END
    else:
        assert decision.retry_at is None
    if outcome in (DispatchOutcome.TIMEOUT, DispatchOutcome.NOT_CONNECTED):
        assert decision.step is (NextStep.RETRY if now + interval < END else NextStep.FAIL)
        assert decision.move_first is False
    if decision.step is NextStep.FAIL:
        assert now + interval >= END
