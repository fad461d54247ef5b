"""Tariffs: validation, the JSON round trip, and the UTC price segments of a window.

The price of an instant is the period whose local (wall-clock) weekday and minute contain it;
a wall time skipped by spring-forward belongs to no period, a wall time repeated by fall-back
is charged at its period both times it passes.
"""

from __future__ import annotations

import bisect
import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from csms.domain.tariffs import (
    DAYS,
    PriceSegment,
    Tariff,
    parse_tariff,
    segments,
    tariff_to_json,
)
from csms.errors import ValidationFailed

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
ZONES = [UTC_ZONE, BERLIN, NEW_YORK, LORD_HOWE]

# The 2026 clock changes of the zones above, as UTC instants.
DST_CHANGES = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # Berlin 02:00 CET -> 03:00 CEST
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # Berlin 03:00 CEST -> 02:00 CET
    datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York 02:00 EST -> 03:00 EDT
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York 02:00 EDT -> 01:00 EST
    datetime(2026, 4, 4, 15, tzinfo=UTC),  # Lord Howe 02:00 +11 -> 01:30 +10:30
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # Lord Howe 02:00 +10:30 -> 02:30 +11
]

ALL_DAYS = list(DAYS)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
WEEKEND = ["sat", "sun"]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def period(
    days: list[str], start: str, end: str, energy: str = "0.30", time: str = "0"
) -> dict[str, Any]:
    return {
        "days": days,
        "start": start,
        "end": end,
        "energy_price_per_kwh": energy,
        "time_price_per_hour": time,
    }


