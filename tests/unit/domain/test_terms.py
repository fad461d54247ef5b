"""Booking terms as pure rules: merged with defaults, checked, and what they make a booking
hold, cost and allow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from csms.domain.terms import (
    BookingTerms,
    check_consistent,
    check_terms,
    loosest_window,
    stored_after,
    terms_json,
)
from csms.errors import ValidationFailed

START = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def test_a_site_overrides_only_what_it_sets() -> None:
    defaults = BookingTerms(max_booking_minutes=600)
    terms = BookingTerms.merged(defaults, {"noshow_fee": "2.50", "buffer_minutes": 5})
    assert terms.max_booking_minutes == 600 and terms.buffer_minutes == 5
    assert terms.noshow_fee == Decimal("2.50")
    assert BookingTerms.merged(BookingTerms(), terms_json(terms)) == terms, "a snapshot is exact"
    assert BookingTerms.merged(defaults, {"noshow_fee": None}) == defaults, "None sets nothing"


def test_what_a_booking_holds() -> None:
    terms = BookingTerms(early_start_minutes=10, late_stop_minutes=5, buffer_minutes=15)
    assert terms.held(START, END) == (START - timedelta(minutes=10), END + timedelta(minutes=20))
    assert BookingTerms().held(START, END) == (START, END)


def test_no_show_cancellation_and_change_cut_offs() -> None:
    terms = BookingTerms(noshow_timeout_minutes=15, cancel_until_minutes=60,
                         change_until_minutes=30)
    assert terms.noshow_at(START, END) == START + timedelta(minutes=15)
    assert terms.noshow_at(START, START + timedelta(minutes=10)) == START + timedelta(minutes=10)
    assert not terms.cancel_is_late(START, START - timedelta(minutes=61))
    assert terms.cancel_is_late(START, START - timedelta(minutes=60))
    assert terms.may_move_start(START, START - timedelta(minutes=31))
    assert not terms.may_move_start(START, START - timedelta(minutes=30))


@pytest.mark.parametrize(
    "body",
    [
        [], "x", {"nope": 1}, {"buffer_minutes": -1}, {"buffer_minutes": 241},
        {"buffer_minutes": True}, {"buffer_minutes": "5"}, {"buffer_minutes": 2.0},
        {"noshow_fee": "-0.01"}, {"noshow_fee": "nan"}, {"noshow_fee": "10001"},
        {"tax_rate_percent": "100.01"}, {"max_days_ahead": 2**64}, {"min_booking_minutes": 4},
    ],
)
def test_bad_terms_are_refused(body: object) -> None:
    with pytest.raises(ValidationFailed):
        check_terms(body)


def test_terms_are_stored_normalised_and_null_removes() -> None:
    checked = check_terms({"noshow_fee": 3, "tax_rate_percent": "7.5", "buffer_minutes": None})
    assert checked == {"noshow_fee": "3.00", "tax_rate_percent": "7.50", "buffer_minutes": None}
    assert stored_after({"buffer_minutes": 5, "cancel_fee": "1.00"}, checked) == {
        "cancel_fee": "1.00", "noshow_fee": "3.00", "tax_rate_percent": "7.50",
    }


def test_contradicting_terms_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="min_booking_minutes"):
        check_consistent(BookingTerms(min_booking_minutes=120, max_booking_minutes=60))


def test_a_search_of_every_site_lets_through_what_any_site_allows() -> None:
    defaults = BookingTerms()
    rules = loosest_window(defaults, [{"max_booking_minutes": 1440}, {"min_booking_minutes": 5}])
    assert rules.min_length == timedelta(minutes=5) and rules.max_length == timedelta(hours=24)
    assert rules.max_ahead == timedelta(days=30)
    assert loosest_window(defaults, []) == defaults.window_rules
