"""Booking codes: six random digits, never one repeated digit nor a run; what a code is worth
at a charger; the wrong-code rule."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.booking.codes import (
    CLOCK_SLACK,
    CODE_LENGTH,
    UNKNOWN,
    BookedCode,
    CodeVerdict,
    WrongCodeRule,
    generate_code,
    verify_code,
)
from csms.booking.states import ReservationStatus
from csms.domain.authorization import AuthorizationStatus as A
from csms.domain.authorization import IdTagInfo


def is_trivial(code: str) -> bool:
    """One digit repeated, or every next digit one up (or one down), wrapping 9-0."""
    digits = [int(c) for c in code]
    steps = {(b - a) % 10 for a, b in itertools.pairwise(digits)}
    return steps in ({0}, {1}, {9})


TRIVIAL = ["000000", "777777", "123456", "987654", "890123", "210987", "012345", "543210", "901234"]


@pytest.mark.parametrize("code", TRIVIAL)
def test_what_counts_as_trivial(code: str) -> None:
    # Guards the reference used below: these are the codes no driver should be given.
    assert is_trivial(code)


def test_codes_are_six_digits_and_never_trivial() -> None:
    assert CODE_LENGTH == 6
    seen = [generate_code() for _ in range(3000)]
    for code in seen:
        assert len(code) == 6
        assert code.isdigit() and code.isascii()
        assert not is_trivial(code), code
    assert len(set(seen)) > 2900  # random, not a constant or a short cycle
    # Every digit appears in every position (uniform enough to not favour a keypad corner).
    for position in range(6):
        assert {code[position] for code in seen} == set("0123456789")


def test_other_lengths() -> None:
    for length in (4, 8, 20):
        code = generate_code(length)
        assert len(code) == length and code.isdigit()
        assert not is_trivial(code)


def _feed(monkeypatch: pytest.MonkeyPatch, digits: str) -> Iterator[int]:
    stream = iter(int(d) for d in digits)
    monkeypatch.setattr(secrets, "randbelow", lambda n: next(stream))
    return stream


@pytest.mark.parametrize("trivial", TRIVIAL)
def test_a_trivial_draw_is_thrown_away(monkeypatch: pytest.MonkeyPatch, trivial: str) -> None:
    stream = _feed(monkeypatch, trivial + "123457" + "999999")
    assert generate_code() == "123457"
    assert next(stream) == 9  # it stopped drawing after the first good code


@pytest.mark.parametrize("code", ["123457", "112233", "135792", "000001", "989898", "024680"])
def test_near_misses_are_kept(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    _feed(monkeypatch, code)
    assert generate_code() == code


S = ReservationStatus
START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
END = datetime(2026, 5, 4, 11, 0, tzinfo=UTC)
LEAD = timedelta(minutes=2)


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


ACCEPTED = CodeVerdict(IdTagInfo(A.ACCEPTED, END, "DRIVER-7"), wrong=False)
#: Worth nothing any more: says nothing of its owner, and counts as a wrong code.
EXPIRED = CodeVerdict(IdTagInfo(A.EXPIRED), wrong=True)
BLOCKED = CodeVerdict(IdTagInfo(A.BLOCKED), wrong=True)
#: The right code at the wrong connector or too early: refused, but no guess.
NOT_HERE = CodeVerdict(IdTagInfo(A.INVALID), wrong=False)


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
    verdict = verify_code(booking(parent=None), "CP-1", 2, START)
    assert verdict == CodeVerdict(IdTagInfo(A.ACCEPTED, END, None), wrong=False)


@pytest.mark.parametrize("now", [END, END + timedelta(hours=5)])
@pytest.mark.parametrize("status", [S.BOOKED, S.ACTIVE, S.CHARGING])
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
        assert verify_code(booking(status), "CP-2", connector_id, START) == UNKNOWN
    assert verify_code(booking(status), "cp-1", 2, START) == UNKNOWN  # charger ids are exact
    assert UNKNOWN.wrong and UNKNOWN.info == IdTagInfo(A.INVALID)


@pytest.mark.parametrize("status", [S.BOOKED, S.ACTIVE])
def test_at_another_connector_a_code_is_invalid(status: ReservationStatus) -> None:
    assert verify_code(booking(status), "CP-1", 1, START) == NOT_HERE
    assert verify_code(booking(status), "CP-1", 3, START + timedelta(minutes=10)) == NOT_HERE


def test_connector_zero_means_any_connector() -> None:
    # A booking for "any connector" (ReserveNow connectorId 0) is good at each of them.
    for connector_id in (0, 1, 2, 7, None):
        assert verify_code(booking(connector_id=0), "CP-1", connector_id, START) == ACCEPTED


def test_while_charging_the_code_works_at_its_connector_only() -> None:
    charging = booking(S.CHARGING)
    assert verify_code(charging, "CP-1", 2, START + timedelta(minutes=20)) == ACCEPTED
    assert verify_code(charging, "CP-1", None, START + timedelta(minutes=20)) == ACCEPTED
    # After the window it authorizes nothing, whatever state the booking is stuck in (its
    # StopTransaction is answered by who started the session, not by the code's window).
    assert verify_code(charging, "CP-1", 2, END + timedelta(minutes=20)) == EXPIRED
    assert verify_code(charging, "CP-1", 1, START + timedelta(minutes=20)) == CodeVerdict(
        IdTagInfo(A.CONCURRENT_TX, END), wrong=False
    )


@pytest.mark.parametrize("connector_id", [2, None])
def test_before_dispatch_and_before_the_window_a_code_is_invalid(connector_id: int | None) -> None:
    not_sent = booking(S.BOOKED, dispatched_at=None)
    assert verify_code(not_sent, "CP-1", connector_id, START - timedelta(minutes=2)) == NOT_HERE
    assert verify_code(not_sent, "CP-1", connector_id, START - timedelta(days=3)) == NOT_HERE
    sent = booking(S.ACTIVE, dispatched_at=START - LEAD)
    early = START - LEAD - CLOCK_SLACK - timedelta(seconds=1)
    assert verify_code(sent, "CP-1", connector_id, early) == NOT_HERE
    # A whole-second stamp (or a clock a little off) just before it is still good.
    assert verify_code(sent, "CP-1", connector_id, START - LEAD - CLOCK_SLACK) == ACCEPTED


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
    assert verify_code(late, "CP-1", 2, START - CLOCK_SLACK - timedelta(seconds=1)) == NOT_HERE


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
    verdict = verify_code(b, charger, connector_id, now)
    info = verdict.info
    here = connector_id in (None, 0, booked_connector) or booked_connector == 0
    valid_from = (START if dispatched_at is None else min(START, dispatched_at)) - CLOCK_SLACK
    wrong = True
    if status in (S.CANCELLED, S.FAILED):
        expected = A.BLOCKED
    elif status in (S.COMPLETED, S.EXPIRED) or now >= END:
        expected = A.EXPIRED
    elif charger != "CP-1":
        expected = A.INVALID
    elif status is S.CHARGING:
        expected, wrong = (A.ACCEPTED if here else A.CONCURRENT_TX), False
    elif here and now >= valid_from:
        expected, wrong = A.ACCEPTED, False
    else:
        expected, wrong = A.INVALID, False
    assert (info.status, verdict.wrong) == (expected, wrong)
    if expected is A.ACCEPTED:
        assert (info.expiry_date, info.parent_id_tag) == (END, "DRIVER-7")
    else:
        assert info.parent_id_tag is None  # a refusal gives its owner away to no one
    if now >= END:
        assert not verdict.accepted


# --------------------------------------------------------------------------- wrong-code rule


def test_the_wrong_code_rule_locks_at_the_limit_within_the_window() -> None:
    rule = WrongCodeRule(max_failures=3, window=timedelta(minutes=5))
    assert [rule.locked(n) for n in range(5)] == [False, False, False, True, True]
    assert rule.counted_since(END) == END - timedelta(minutes=5)