def body(*periods: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    tariff: dict[str, Any] = {
        "currency": "EUR",
        "reservation_fee_per_hour": "0.50",
        "session_fee": "1.00",
        "periods": list(periods),
    }
    tariff.update(overrides)
    return tariff


def flat(price: str = "0.30") -> dict[str, Any]:
    return body(period(ALL_DAYS, "00:00", "24:00", price))


def spans(result: list[PriceSegment]) -> list[tuple[datetime, datetime, str]]:
    """Segments as (start, end, energy price) for comparing with expected values."""
    return [(s.start, s.end, str(s.energy_price_per_kwh)) for s in result]


def wall_price(tariff: Tariff, zone: ZoneInfo, instant: datetime) -> tuple[Decimal, Decimal]:
    """The price pair of the period whose local weekday and minute contain ``instant``."""
    local = instant.astimezone(zone)
    found = tariff.period_at(local.weekday(), local.hour * 60 + local.minute)
    return found.energy_price_per_kwh, found.time_price_per_hour


def price_at(result: list[PriceSegment], instant: datetime) -> tuple[Decimal, Decimal]:
    """The price the segments give ``instant`` (they are sorted and contiguous)."""
    hit = result[bisect.bisect_right([s.start for s in result], instant) - 1]
    assert hit.start <= instant < hit.end
    return hit.energy_price_per_kwh, hit.time_price_per_hour


# --------------------------------------------------------------------------- parse_tariff


def test_parses_a_valid_tariff() -> None:
    tariff = parse_tariff(
        body(
            period(WEEKDAYS, "00:00", "07:00", "0.20"),
            period(WEEKDAYS, "07:00", "22:00", "0.45", "1.20"),
            period(WEEKDAYS, "22:00", "24:00", "0.20"),
            period(WEEKEND, "00:00", "24:00", "0.25"),
        )
    )
    assert tariff.currency == "EUR"
    assert tariff.reservation_fee_per_hour == Decimal("0.50")
    assert tariff.session_fee == Decimal("1.00")
    assert len(tariff.periods) == 4
    day = tariff.periods[1]
    assert day.days == frozenset({0, 1, 2, 3, 4})
    assert (day.start_minute, day.end_minute) == (7 * 60, 22 * 60)
    assert day.energy_price_per_kwh == Decimal("0.45")
    assert day.time_price_per_hour == Decimal("1.20")
    assert tariff.periods[2].end_minute == 24 * 60
    # period_at: Wednesday 06:59 is night, 07:00 day, 21:59 day, 22:00 night; Sunday weekend.
    assert tariff.period_at(2, 6 * 60 + 59).energy_price_per_kwh == Decimal("0.20")
    assert tariff.period_at(2, 7 * 60).energy_price_per_kwh == Decimal("0.45")
    assert tariff.period_at(2, 22 * 60 - 1).energy_price_per_kwh == Decimal("0.45")
    assert tariff.period_at(2, 22 * 60).energy_price_per_kwh == Decimal("0.20")
    assert tariff.period_at(6, 12 * 60).energy_price_per_kwh == Decimal("0.25")


def test_accepts_numbers_as_prices_and_repeated_day_names() -> None:
    tariff = parse_tariff(
        body(
            period([*ALL_DAYS, "mon"], "00:00", "24:00", 0.3, 2),  # type: ignore[arg-type]
            reservation_fee_per_hour=1,
            session_fee=0,
        )
    )
    assert tariff.periods[0].days == frozenset(range(7))
    assert tariff.periods[0].energy_price_per_kwh == Decimal("0.3")
    assert tariff.periods[0].time_price_per_hour == Decimal(2)
    assert tariff.reservation_fee_per_hour == Decimal(1)
    assert tariff.session_fee == Decimal(0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"currency": "eur"}, "currency must be an ISO 4217 code"),
        ({"currency": "EURO"}, "currency must be an ISO 4217 code"),
        ({"currency": "E1R"}, "currency must be an ISO 4217 code"),
        ({"currency": 978}, "currency must be an ISO 4217 code"),
        ({"currency": None}, "currency must be an ISO 4217 code"),
        ({"periods": []}, "periods must be a list of 1-336 periods"),
        ({"periods": "all week"}, "periods must be a list of 1-336 periods"),
        (
            {"periods": [period(["mon"], "00:00", "00:05")] * 337},
            "periods must be a list of 1-336 periods",
        ),
        ({"reservation_fee_per_hour": "-0.01"}, "reservation_fee_per_hour must be between 0 and"),
        ({"reservation_fee_per_hour": "NaN"}, "reservation_fee_per_hour must be between 0 and"),
        ({"reservation_fee_per_hour": None}, "reservation_fee_per_hour must be a decimal string"),
        ({"session_fee": "Infinity"}, "session_fee must be between 0 and"),
        ({"session_fee": "one euro"}, "session_fee must be a decimal string"),
        ({"session_fee": True}, "session_fee must be a decimal string"),
        ({"session_fee": "10000.01"}, "session_fee must be between 0 and 10000"),
    ],
)
def test_refuses_bad_top_level_fields(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        parse_tariff({**flat(), **bad})


@pytest.mark.parametrize(
    "missing", ["currency", "periods", "reservation_fee_per_hour", "session_fee"]
)
def test_refuses_a_missing_top_level_field(missing: str) -> None:
    tariff = flat()
    del tariff[missing]
    with pytest.raises(ValidationFailed, match=missing):
        parse_tariff(tariff)


def _with_second_period(**fields: Any) -> dict[str, Any]:
    """A valid tariff whose second period (periods[1]) is altered by ``fields``."""
    second = period(ALL_DAYS, "12:00", "24:00", "0.40")
    second.update(fields)
    return body(period(ALL_DAYS, "00:00", "12:00"), second)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"days": []}, r"periods\[1\]\.days must be a list of mon, tue"),
        ({"days": ["monday"]}, r"periods\[1\]\.days must be a list of mon"),
        ({"days": ["Mon"]}, r"periods\[1\]\.days must be a list of mon"),
        ({"days": "mon"}, r"periods\[1\]\.days must be a list of mon"),
        ({"start": "7:00"}, r"periods\[1\]\.start must be a local time HH:MM \(00:00-24:00\)"),
        ({"start": "12:00:00"}, r"periods\[1\]\.start must be a local time HH:MM"),
        ({"start": "12:60"}, r"periods\[1\]\.start must be a local time HH:MM"),
        ({"start": 720}, r"periods\[1\]\.start must be a local time HH:MM"),
        ({"end": "24:30"}, r"periods\[1\]\.end must be a local time HH:MM"),
        ({"end": "25:00"}, r"periods\[1\]\.end must be a local time HH:MM"),
        ({"end": "24:01"}, r"periods\[1\]\.end must be a local time HH:MM"),
        ({"end": ""}, r"periods\[1\]\.end must be a local time HH:MM"),
        ({"start": "12:00", "end": "12:00"}, r"periods\[1\] must end after it starts"),
        ({"start": "22:00", "end": "02:00"}, r"periods\[1\] must end after it starts \(split"),
        (
            {"energy_price_per_kwh": "-0.10"},
            r"periods\[1\]\.energy_price_per_kwh must be between 0 and 10000",
        ),
        ({"energy_price_per_kwh": "NaN"}, r"periods\[1\]\.energy_price_per_kwh must be between"),
        ({"energy_price_per_kwh": float("nan")}, r"periods\[1\]\.energy_price_per_kwh must be"),
        ({"energy_price_per_kwh": "sNaN"}, r"periods\[1\]\.energy_price_per_kwh must be between"),
        ({"energy_price_per_kwh": "-Infinity"}, r"periods\[1\]\.energy_price_per_kwh must be"),
        ({"energy_price_per_kwh": "0,30"}, r"periods\[1\]\.energy_price_per_kwh must be a decimal"),
        ({"time_price_per_hour": -1}, r"periods\[1\]\.time_price_per_hour must be between"),
        ({"time_price_per_hour": None}, r"periods\[1\]\.time_price_per_hour must be a decimal"),
        ({"colour": "red"}, r"periods\[1\] must have exactly: days, end, energy_price_per_kwh"),
    ],
)
def test_refuses_a_bad_period_naming_it(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        parse_tariff(_with_second_period(**fields))


@pytest.mark.parametrize(
    "field", ["days", "start", "end", "energy_price_per_kwh", "time_price_per_hour"]
)
def test_refuses_a_period_missing_a_field(field: str) -> None:
    tariff = _with_second_period()
    del tariff["periods"][1][field]
    with pytest.raises(ValidationFailed, match=r"periods\[1\] must have exactly"):
        parse_tariff(tariff)


def test_refuses_a_period_that_is_not_an_object() -> None:
    with pytest.raises(ValidationFailed, match=r"periods\[0\] must have exactly"):
        parse_tariff(body(["mon", "00:00", "24:00"]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("periods", "message"),
    [
        (
            [period(ALL_DAYS, "00:00", "12:00"), period(ALL_DAYS, "11:00", "24:00")],
            "periods overlap on mon at 11:00",
        ),
        (
            [
                period(ALL_DAYS, "00:00", "24:00"),
                period(["tue"], "10:00", "11:00"),
            ],
            "periods overlap on tue at 10:00",
        ),
        (
            [period(ALL_DAYS, "00:00", "24:00"), period(ALL_DAYS, "00:00", "24:00")],
            "periods overlap on mon at 00:00",
        ),
        (
            [
                period(ALL_DAYS, "00:00", "10:00"),
                period(["mon", "tue"], "10:00", "24:00"),
                period(["wed", "thu", "fri", "sat", "sun"], "11:00", "24:00"),
            ],
            "no period covers wed 10:00-11:00",
        ),
        (
            [period(ALL_DAYS, "00:30", "24:00")],
            "no period covers mon 00:00-00:30",
        ),
        (
            [period(ALL_DAYS, "00:00", "23:59")],
            "no period covers mon from 23:59",
        ),
        (
            [period(["mon", "tue", "wed", "thu", "fri", "sun"], "00:00", "24:00")],
            "no period covers sat from 00:00",
        ),
        (
            [period(ALL_DAYS, "00:00", "12:00"), period(ALL_DAYS[:-1], "12:00", "24:00")],
            "no period covers sun from 12:00",
        ),
    ],
)
def test_periods_must_cover_every_minute_of_the_week_exactly_once(
    periods: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        parse_tariff(body(*periods))


def test_order_of_periods_does_not_matter() -> None:
    shuffled = parse_tariff(
        body(
            period(ALL_DAYS, "18:00", "24:00", "0.50"),
            period(ALL_DAYS, "00:00", "06:00", "0.20"),
            period(ALL_DAYS, "06:00", "18:00", "0.35"),
        )
    )
    assert shuffled.period_at(3, 5 * 60 + 59).energy_price_per_kwh == Decimal("0.20")
    assert shuffled.period_at(3, 6 * 60).energy_price_per_kwh == Decimal("0.35")
    assert shuffled.period_at(3, 18 * 60).energy_price_per_kwh == Decimal("0.50")
    assert shuffled.period_at(3, 24 * 60 - 1).energy_price_per_kwh == Decimal("0.50")


# --------------------------------------------------------------------------- random tariffs

ENERGY_PRICES = ["0", "0.12", "0.30", "0.45"]
TIME_PRICES = ["0", "1.50"]


@st.composite
def tariff_bodies(draw: st.DrawFn, step: int = 1) -> dict[str, Any]:
    """A valid tariff body: each day cut at random boundaries (multiples of ``step`` minutes),
    some days sharing one layout (multi-day periods), prices from a small set so that
    neighbours often have equal prices (and segments must merge)."""
    slots = 24 * 60 // step
    layouts = draw(
        st.lists(
            st.lists(st.integers(1, slots - 1), max_size=6, unique=True).map(sorted),
            min_size=1,
            max_size=3,
        )
    )
    layout_of_day = draw(st.lists(st.integers(0, len(layouts) - 1), min_size=7, max_size=7))
    per_layout: dict[int, list[dict[str, Any]]] = {}
    for index, cuts in enumerate(layouts):
        edges = [0, *(c * step for c in cuts), 24 * 60]
        per_layout[index] = [
            period(
                [],
                f"{a // 60:02d}:{a % 60:02d}",
                f"{b // 60:02d}:{b % 60:02d}",
                draw(st.sampled_from(ENERGY_PRICES)),
                draw(st.sampled_from(TIME_PRICES)),
            )
            for a, b in itertools.pairwise(edges)
        ]
    for day, index in zip(DAYS, layout_of_day, strict=True):
        for item in per_layout[index]:
            item["days"].append(day)
    periods = [p for ps in per_layout.values() for p in ps if p["days"]]
    return body(
        *draw(st.permutations(periods)),
        currency=draw(st.sampled_from(["EUR", "USD", "AUD"])),
        reservation_fee_per_hour=draw(st.sampled_from(["0", "0.25", "1.00"])),
        session_fee=draw(st.sampled_from(["0", "0.50", "2.35"])),
    )


def instants_near_clock_changes() -> st.SearchStrategy[datetime]:
    anywhere = st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    )
    near_a_change = st.builds(
        lambda change, seconds: change + timedelta(seconds=seconds),
        st.sampled_from(DST_CHANGES),
        st.integers(-2 * 86400, 86400),
    )
    return st.one_of(anywhere, near_a_change)


windows = st.tuples(
    instants_near_clock_changes(),
    st.one_of(
        st.integers(1, 6 * 3600).map(lambda s: timedelta(seconds=s)),
        st.integers(1, 8 * 86400).map(lambda s: timedelta(seconds=s)),
    ),
)


def check_instants(result: list[PriceSegment], start: datetime, end: datetime) -> list[datetime]:
    """Instants worth checking: both sides of every segment edge and of every quarter hour."""
    points = {start, end - timedelta(microseconds=1)}
    for s in result:
        points |= {s.start, s.end - timedelta(microseconds=1)}
    grid = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    while grid < end:
        points |= {grid, grid - timedelta(seconds=1)}
        grid += timedelta(minutes=15)
    return sorted(p for p in points if start <= p < end)


@settings(max_examples=40, deadline=None)
@given(tariff_bodies(), st.sampled_from(ZONES))
def test_tariff_json_round_trips(tariff_body: dict[str, Any], zone: ZoneInfo) -> None:
    tariff = parse_tariff(tariff_body)
    shown = tariff_to_json(tariff)
    assert json.loads(json.dumps(shown)) == shown
    assert parse_tariff(shown) == tariff
    # Days come back in week order, amounts with the same value in one form (two places or more).
    assert [p["days"] for p in shown["periods"]] == [
        sorted(p["days"], key=DAYS.index) for p in tariff_body["periods"]
    ]
    for sent, back in zip(tariff_body["periods"], shown["periods"], strict=True):
        for key in ("energy_price_per_kwh", "time_price_per_hour"):
            assert Decimal(back[key]) == Decimal(sent[key]) and len(back[key].split(".")[1]) >= 2


def test_tariff_to_json_shows_24_00_and_week_order() -> None:
    tariff = parse_tariff(
        body(
            period(["sun", "mon"], "00:00", "08:30", "0.2"),
            period(["sun", "mon"], "08:30", "24:00", "0.40", "1.5"),
            period(["sat", "fri", "thu", "wed", "tue"], "00:00", "24:00", "0.33"),
        )
    )
    assert tariff_to_json(tariff) == {
        "currency": "EUR",
        "reservation_fee_per_hour": "0.50",
        "session_fee": "1.00",
        "periods": [
            period(["mon", "sun"], "00:00", "08:30", "0.20", "0.00"),
            period(["mon", "sun"], "08:30", "24:00", "0.40", "1.50"),
            period(["tue", "wed", "thu", "fri", "sat"], "00:00", "24:00", "0.33", "0.00"),
        ],
    }


# --------------------------------------------------------------------------- segments: properties


@settings(max_examples=60, deadline=None)
@given(tariff_bodies(step=1), st.sampled_from(ZONES), windows)
def test_segments_tile_the_window_and_are_merged(
    tariff_body: dict[str, Any], zone: ZoneInfo, window: tuple[datetime, timedelta]
) -> None:
    tariff = parse_tariff(tariff_body)
    start, length = window
    end = start + length
    result = segments(tariff, zone, start, end)
    assert result, "a non-empty window has at least one segment"
    assert result[0].start == start
    assert result[-1].end == end
    for s in result:
        assert s.start < s.end
        assert s.start.utcoffset() == timedelta(0)
    for a, b in itertools.pairwise(result):
        assert a.end == b.start
        assert (a.energy_price_per_kwh, a.time_price_per_hour) != (
            b.energy_price_per_kwh,
            b.time_price_per_hour,
        )
    assert sum((s.hours for s in result), Decimal(0)) == pytest.approx(
        Decimal(length.total_seconds()) / 3600
    )


@settings(max_examples=60, deadline=None)
@given(tariff_bodies(step=60), st.sampled_from(ZONES), windows)
def test_every_instant_costs_its_wall_clock_period_hourly_boundaries(
    tariff_body: dict[str, Any], zone: ZoneInfo, window: tuple[datetime, timedelta]
) -> None:
    """With boundaries on whole hours every instant, repeated fall-back hours included, is
    charged at the period its local weekday and time fall in."""
    tariff = parse_tariff(tariff_body)
    start, length = window
    end = start + length
    result = segments(tariff, zone, start, end)
    for instant in check_instants(result, start, end):
        assert price_at(result, instant) == wall_price(tariff, zone, instant), instant


@settings(max_examples=60, deadline=None)
@given(tariff_bodies(step=15), st.sampled_from(ZONES), windows)
def test_every_instant_costs_its_wall_clock_period_quarter_hour_boundaries(
    tariff_body: dict[str, Any], zone: ZoneInfo, window: tuple[datetime, timedelta]
) -> None:
    """Any quarter-hour boundary, every instant except the second pass through a repeated
    (fall-back) wall time: see the xfail tests below for that one."""
    tariff = parse_tariff(tariff_body)
    start, length = window
    end = start + length
    result = segments(tariff, zone, start, end)
    for instant in check_instants(result, start, end):
        if instant.astimezone(zone).fold:
            continue
        assert price_at(result, instant) == wall_price(tariff, zone, instant), instant


@settings(max_examples=30, deadline=None)
@given(
    tariff_bodies(step=15),
    st.sampled_from(ZONES),
    windows,
    st.integers(1, 10**6).map(lambda s: timedelta(seconds=s)),
)
def test_splitting_a_window_splits_its_segments(
    tariff_body: dict[str, Any],
    zone: ZoneInfo,
    window: tuple[datetime, timedelta],
    cut: timedelta,
) -> None:
    """The prices of [start, end) are those of [start, mid) followed by those of [mid, end)."""
    tariff = parse_tariff(tariff_body)
    start, length = window
    end = start + length
    mid = start + min(cut, length - timedelta(microseconds=1))
    whole = segments(tariff, zone, start, end)
    halves = segments(tariff, zone, start, mid) + segments(tariff, zone, mid, end)
    rejoined: list[PriceSegment] = []
    for s in halves:
        if rejoined and (rejoined[-1].energy_price_per_kwh, rejoined[-1].time_price_per_hour) == (
            s.energy_price_per_kwh,
            s.time_price_per_hour,
        ):
            rejoined[-1] = PriceSegment(
                rejoined[-1].start, s.end, s.energy_price_per_kwh, s.time_price_per_hour
            )
        else:
            rejoined.append(s)
    assert rejoined == whole


def test_an_empty_or_reversed_window_has_no_segments() -> None:
    tariff = parse_tariff(flat())
    moment = utc(2026, 5, 4, 12)
    assert segments(tariff, BERLIN, moment, moment) == []
    assert segments(tariff, BERLIN, moment, moment - timedelta(hours=1)) == []


# --------------------------------------------------------------------------- segments: examples

DAY_NIGHT = body(
    period(ALL_DAYS, "00:00", "07:00", "0.20"),
    period(ALL_DAYS, "07:00", "22:00", "0.45", "1.20"),
    period(ALL_DAYS, "22:00", "24:00", "0.20"),
)


def test_a_flat_tariff_is_one_segment_for_a_week_and_more() -> None:
    start, end = utc(2026, 3, 25, 13, 7, 30), utc(2026, 4, 3, 9, 0)  # across Berlin's DST
    [only] = segments(parse_tariff(flat("0.31")), BERLIN, start, end)
    assert (only.start, only.end, only.energy_price_per_kwh) == (start, end, Decimal("0.31"))
    assert only.hours == Decimal((end - start).total_seconds()) / 3600


def test_utc_night_merges_across_midnight() -> None:
    result = segments(parse_tariff(DAY_NIGHT), UTC_ZONE, utc(2026, 5, 4, 20), utc(2026, 5, 5, 9))
    assert spans(result) == [
        (utc(2026, 5, 4, 20), utc(2026, 5, 4, 22), "0.45"),
        (utc(2026, 5, 4, 22), utc(2026, 5, 5, 7), "0.20"),
        (utc(2026, 5, 5, 7), utc(2026, 5, 5, 9), "0.45"),
    ]
    assert result[0].time_price_per_hour == Decimal("1.20")
    assert result[1].time_price_per_hour == Decimal(0)
    assert result[1].hours == Decimal(9)


def test_berlin_midnight_between_a_weekday_and_the_weekend() -> None:
    tariff = parse_tariff(
        body(
            period(WEEKDAYS, "00:00", "24:00", "0.40"),
            period(WEEKEND, "00:00", "24:00", "0.25"),
        )
    )
    # Friday 2026-05-08 22:00 to Saturday 02:00 Berlin summer time (UTC+2).
    result = segments(tariff, BERLIN, utc(2026, 5, 8, 20), utc(2026, 5, 9, 0))
    assert spans(result) == [
        (utc(2026, 5, 8, 20), utc(2026, 5, 8, 22), "0.40"),
        (utc(2026, 5, 8, 22), utc(2026, 5, 9, 0), "0.25"),
    ]
    # Sunday to Monday, winter time (UTC+1): the weekend ends at 23:00 UTC.
    result = segments(tariff, BERLIN, utc(2026, 1, 11, 20), utc(2026, 1, 12, 3))
    assert spans(result) == [
        (utc(2026, 1, 11, 20), utc(2026, 1, 11, 23), "0.25"),
        (utc(2026, 1, 11, 23), utc(2026, 1, 12, 3), "0.40"),
    ]


def test_a_window_spanning_a_week_sees_every_day() -> None:
    prices = ["0.11", "0.12", "0.13", "0.14", "0.15", "0.16", "0.17"]
    tariff = parse_tariff(
        body(
            *(
                period([day], "00:00", "24:00", price)
                for day, price in zip(DAYS, prices, strict=True)
            )
        )
    )
    # Wednesday 2026-05-06 12:00 New York (EDT, UTC-4) to the next Wednesday 12:00.
    start = utc(2026, 5, 6, 16)
    result = segments(tariff, NEW_YORK, start, start + timedelta(days=7))
    local_midnights = [utc(2026, 5, d, 4) for d in range(7, 14)]
    assert [s.start for s in result] == [start, *local_midnights]
    assert [s.end for s in result] == [*local_midnights, start + timedelta(days=7)]
    assert [str(s.energy_price_per_kwh) for s in result] == [
        "0.13", "0.14", "0.15", "0.16", "0.17", "0.11", "0.12", "0.13",
    ]  # fmt: skip
    assert [s.hours for s in result] == [12, 24, 24, 24, 24, 24, 24, 12]


BERLIN_NIGHT = body(
    period(ALL_DAYS, "00:00", "02:00", "0.10"),
    period(ALL_DAYS, "02:00", "03:00", "0.20"),
    period(ALL_DAYS, "03:00", "24:00", "0.30"),
)


def test_berlin_spring_forward_the_missing_hour_belongs_to_no_period() -> None:
    # 2026-03-29: 02:00 CET (01:00 UTC) jumps to 03:00 CEST; 02:00-03:00 never happens.
    result = segments(parse_tariff(BERLIN_NIGHT), BERLIN, utc(2026, 3, 28, 23), utc(2026, 3, 29, 3))
    assert spans(result) == [
        (utc(2026, 3, 28, 23), utc(2026, 3, 29, 1), "0.10"),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 3), "0.30"),
    ]


