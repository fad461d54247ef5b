"""What a session cost, from its meter as chargers really report it (S 7.31, 7.43).

Chargers' readings are not to be trusted blindly: clocks fall back to 1970 or jump years, a
meter restarts from 0 after a reboot, a sample can carry an absurd value, samples may predate
the transaction. So, for each transaction:

- the *priced span* is [start, stop] as the charger stamped them when those are plausible
  against when the CSMS received the messages, else the receipt times; it is never longer
  than :data:`MAX_SESSION` (which also bounds the CPU pricing costs);
- readings are meterStart at the start, the samples inside the span, meterStop at the stop;
  samples outside the span, and values no meter can show, are stored but not priced;
- energy is the sum of the register's rises: a fall is a reset, and the register continues
  from its new value;
- each rise is spread evenly over the time between its two readings and priced by the tariff
  segment it falls in (S 7.43 register values are cumulative).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from csms.domain.meter_values import Meter, Reading
from csms.domain.money import format_money, format_price, round_money
from csms.domain.tariffs import HOUR, PriceSegment, Tariff, price_at, segments
from csms.domain.timestamps import format_timestamp

KWH = Decimal(1000)
#: No connector delivers more; a rise that needs more power is an absurd reading.
MAX_POWER_W = Decimal(1_000_000)
#: Readings stamped close together (whole seconds; a quick session) may differ by this much.
SLACK_WH = Decimal(10_000)
#: A session longer than this is a wrong clock.
MAX_SESSION = timedelta(hours=72)
#: How long a charger may plausibly have kept a start queued while offline.
MAX_OFFLINE = timedelta(days=7)
#: How far ahead of the CSMS's clock a charger's may run.
CLOCK_TOLERANCE = timedelta(minutes=5)
#: Register values are int64 Wh at most (meterStart/meterStop are integers, S 6.45/6.49).
MAX_REGISTER_WH = Decimal(2**63 - 1)


def priced_span(meter: Meter) -> tuple[datetime, datetime]:
    """The [start, stop] that is priced (see the module docstring).

    The charger's own stamps when they hang together (stop after start, within
    :data:`MAX_SESSION`, not ahead of the CSMS's clock) — a session queued offline for days is
    priced when it happened. Otherwise the end that is off is replaced by when the CSMS
    received it; a stuck clock (every stamp the same) by both receipt times.
    """
    start, stop = meter.started_at, meter.stopped_at
    if start < stop <= meter.stop_received_at + CLOCK_TOLERANCE and stop - start <= MAX_SESSION:
        return start, stop
    if start == stop and meter.stop_received_at - meter.start_received_at <= CLOCK_TOLERANCE:
        return start, stop  # A session of one instant.
    if start == stop:
        start, stop = meter.start_received_at, meter.stop_received_at
    received = meter.start_received_at
    if not received - MAX_OFFLINE <= start <= received + CLOCK_TOLERANCE:
        start = received
    if not start <= stop <= meter.stop_received_at + CLOCK_TOLERANCE:
        stop = meter.stop_received_at
    return start, max(start, min(stop, start + MAX_SESSION))


def priced_readings(meter: Meter) -> list[Reading]:
    """The readings that count, in time order, placed in the priced span; absurd ones left out.

    Which samples belong to the session, and whether a rise is physically possible, is judged
    by the charger's own stamps (they are consistent with each other even when its clock is
    off); the time each counts at is then clamped into :func:`priced_span`.
    """
    stamped = _stamped(meter)
    kept = _plausible([*stamped, Reading(_stop_stamp(meter), meter.meter_stop)])
    start, stop = priced_span(meter)
    return [Reading(min(max(r.at, start), stop), r.wh) for r in kept]


def last_reading(meter: Meter) -> Reading:
    """The last plausible reading of a session that ended without a StopTransaction (its
    ``stopped_at``/``stop_received_at``: when the CSMS learned of it; ``meter_stop`` unused).
    Its time is the charger's stamp, kept within the priced span."""
    last = _plausible(_stamped(meter))[-1]
    start, stop = priced_span(meter)
    return Reading(min(max(last.at, start), stop), last.wh)


def _stop_stamp(meter: Meter) -> datetime:
    """Where the stop reading sits on the charger's own time line."""
    if meter.stopped_at > meter.started_at:
        return meter.stopped_at
    # Its clock fell back or stood still: place the stop by the CSMS's clock instead.
    return meter.started_at + max(meter.stop_received_at - meter.start_received_at, timedelta(0))


def _stamped(meter: Meter) -> list[Reading]:
    """meterStart and the samples stamped within the session, by the charger's clock."""
    lo, hi = meter.started_at, _stop_stamp(meter)
    inside = sorted((s for s in meter.samples if lo <= s.at <= hi), key=_time)
    return [Reading(lo, meter.meter_start), *inside]


def _time(reading: Reading) -> datetime:
    return reading.at  # Sorting by time alone keeps readings of one instant in their order.


def _plausible(points: list[Reading]) -> list[Reading]:
    kept: list[Reading] = []
    for reading in points:
        if not Decimal(0) <= reading.wh <= MAX_REGISTER_WH:
            continue
        if kept and reading.wh - kept[-1].wh > _most_energy(kept[-1].at, reading.at):
            continue
        kept.append(reading)
    if not kept:  # Nothing plausible at all: nothing was delivered, at the start.
        kept.append(Reading(points[0].at, Decimal(0)))
    return kept


def _most_energy(a: datetime, b: datetime) -> Decimal:
    return MAX_POWER_W * Decimal(max((b - a).total_seconds(), 0)) / HOUR + SLACK_WH


