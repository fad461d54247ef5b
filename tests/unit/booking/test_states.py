"""The booking state machine: which states may follow which, and the live states."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.booking.states import (
    CANCELLABLE,
    LIVE,
    TRANSITIONS,
    InvalidTransition,
    ReservationStatus,
    allowed_from,
    can_become,
)
from csms.errors import Conflict
from csms.store.migrations import MIGRATIONS_DIR

S = ReservationStatus
TERMINAL = [S.COMPLETED, S.CANCELLED, S.EXPIRED, S.FAILED]

ALLOWED = {
    (S.BOOKED, S.BOOKED),  # moved to another connector, or a new reason while retrying
    (S.BOOKED, S.ACTIVE),
    (S.BOOKED, S.CHARGING),  # code used before the charger had the reservation
    (S.BOOKED, S.CANCELLED),
    (S.BOOKED, S.EXPIRED),
    (S.BOOKED, S.FAILED),
    (S.ACTIVE, S.BOOKED),  # connector in trouble, or the charger dropped the reservation
    (S.ACTIVE, S.ACTIVE),  # the CSMS takes over a reservation the charger keeps dropping
    (S.ACTIVE, S.CHARGING),
    (S.ACTIVE, S.CANCELLED),
    (S.ACTIVE, S.EXPIRED),
    (S.ACTIVE, S.FAILED),
    (S.CHARGING, S.CHARGING),  # the session continues in a new transaction after a lost Stop
    (S.CHARGING, S.COMPLETED),
    (S.COMPLETED, S.COMPLETED),  # settled again when the charger's own Stop arrives late
}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition_table(current: ReservationStatus, target: ReservationStatus) -> None:
    assert can_become(current, target) is ((current, target) in ALLOWED)
    assert (current in allowed_from(target)) is ((current, target) in ALLOWED)


def test_an_invalid_transition_is_a_conflict_that_says_what_happened() -> None:
    error = InvalidTransition(7, "completed", S.CANCELLED)
    assert error.message == "reservation 7 is completed; it cannot become cancelled"
    assert error.code == "invalid_transition" and isinstance(error, Conflict)
    assert (error.current, error.target) == (S.COMPLETED, S.CANCELLED)
    assert "does not exist" in InvalidTransition(8, None, S.ACTIVE).message


@pytest.mark.parametrize("state", TERMINAL)
def test_finished_bookings_never_come_back(state: ReservationStatus) -> None:
    assert state not in LIVE
    assert TRANSITIONS[state] <= {state}


def test_live_states_hold_the_connector() -> None:
    assert frozenset({S.BOOKED, S.ACTIVE, S.CHARGING}) == LIVE


def test_only_booked_or_active_can_be_cancelled() -> None:
    assert frozenset({S.BOOKED, S.ACTIVE}) == CANCELLABLE


def test_a_charging_session_can_only_complete() -> None:
    assert TRANSITIONS[S.CHARGING] == {S.CHARGING, S.COMPLETED}


def test_the_live_states_are_the_exclusion_constraints_predicate() -> None:
    """The migration's ``EXCLUDE … WHERE (status IN (…))`` and the live-code index say the same
    as :data:`LIVE`: the database and the code agree on what holds a connector."""
    sql = "\n".join(p.read_text() for p in sorted(MIGRATIONS_DIR.glob("*.sql")))
    exclusion = re.search(r"EXCLUDE USING gist.*?WHERE \(status IN \(([^)]*)\)\)", sql, re.S)
    assert exclusion is not None
    assert set(re.findall(r"'(\w+)'", exclusion.group(1))) == {str(s) for s in LIVE}
    live_code = re.findall(r"reservations_live_code ON.*?WHERE status IN \(([^)]*)\)", sql, re.S)
    assert live_code and all(
        set(re.findall(r"'(\w+)'", found)) == {str(s) for s in LIVE} for found in live_code
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(S)), max_size=30))
def test_random_walks_never_revive_a_finished_booking(targets: list[ReservationStatus]) -> None:
    state = S.BOOKED
    for target in targets:
        if can_become(state, target):
            assert state in LIVE or target == state, "a finished booking came back to life"
            state = target