@pytest.mark.parametrize("boundary", ["02:00", "02:30", "03:00"])
def test_berlin_spring_forward_boundaries_in_or_at_the_gap_fall_at_the_jump(boundary: str) -> None:
    tariff = parse_tariff(
        body(
            period(ALL_DAYS, "00:00", boundary, "0.10"),
            period(ALL_DAYS, boundary, "24:00", "0.30"),
        )
    )
    result = segments(tariff, BERLIN, utc(2026, 3, 28, 23), utc(2026, 3, 29, 3))
    assert spans(result) == [
        (utc(2026, 3, 28, 23), utc(2026, 3, 29, 1), "0.10"),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 3), "0.30"),
    ]


def test_berlin_spring_forward_a_period_inside_the_gap_does_not_exist_that_day() -> None:
    tariff = parse_tariff(
        body(
            period(ALL_DAYS, "00:00", "02:15", "0.10"),
            period(ALL_DAYS, "02:15", "02:45", "0.99"),
            period(ALL_DAYS, "02:45", "24:00", "0.30"),
        )
    )
    result = segments(tariff, BERLIN, utc(2026, 3, 28, 23), utc(2026, 3, 29, 3))
    assert spans(result) == [
        (utc(2026, 3, 28, 23), utc(2026, 3, 29, 1), "0.10"),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 3), "0.30"),
    ]
    # ... but the next day it does, for its half hour (00:15-00:45 UTC in summer time).
    result = segments(tariff, BERLIN, utc(2026, 3, 29, 23), utc(2026, 3, 30, 3))
    assert (utc(2026, 3, 30, 0, 15), utc(2026, 3, 30, 0, 45), "0.99") in spans(result)


