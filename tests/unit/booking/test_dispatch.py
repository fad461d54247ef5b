"""What to do with each answer a charger gives to ReserveNow, and with a dropped reservation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.booking.dispatch import (
    CHARGING_GRACE,
    MAX_REDISPATCHES,
    DispatchOutcome,
    NextStep,
    OverdueStep,
    charging_looked_at,
    decide_dispatch,
    decide_dropped,
    overdue_step,
)
from csms.booking.states import ReservationStatus

S = ReservationStatus
TERMINAL = [S.COMPLETED, S.CANCELLED, S.EXPIRED, S.FAILED]
START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
END = datetime(2026, 5, 4, 11, 0, tzinfo=UTC)
LEAD = timedelta(minutes=2)


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


def test_a_whole_charger_refusing_prefers_another_charger() -> None:
    for outcome in (DispatchOutcome.REJECTED, DispatchOutcome.CALL_ERROR):
        assert decide_dispatch(outcome, EARLY, END, RETRY).charger_refused
    for outcome in (DispatchOutcome.OCCUPIED, DispatchOutcome.FAULTED, DispatchOutcome.UNAVAILABLE):
        assert not decide_dispatch(outcome, EARLY, END, RETRY).charger_refused


def test_a_dropped_reservation_is_sent_again_a_bounded_number_of_times() -> None:
    for sent_again in range(MAX_REDISPATCHES):
        decision = decide_dropped(True, sent_again)
        assert decision is not None and decision.send_again
        assert decision.reason == "the charger dropped the reservation; sending it again"
    held = decide_dropped(True, MAX_REDISPATCHES)
    assert held is not None and not held.send_again and "CSMS holds" in held.reason
    assert decide_dropped(False, 0) is None  # held by the CSMS already: nothing to send


# --------------------------------------------------------------------------- overdue_step

LATE = timedelta(minutes=10)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("now", "late_stop", "step"),
    [
        (START, LATE, OverdueStep.WAIT),
        (END + LATE - SECOND, LATE, OverdueStep.WAIT),
        (END + LATE, LATE, OverdueStep.STOP),
        (END, timedelta(0), OverdueStep.STOP),  # No allowance: stopped when the window ends.
        (END + LATE + CHARGING_GRACE - SECOND, LATE, OverdueStep.STOP),
        (END + LATE + CHARGING_GRACE, LATE, OverdueStep.SETTLE),
    ],
)
def test_a_session_goes_on_for_its_allowance_then_is_stopped_then_settled(
    now: datetime, late_stop: timedelta, step: OverdueStep
) -> None:
    assert overdue_step(END, late_stop, now) is step


@given(st.integers(0, 240), st.integers(-600, 600))
def test_a_charging_booking_is_looked_at_when_its_step_changes(late: int, minutes: int) -> None:
    late_stop, now = timedelta(minutes=late), END + timedelta(minutes=minutes)
    at = charging_looked_at(END, late_stop, now)
    assert at > now
    if overdue_step(END, late_stop, now) is not OverdueStep.SETTLE:
        assert overdue_step(END, late_stop, at) is not overdue_step(END, late_stop, at - SECOND)
