"""Tariffs: time-of-use periods in the site's local time, and the price of a window.

A tariff's periods together cover every minute of the week exactly once (days ``mon``..``sun``,
``start``/``end`` as ``HH:MM`` local time, ``end`` may be ``24:00``; a period never crosses
midnight — split it in two). Prices of a window are found by laying each local day's periods
onto UTC with the site's time zone, so midnight and DST changes fall where the clock on the
wall says: on a spring-forward day the missing hour belongs to no period, on a fall-back day
the repeated hour is charged at the period it belongs to, for its real (two-hour) length.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from csms.domain.money import format_price, parse_amount
from csms.errors import ValidationFailed

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_CLOCK = re.compile(r"([01]\d|2[0-4]):([0-5]\d)")
_CURRENCY = re.compile(r"[A-Z]{3}")
HOUR = Decimal(3600)


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    days: frozenset[int]  # 0 = Monday
    start_minute: int
    end_minute: int
    energy_price_per_kwh: Decimal
    time_price_per_hour: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class Tariff:
    currency: str
    reservation_fee_per_hour: Decimal
    session_fee: Decimal
    periods: tuple[Period, ...]

    def period_at(self, weekday: int, minute: int) -> Period:
        for period in self.periods:
            if weekday in period.days and period.start_minute <= minute < period.end_minute:
                return period
        raise AssertionError("a validated tariff covers the whole week")


@dataclasses.dataclass(frozen=True, slots=True)
class PriceSegment:
    """A stretch of time [start, end) in UTC with one price."""

    start: datetime
    end: datetime
    energy_price_per_kwh: Decimal
    time_price_per_hour: Decimal

    @property
    def hours(self) -> Decimal:
        return Decimal((self.end - self.start).total_seconds()) / HOUR


def parse_tariff(body: dict[str, Any]) -> Tariff:
    """Validate a tariff as the API receives it (see the module docstring)."""
    currency = body.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValidationFailed("currency must be an ISO 4217 code such as EUR")
    periods = body.get("periods")
    if not isinstance(periods, list) or not 1 <= len(periods) <= 7 * 48:
        raise ValidationFailed("periods must be a list of 1-336 periods")
    tariff = Tariff(
        currency=currency,
        reservation_fee_per_hour=parse_amount(
            body.get("reservation_fee_per_hour"), "reservation_fee_per_hour"
        ),
        session_fee=parse_amount(body.get("session_fee"), "session_fee"),
        periods=tuple(_parse_period(item, n) for n, item in enumerate(periods)),
    )
    _check_coverage(tariff.periods)
    return tariff


def _parse_period(item: object, n: int) -> Period:
    fields = {"days", "start", "end", "energy_price_per_kwh", "time_price_per_hour"}
    if not isinstance(item, dict) or set(item) != fields:
        raise ValidationFailed(f"periods[{n}] must have exactly: {', '.join(sorted(fields))}")
    days = item["days"]
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        raise ValidationFailed(f"periods[{n}].days must be a list of {', '.join(DAYS)}")
    start, end = (
        _minute(item["start"], f"periods[{n}].start"),
        _minute(item["end"], f"periods[{n}].end"),
    )
    if start >= end:
        raise ValidationFailed(f"periods[{n}] must end after it starts (split periods at midnight)")
    return Period(
        days=frozenset(DAYS.index(d) for d in days),
        start_minute=start,
        end_minute=end,
        energy_price_per_kwh=parse_amount(
            item["energy_price_per_kwh"], f"periods[{n}].energy_price_per_kwh"
        ),
        time_price_per_hour=parse_amount(
            item["time_price_per_hour"], f"periods[{n}].time_price_per_hour"
        ),
    )


def _minute(value: object, name: str) -> int:
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValidationFailed(f"{name} must be a local time HH:MM (00:00-24:00)")
    return int(match.group(1)) * 60 + int(match.group(2))


def _check_coverage(periods: tuple[Period, ...]) -> None:
    for day in range(7):
        spans = sorted((p.start_minute, p.end_minute) for p in periods if day in p.days)
        reached = 0
        for start, end in spans:
            if start < reached:
                raise ValidationFailed(f"periods overlap on {DAYS[day]} at {_clock(start)}")
            if start > reached:
                raise ValidationFailed(
                    f"no period covers {DAYS[day]} {_clock(reached)}-{_clock(start)}"
                )
            reached = end
        if reached != MINUTES_PER_DAY:
            raise ValidationFailed(f"no period covers {DAYS[day]} from {_clock(reached)}")


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def tariff_to_json(tariff: Tariff) -> dict[str, Any]:
    """The tariff as the API shows it (and as it is stored)."""
    return {
        "currency": tariff.currency,
        "reservation_fee_per_hour": format_price(tariff.reservation_fee_per_hour),
        "session_fee": format_price(tariff.session_fee),
        "periods": [
            {
                "days": [DAYS[d] for d in sorted(p.days)],
                "start": _clock(p.start_minute),
                "end": _clock(p.end_minute),
                "energy_price_per_kwh": format_price(p.energy_price_per_kwh),
                "time_price_per_hour": format_price(p.time_price_per_hour),
            }
            for p in tariff.periods
        ],
    }


def segments(tariff: Tariff, zone: ZoneInfo, start: datetime, end: datetime) -> list[PriceSegment]:
    """The prices over [start, end): contiguous segments, neighbours with equal prices merged."""
    merged: list[PriceSegment] = []
    for segment in _raw_segments(tariff, zone, start, end):
        last = merged[-1] if merged else None
        if last and (last.energy_price_per_kwh, last.time_price_per_hour) == (
            segment.energy_price_per_kwh,
            segment.time_price_per_hour,
        ):
            merged[-1] = dataclasses.replace(last, end=segment.end)
        else:
            merged.append(segment)
    return merged


def price_at(tariff: Tariff, zone: ZoneInfo, moment: datetime) -> Period:
    """The period whose wall-clock time contains ``moment``."""
    local = moment.astimezone(zone)
    return tariff.period_at(local.weekday(), local.hour * 60 + local.minute)


def _raw_segments(
    tariff: Tariff, zone: ZoneInfo, start: datetime, end: datetime
) -> Iterator[PriceSegment]:
    """Cut [start, end) wherever the wall clock crosses a period boundary or jumps, then
    price each piece by the wall time at its start (constant within a piece)."""
    if end <= start:
        return
    points = sorted(_cuts(tariff, zone, start, end) | {start, end})
    for lo, hi in itertools.pairwise(points):
        period = price_at(tariff, zone, lo)
        yield PriceSegment(lo, hi, period.energy_price_per_kwh, period.time_price_per_hour)


def _cuts(tariff: Tariff, zone: ZoneInfo, start: datetime, end: datetime) -> set[datetime]:
    minutes = {p.start_minute for p in tariff.periods} | {p.end_minute for p in tariff.periods}
    cuts: set[datetime] = set()
    day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        # Both passes through a repeated wall time (fall back) are crossings.
        instants = {_utc(day, minute, zone, fold) for minute in minutes for fold in (0, 1)}
        jump = _jump(day, zone)
        if jump is not None:
            instants.add(jump)
        cuts |= {t for t in instants if start < t < end}
        day += timedelta(days=1)
    return cuts


def _jump(day: date, zone: ZoneInfo) -> datetime | None:
    """The instant during local ``day`` when the UTC offset changes (DST), if it does."""
    lo, hi = _utc(day, 0, zone), _utc(day + timedelta(days=1), 0, zone)
    if lo.astimezone(zone).utcoffset() == hi.astimezone(zone).utcoffset():
        return None
    return _bisect(
        lo, hi, lambda t: t.astimezone(zone).utcoffset() == hi.astimezone(zone).utcoffset()
    )


def _utc(day: date, minute: int, zone: ZoneInfo, fold: int = 0) -> datetime:
    """The UTC instant at which the wall clock of ``zone`` reads ``day`` + ``minute``.

    A repeated time (fall back) has two: ``fold`` 0 is the first, 1 the second. A time that
    does not exist (spring forward) is the moment of the jump, when the clock first reads a
    later time.
    """
    if minute == MINUTES_PER_DAY:
        return _utc(day + timedelta(days=1), 0, zone, fold)
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    instant = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == naive:
        return instant
    # In the gap: the jump lies between the two readings of the offset.
    first = naive.replace(tzinfo=zone).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(first, second), max(first, second)
    return _bisect(lo, hi, lambda t: t.astimezone(zone).replace(tzinfo=None) >= naive)


def _bisect(lo: datetime, hi: datetime, reached: Callable[[datetime], bool]) -> datetime:
    """The first whole second in (lo, hi] at which ``reached`` holds (it holds at ``hi``)."""
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if reached(mid):
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)