def test_berlin_fall_back_the_repeated_hour_is_charged_for_two_hours() -> None:
    # 2026-10-25: 03:00 CEST (01:00 UTC) goes back to 02:00 CET; 02:00-03:00 happens twice.
    result = segments(
        parse_tariff(BERLIN_NIGHT), BERLIN, utc(2026, 10, 24, 22), utc(2026, 10, 25, 4)
    )
    assert spans(result) == [
        (utc(2026, 10, 24, 22), utc(2026, 10, 25, 0), "0.10"),
        (utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), "0.20"),
        (utc(2026, 10, 25, 2), utc(2026, 10, 25, 4), "0.30"),
    ]
    assert result[1].hours == Decimal(2)


def test_berlin_fall_back_boundary_inside_the_repeated_hour() -> None:
    tariff = parse_tariff(
        body(
            period(ALL_DAYS, "00:00", "02:30", "0.10"),
            period(ALL_DAYS, "02:30", "24:00", "0.50"),
        )
    )
    result = segments(tariff, BERLIN, utc(2026, 10, 24, 22), utc(2026, 10, 25, 3))
    # Wall clock: 00:00-02:30 CEST, 02:30-03:00 CEST, 02:00-02:30 CET, 02:30-05:00 CET.
    assert spans(result) == [
        (utc(2026, 10, 24, 22), utc(2026, 10, 25, 0, 30), "0.10"),
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1), "0.50"),
        (utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 30), "0.10"),
        (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 3), "0.50"),
    ]