def rises(readings: Sequence[Reading]) -> Iterator[tuple[Reading, Reading, Decimal]]:
    """Each pair of neighbouring readings between which the register rose, with the rise (Wh).
    A fall is a reset (a reboot, a new meter): the register continues from its new value."""
    for a, b in itertools.pairwise(readings):
        if b.wh > a.wh:
            yield a, b, b.wh - a.wh


def energy_wh(readings: Sequence[Reading]) -> Decimal:
    return sum((counted for _, _, counted in rises(readings)), Decimal(0))


@dataclasses.dataclass(frozen=True, slots=True)
class CostLine:
    """One tariff segment of a session: its energy and time, each with its price and amount."""

    start: datetime
    end: datetime
    energy_kwh: Decimal
    energy_price_per_kwh: Decimal
    energy_cost: Decimal
    hours: Decimal
    time_price_per_hour: Decimal
    time_cost: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class SessionCost:
    """What a booking's sessions cost; ``total`` is the sum of the (rounded) parts."""

    currency: str
    energy_kwh: Decimal
    lines: tuple[CostLine, ...]
    session_fee: Decimal
    booking_fee: Decimal
    total: Decimal
    #: What the booking terms charge besides (``noshow_fee``, ``cancel_fee``), in ``total``.
    fees: tuple[tuple[str, Decimal], ...] = ()


def fees_only(currency: str, booking_fee: Decimal, fees: dict[str, Decimal]) -> SessionCost:
    """The cost of a booking that ended without a session: a no-show pays its window's
    booking fee and the no-show fee, a late cancellation the cancellation fee."""
    rounded = tuple((name, round_money(amount)) for name, amount in fees.items())
    fee = round_money(booking_fee)
    return SessionCost(
        currency=currency,
        energy_kwh=Decimal("0.000"),
        lines=(),
        session_fee=round_money(Decimal(0)),
        booking_fee=fee,
        total=fee + sum((amount for _, amount in rounded), Decimal(0)),
        fees=rounded,
    )


def session_cost(
    tariff: Tariff, zone: ZoneInfo, meters: Iterable[Meter], booking_fee: Decimal
) -> SessionCost:
    """The cost of a booking's sessions (usually one; more when a charger lost a Stop)."""
    lines: list[CostLine] = []
    total_wh = Decimal(0)
    for meter in meters:
        readings = priced_readings(meter)
        total_wh += energy_wh(readings)
        lines.extend(_lines(tariff, zone, readings))
    lines.sort(key=lambda line: line.start)
    fee, session_fee = round_money(booking_fee), round_money(tariff.session_fee)
    total = fee + session_fee + sum((ln.energy_cost + ln.time_cost for ln in lines), Decimal(0))
    return SessionCost(
        currency=tariff.currency,
        energy_kwh=(total_wh / KWH).quantize(Decimal("0.001")),
        lines=tuple(lines),
        session_fee=session_fee,
        booking_fee=fee,
        total=total,
    )


def _lines(tariff: Tariff, zone: ZoneInfo, readings: list[Reading]) -> list[CostLine]:
    start, stop = readings[0].at, readings[-1].at
    parts = segments(tariff, zone, start, stop)
    if not parts:  # A session of one instant is priced at that instant.
        period = price_at(tariff, zone, start)
        parts = [PriceSegment(start, stop, period.energy_price_per_kwh, period.time_price_per_hour)]
    energy = _spread(readings, parts)
    return [
        CostLine(
            start=part.start,
            end=part.end,
            energy_kwh=(wh / KWH).quantize(Decimal("0.001")),
            energy_price_per_kwh=part.energy_price_per_kwh,
            energy_cost=round_money(wh / KWH * part.energy_price_per_kwh),
            hours=part.hours.quantize(Decimal("0.0001")),
            time_price_per_hour=part.time_price_per_hour,
            time_cost=round_money(part.hours * part.time_price_per_hour),
        )
        for part, wh in zip(parts, energy, strict=True)
    ]


def _spread(readings: list[Reading], parts: list[PriceSegment]) -> list[Decimal]:
    """Energy (Wh) per part: each rise spread evenly over its interval. One pass over both
    (both are in time order), so the cost grows with readings + parts, never their product."""
    energy = [Decimal(0)] * len(parts)
    first = 0
    for a, b, counted in rises(readings):
        while first < len(parts) - 1 and parts[first].end <= a.at:
            first += 1
        span = Decimal((b.at - a.at).total_seconds())
        if span <= 0:  # Two readings in one instant: priced at that instant.
            energy[first] += counted
            continue
        index = first
        while index < len(parts) and parts[index].start < b.at:
            lo, hi = max(parts[index].start, a.at), min(parts[index].end, b.at)
            if hi > lo:
                energy[index] += counted * Decimal((hi - lo).total_seconds()) / span
            index += 1
    return energy


def cost_to_json(cost: SessionCost) -> dict[str, Any]:
    """The ``cost_breakdown`` of a completed booking (API.md): the parts sum to ``total``."""
    return {
        "currency": cost.currency,
        "energy_kwh": str(cost.energy_kwh),
        "periods": [
            {
                "start": format_timestamp(line.start),
                "end": format_timestamp(line.end),
                "energy_kwh": str(line.energy_kwh),
                "energy_price_per_kwh": format_price(line.energy_price_per_kwh),
                "energy_cost": format_money(line.energy_cost),
                "hours": str(line.hours),
                "time_price_per_hour": format_price(line.time_price_per_hour),
                "time_cost": format_money(line.time_cost),
            }
            for line in cost.lines
        ],
        "session_fee": format_money(cost.session_fee),
        "booking_fee": format_money(cost.booking_fee),
        **{name: format_money(amount) for name, amount in cost.fees},
        "total": format_money(cost.total),
    }
