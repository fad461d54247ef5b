"""What a window costs: the quote a driver sees before booking (a session's cost after it is
:mod:`csms.booking.cost`).

A quote assumes the car charges at the connector's full power from the window's start until
it has the asked-for energy (or the window ends).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from csms.domain.money import format_money, format_price, round_money
from csms.domain.tariffs import HOUR, PriceSegment, Tariff, segments
from csms.domain.timestamps import format_timestamp

#: Energy assumed when the driver names none: a typical top-up, at most what the window allows.
DEFAULT_ENERGY_KWH = Decimal(30)


@dataclasses.dataclass(frozen=True, slots=True)
class Quote:
    currency: str
    reservation_fee: Decimal
    session_fee: Decimal
    segments: tuple[PriceSegment, ...]
    energy_kwh: Decimal
    total: Decimal


def _hours(start: datetime, end: datetime) -> Decimal:
    return Decimal((end - start).total_seconds()) / HOUR


def quote(
    tariff: Tariff,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    power_kw: Decimal,
    energy_kwh: Decimal | None = None,
) -> Quote:
    """The price of booking [start, end) on a connector of ``power_kw``."""
    window_hours = _hours(start, end)
    deliverable = power_kw * window_hours
    wanted = DEFAULT_ENERGY_KWH if energy_kwh is None else energy_kwh
    energy = min(wanted, deliverable)
    # Hours of charging, in exact decimals (float seconds would lose a cent now and then).
    charging_hours = energy / power_kw if power_kw else Decimal(0)
    parts = segments(tariff, zone, start, end)
    energy_cost = Decimal(0)
    time_cost = Decimal(0)
    for part in parts:
        begins, ends = _hours(start, part.start), _hours(start, part.end)
        overlap = max(min(ends, charging_hours) - begins, Decimal(0))
        energy_cost += overlap * power_kw * part.energy_price_per_kwh
        time_cost += overlap * part.time_price_per_hour
    reservation_fee = tariff.reservation_fee_per_hour * window_hours
    total = reservation_fee + tariff.session_fee + energy_cost + time_cost
    return Quote(
        currency=tariff.currency,
        reservation_fee=round_money(reservation_fee),
        session_fee=tariff.session_fee,
        segments=tuple(parts),
        energy_kwh=energy.quantize(Decimal("0.001")),
        total=round_money(total),
    )


def quote_to_json(q: Quote) -> dict[str, Any]:
    """The ``price`` object of the API (API.md: availability and reservations)."""
    return {
        "currency": q.currency,
        "reservation_fee": format_money(q.reservation_fee),
        "session_fee": format_money(q.session_fee),
        "periods": [
            {
                "start": format_timestamp(s.start),
                "end": format_timestamp(s.end),
                "energy_price_per_kwh": format_price(s.energy_price_per_kwh),
                "time_price_per_hour": format_price(s.time_price_per_hour),
            }
            for s in q.segments
        ],
        "estimate": {"energy_kwh": str(q.energy_kwh), "total": format_money(q.total)},
    }
