from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms.domain.timestamps import TimestampError, format_timestamp, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00.5Z", datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-01T10:00:00.123456789Z", datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-01T11:00:00+01:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T05:30:00-04:30", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),  # naive: taken as UTC
        ("2026-03-01t10:00:00z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
    ],
)
def test_parses_what_chargers_send(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected
    assert parse_timestamp(text).tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-03-01", "01/03/2026 10:00:00", "2026-13-01T00:00:00Z"]
)
def test_refuses_what_is_not_a_date_time(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(text)


def test_formats_utc_with_z_and_milliseconds() -> None:
    moment = datetime(2026, 3, 1, 11, 0, 0, 987654, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(moment) == "2026-03-01T10:00:00.987Z"


def test_refuses_to_format_naive() -> None:
    with pytest.raises(TimestampError):
        format_timestamp(datetime(2026, 1, 1))


@given(
    st.datetimes(
        timezones=st.timezones(), min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1)
    )
)
def test_round_trip_to_the_millisecond(moment: datetime) -> None:
    back = parse_timestamp(format_timestamp(moment))
    assert abs(back - moment) < timedelta(milliseconds=1)