@settings(max_examples=20, deadline=None)
@example(
    tariff_body=body(
        period(ALL_DAYS, "00:00", "02:30", "0.10"), period(ALL_DAYS, "02:30", "24:00", "0.50")
    ),
    zone=BERLIN,
    window=(utc(2026, 10, 24, 22), timedelta(hours=5)),
)
@given(tariff_bodies(step=15), st.sampled_from(ZONES), windows)
def test_every_instant_costs_its_wall_clock_period_including_repeated_times(
    tariff_body: dict[str, Any], zone: ZoneInfo, window: tuple[datetime, timedelta]
) -> None:
    tariff = parse_tariff(tariff_body)
    start, length = window
    end = start + length
    result = segments(tariff, zone, start, end)
    for instant in check_instants(result, start, end):
        assert price_at(result, instant) == wall_price(tariff, zone, instant), instant


def test_new_york_spring_forward_and_fall_back() -> None:
    tariff = parse_tariff(
        body(
            period(ALL_DAYS, "00:00", "01:00", "0.10"),
            period(ALL_DAYS, "01:00", "02:00", "0.20"),
            period(ALL_DAYS, "02:00", "03:00", "0.99"),
            period(ALL_DAYS, "03:00", "24:00", "0.30"),
        )
    )
    # 2026-03-08: 02:00 EST (07:00 UTC) jumps to 03:00 EDT; the 0.99 hour does not exist.
    spring = segments(tariff, NEW_YORK, utc(2026, 3, 8, 5), utc(2026, 3, 8, 9))
    assert spans(spring) == [
        (utc(2026, 3, 8, 5), utc(2026, 3, 8, 6), "0.10"),
        (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), "0.20"),
        (utc(2026, 3, 8, 7), utc(2026, 3, 8, 9), "0.30"),
    ]
    # 2026-11-01: 02:00 EDT (06:00 UTC) goes back to 01:00 EST; 01:00-02:00 lasts two hours.
    fall = segments(tariff, NEW_YORK, utc(2026, 11, 1, 4), utc(2026, 11, 1, 9))
    assert spans(fall) == [
        (utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), "0.10"),
        (utc(2026, 11, 1, 5), utc(2026, 11, 1, 7), "0.20"),
        (utc(2026, 11, 1, 7), utc(2026, 11, 1, 8), "0.99"),
        (utc(2026, 11, 1, 8), utc(2026, 11, 1, 9), "0.30"),
    ]


