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


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+01:00",  # 0000-12-31T23:00Z: before datetime's first year
        "0001-01-01T00:59:59.999999+01:00",
        "9999-12-31T23:59:59-01:00",  # 10000-01-01T00:59:59Z: after its last
        "9999-12-31T23:00:00-23:59",
    ],
)
def test_refuses_times_an_offset_moves_outside_the_years_1_to_9999(text: str) -> None:
    """They are valid RFC 3339 where they were written; converting them to UTC overflowed."""
    with pytest.raises(TimestampError, match="outside the years 1-9999"):
        parse_timestamp(text)
    with pytest.raises(TimestampError):
        parse_timestamp(text, require_offset=True)


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00",  # naive: UTC, the same instant
        "0001-01-01T01:00:00+01:00",
        "9999-12-31T23:59:59.999999Z",
        "9999-12-31T22:59:59.999999-01:00",
    ],
)
def test_refuses_the_two_instants_postgresql_would_store_as_infinity(text: str) -> None:
    with pytest.raises(TimestampError, match="infinity"):
        parse_timestamp(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0001-01-01T00:00:00.000001Z", datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
        ("0001-01-01T01:00:00.000001+01:00", datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59.999998Z", datetime(9999, 12, 31, 23, 59, 59, 999998, tzinfo=UTC)),
        ("9999-12-31T22:59:59-01:00", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_reads_times_next_to_the_ends(text: str, expected: datetime) -> None:
    assert parse_timestamp(text, require_offset=True) == expected


def test_formats_the_first_years_with_four_digits() -> None:
    moment = datetime(1, 2, 3, 4, 5, 6, 7000, tzinfo=UTC)
    assert format_timestamp(moment) == "0001-02-03T04:05:06.007Z"
    assert format_timestamp(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000Z"


@given(
    st.datetimes(
        timezones=st.timezones(), min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)
    )
)
def test_round_trip_over_every_year(moment: datetime) -> None:
    back = parse_timestamp(format_timestamp(moment))
    assert abs(back - moment) < timedelta(milliseconds=1)


_RFC3339_LIKE = st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?",
    fullmatch=True,
)


@st.composite
def _near_the_ends(draw: st.DrawFn) -> str:
    """The first or last day datetime holds, at any time of day, with offsets that cross it."""
    day = draw(st.sampled_from(["0001-01-01", "9999-12-31"]))
    offset = draw(st.sampled_from(["", "Z", "+00:00", "+01:00", "-01:00", "+23:59", "-23:59"]))
    return f"{day}T{draw(st.times()).isoformat()}{offset}"


@given(st.one_of(_near_the_ends(), _RFC3339_LIKE, st.text(max_size=40)), st.booleans())
def test_raises_only_timestamp_error_and_returns_storable_utc(
    text: str, require_offset: bool
) -> None:
    """The OCPP and HTTP edges catch TimestampError alone: anything else would be a crash."""
    try:
        moment = parse_timestamp(text, require_offset=require_offset)
    except TimestampError:
        return
    assert moment.tzinfo is UTC
    assert datetime.min.replace(tzinfo=UTC) < moment < datetime.max.replace(tzinfo=UTC)
    format_timestamp(moment)
