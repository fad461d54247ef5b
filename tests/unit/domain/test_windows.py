"""Booking windows: what a driver may ask for, judged at a fixed ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.windows import InvalidWindow, WindowRules, check_window
from csms.errors import ValidationFailed

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
RULES = WindowRules()
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def test_default_rules() -> None:
    rules = WindowRules()
    assert rules.min_length == timedelta(minutes=15)
    assert rules.max_length == timedelta(hours=12)
    assert rules.max_ahead == timedelta(days=30)
    assert rules.start_grace == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("start", "length"),
    [
        (NOW, timedelta(hours=1)),  # a window starting now
        (NOW + timedelta(days=2), timedelta(minutes=15)),  # exactly the shortest
        (NOW + timedelta(days=2), timedelta(hours=12)),  # exactly the longest
        (NOW - timedelta(minutes=5), timedelta(hours=1)),  # the form took five minutes
        (NOW + timedelta(days=30), timedelta(hours=1)),  # exactly as far ahead as allowed
        (NOW + timedelta(microseconds=1), timedelta(minutes=15)),
    ],
)
def test_accepts(start: datetime, length: timedelta) -> None:
    check_window(start, start + length, NOW, RULES)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (NOW + MINUTE, NOW + MINUTE, "the window must end after it starts"),
        (NOW + timedelta(hours=2), NOW + timedelta(hours=1), "the window must end after it starts"),
        (NOW, NOW + timedelta(minutes=15) - SECOND, "the window must be at least 15 minutes long"),
        (NOW, NOW + timedelta(hours=12, seconds=1), "the window must be at most 720 minutes long"),
        (
            NOW - timedelta(minutes=5) - SECOND,
            NOW + timedelta(hours=1),
            "the window starts in the past",
        ),
        (NOW - timedelta(days=1), NOW - timedelta(hours=23), "the window starts in the past"),
        (
            NOW + timedelta(days=30) + SECOND,
            NOW + timedelta(days=30, hours=1),
            "the window may start at most 30 days ahead",
        ),
    ],
)
def test_refuses_with_a_clear_message(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(InvalidWindow) as raised:
        check_window(start, end, NOW, RULES)
    assert raised.value.message == message
    assert raised.value.code == "invalid_window"
    assert isinstance(raised.value, ValidationFailed)  # 422 at the API edge


def test_other_rules_are_obeyed_and_named() -> None:
    rules = WindowRules(
        min_length=timedelta(minutes=30),
        max_length=timedelta(hours=2),
        max_ahead=timedelta(days=7),
        start_grace=timedelta(0),
    )
    check_window(NOW, NOW + timedelta(minutes=30), NOW, rules)
    with pytest.raises(InvalidWindow, match="at least 30 minutes"):
        check_window(NOW, NOW + timedelta(minutes=29), NOW, rules)
    with pytest.raises(InvalidWindow, match="at most 120 minutes"):
        check_window(NOW, NOW + timedelta(minutes=121), NOW, rules)
    with pytest.raises(InvalidWindow, match="at most 7 days ahead"):
        check_window(NOW + timedelta(days=8), NOW + timedelta(days=8, hours=1), NOW, rules)
    with pytest.raises(InvalidWindow, match="in the past"):
        check_window(NOW - SECOND, NOW + timedelta(hours=1), NOW, rules)


def test_window_given_in_another_offset_is_judged_by_its_instant() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 5, 4, 14, 0, tzinfo=berlin)  # == NOW
    check_window(start, start + timedelta(hours=1), NOW, RULES)
    with pytest.raises(InvalidWindow, match="in the past"):
        check_window(start - timedelta(minutes=6), start + timedelta(hours=1), NOW, RULES)


@settings(max_examples=300, deadline=None)
@given(
    start_offset=st.integers(-2 * 3600, 31 * 86400).map(lambda s: timedelta(seconds=s)),
    length=st.integers(-3600, 13 * 3600).map(lambda s: timedelta(seconds=s)),
    rules=st.builds(
        WindowRules,
        min_length=st.integers(1, 60).map(lambda m: timedelta(minutes=m)),
        max_length=st.integers(60, 24 * 60).map(lambda m: timedelta(minutes=m)),
        max_ahead=st.integers(1, 40).map(lambda d: timedelta(days=d)),
        start_grace=st.integers(0, 600).map(lambda s: timedelta(seconds=s)),
    )
    | st.just(RULES),
)
def test_accepted_exactly_when_every_rule_holds(
    start_offset: timedelta, length: timedelta, rules: WindowRules
) -> None:
    start = NOW + start_offset
    end = start + length
    ok = (
        end > start
        and rules.min_length <= end - start <= rules.max_length
        and NOW - rules.start_grace <= start <= NOW + rules.max_ahead
    )
    try:
        check_window(start, end, NOW, rules)
    except InvalidWindow:
        assert not ok
    else:
        assert ok
