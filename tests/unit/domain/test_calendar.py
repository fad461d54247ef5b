"""The booking's calendar file: RFC 5545 line endings, folding, escaping, UTC times, and the
code for its owner only."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from csms.domain.calendar import CalendarBooking, booking_calendar, escape_text, fold

BERLIN_SUMMER = timezone(timedelta(hours=2))
BOOKING = CalendarBooking(
    reservation_id=42,
    created_at=datetime(2026, 6, 1, 8, 0, 0, 123456, tzinfo=UTC),
    start=datetime(2026, 6, 2, 18, 0, tzinfo=BERLIN_SUMMER),
    end=datetime(2026, 6, 2, 19, 30, tzinfo=BERLIN_SUMMER),
    status="booked",
    site_name="Yard; North, Gate 2",
    site_address="Hauptstraße 1\n10115 Berlin",
    latitude=52.52,
    longitude=13.405,
    charge_point_id="CP-1",
    connector_id=2,
    code="123456",
)
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def unfolded(text: str) -> dict[str, str]:
    """Property name → value, after unfolding (RFC 5545 3.1)."""
    lines = text.replace("\r\n ", "").split("\r\n")
    return dict(line.split(":", 1) for line in lines if line)


def test_one_event_in_utc_with_crlf_line_endings() -> None:
    text = booking_calendar(BOOKING, NOW)
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith(
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert "\n" not in text.replace("\r\n", "")
    assert text.count("BEGIN:VEVENT") == 1
    props = unfolded(text)
    assert props["DTSTART"] == "20260602T160000Z" and props["DTEND"] == "20260602T173000Z"
    assert props["DTSTAMP"] == "20260601T090000Z"
    assert props["GEO"] == "52.520000;13.405000"
    assert props["STATUS"] == "CONFIRMED"


def test_text_is_escaped_and_the_code_is_for_the_owner_only() -> None:
    props = unfolded(booking_calendar(BOOKING, NOW))
    assert props["LOCATION"] == "Yard\\; North\\, Gate 2\\, Hauptstraße 1\\n10115 Berlin"
    assert props["DESCRIPTION"] == "Charger CP-1\\, connector 2\\nCode: 123456"
    anyone = unfolded(booking_calendar(dataclasses.replace(BOOKING, code=None), NOW))
    assert "123456" not in "".join(anyone.values())
    assert anyone["DESCRIPTION"] == "Charger CP-1\\, connector 2"


def test_the_uid_is_stable_per_booking() -> None:
    first = unfolded(booking_calendar(BOOKING, NOW))["UID"]
    later = dataclasses.replace(BOOKING, status="cancelled", start=BOOKING.start + timedelta(1))
    again = unfolded(booking_calendar(later, NOW + timedelta(days=3)))
    assert again["UID"] == first and again["STATUS"] == "CANCELLED"
    other = unfolded(booking_calendar(dataclasses.replace(BOOKING, reservation_id=43), NOW))
    assert other["UID"] != first


def test_no_site_no_location() -> None:
    props = unfolded(
        booking_calendar(
            dataclasses.replace(BOOKING, site_name=None, site_address=None, latitude=None), NOW
        )
    )
    assert "LOCATION" not in props and "GEO" not in props
    assert props["SUMMARY"] == "Charging at CP-1 (booking 42)"


def test_escaping() -> None:
    assert escape_text("a\\b;c,d\r\ne") == "a\\\\b\\;c\\,d\\ne"


@given(st.text(min_size=0, max_size=400))
def test_folded_lines_are_at_most_75_octets_and_unfold_to_the_line(line: str) -> None:
    line = line.replace("\r", "").replace("\n", "")
    folded = fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line


def test_long_multibyte_text_folds_between_characters() -> None:
    site = dataclasses.replace(BOOKING, site_name="Ladepark " + "Ü" * 60)
    text = booking_calendar(site, NOW)
    for physical in text.split("\r\n"):
        assert len(physical.encode()) <= 75
        physical.encode().decode()  # every piece is whole UTF-8
    assert unfolded(text)["SUMMARY"].startswith("Charging at Ladepark ÜÜ")