def test_lord_howe_half_hour_clock_changes() -> None:
    tariff = parse_tariff(
        body(
            period(ALL_DAYS, "00:00", "01:30", "0.10"),
            period(ALL_DAYS, "01:30", "02:00", "0.20"),
            period(ALL_DAYS, "02:00", "02:30", "0.99"),
            period(ALL_DAYS, "02:30", "24:00", "0.30"),
        )
    )
    # 2026-10-04: 02:00 (+10:30, 15:30 UTC the day before) jumps to 02:30 (+11).
    spring = segments(tariff, LORD_HOWE, utc(2026, 10, 3, 14), utc(2026, 10, 3, 17))
    assert spans(spring) == [
        (utc(2026, 10, 3, 14), utc(2026, 10, 3, 15), "0.10"),
        (utc(2026, 10, 3, 15), utc(2026, 10, 3, 15, 30), "0.20"),
        (utc(2026, 10, 3, 15, 30), utc(2026, 10, 3, 17), "0.30"),
    ]
    # 2026-04-05: 02:00 (+11, 15:00 UTC the day before) goes back to 01:30 (+10:30):
    # 01:30-02:00 happens twice, an hour in all.
    fall = segments(tariff, LORD_HOWE, utc(2026, 4, 4, 14), utc(2026, 4, 4, 17))
    assert spans(fall) == [
        (utc(2026, 4, 4, 14), utc(2026, 4, 4, 14, 30), "0.10"),
        (utc(2026, 4, 4, 14, 30), utc(2026, 4, 4, 15, 30), "0.20"),
        (utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 16), "0.99"),
        (utc(2026, 4, 4, 16), utc(2026, 4, 4, 17), "0.30"),
    ]
    assert fall[1].hours == Decimal(1)


def test_a_window_given_in_local_time_gives_the_same_instants() -> None:
    tariff = parse_tariff(DAY_NIGHT)
    berlin_start = datetime(2026, 5, 4, 21, tzinfo=BERLIN)  # 19:00 UTC
    result = segments(tariff, BERLIN, berlin_start, berlin_start + timedelta(hours=3))
    assert [(s.start, s.end) for s in result] == [
        (utc(2026, 5, 4, 19), utc(2026, 5, 4, 20)),
        (utc(2026, 5, 4, 20), utc(2026, 5, 4, 22)),
    ]
    assert [s.energy_price_per_kwh for s in result] == [Decimal("0.45"), Decimal("0.20")]
