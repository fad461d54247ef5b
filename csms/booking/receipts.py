"""Receipts: what a finished booking cost, line by line, as the driver keeps it.

Pure: built from the booking as stored (its ``cost_breakdown``, written once when it was
settled, a no-show, or a late cancellation) and the terms it was made under. Prices are the
site's gross prices, as quoted; a site that sets ``tax_rate_percent`` gets the tax they
include shown apart (the total does not change).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from csms.booking.records import Reservation
from csms.booking.states import ReservationStatus as S
from csms.domain.money import format_money, round_money
from csms.errors import Conflict

#: What kind of receipt each finished status with a cost gives.
_KINDS = {S.COMPLETED: "session", S.EXPIRED: "no_show", S.CANCELLED: "late_cancellation"}
_FEE_LINES = ("session_fee", "booking_fee", "noshow_fee", "cancel_fee")


class NoReceipt(Conflict):
    """The booking has not finished, or finished costing nothing (cancelled in time)."""

    code = "no_receipt"


def receipt(booking: Reservation, issued_at: datetime, site: dict[str, Any]) -> dict[str, Any]:
    """The receipt of a finished booking; :class:`NoReceipt` when it has none.

    ``site`` names where it was (``id``, ``name``, ``address``); ``issued_at`` is when the
    booking finished.
    """
    breakdown = booking.cost_breakdown
    if booking.status not in _KINDS or breakdown is None or booking.cost is None:
        raise NoReceipt(f"reservation {booking.id} has no receipt: it is {booking.status}")
    return {
        "reservation_id": booking.id,
        "kind": _KINDS[booking.status],
        "issued_at": issued_at,
        "site": site,
        "charge_point_id": booking.charge_point_id,
        "connector_id": booking.connector_id,
        "start": booking.start,
        "end": booking.end,
        "timezone": booking.timezone,
        "currency": breakdown["currency"],
        "energy_kwh": breakdown["energy_kwh"],
        "lines": _period_lines(breakdown) + _fee_lines(breakdown),
        "total": format_money(booking.cost),
        "tax": _tax(booking.cost, booking.booking_terms.tax_rate_percent),
    }


def _period_lines(breakdown: dict[str, Any]) -> list[dict[str, Any]]:
    """Energy per tariff period, and the time charged where the period prices time."""
    lines: list[dict[str, Any]] = []
    for period in breakdown["periods"]:
        span = {"start": period["start"], "end": period["end"]}
        lines.append({
            "item": "energy", **span, "quantity": period["energy_kwh"], "unit": "kWh",
            "unit_price": period["energy_price_per_kwh"], "amount": period["energy_cost"],
        })
        if Decimal(period["time_price_per_hour"]) or Decimal(period["time_cost"]):
            lines.append({
                "item": "time", **span, "quantity": period["hours"], "unit": "h",
                "unit_price": period["time_price_per_hour"], "amount": period["time_cost"],
            })
    return lines


def _fee_lines(breakdown: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"item": name, "amount": breakdown[name]}
        for name in _FEE_LINES
        if name in breakdown and Decimal(breakdown[name])
    ]


def _tax(total: Decimal, rate_percent: Decimal) -> dict[str, str] | None:
    """The tax a gross ``total`` includes at ``rate_percent`` (None: the site sets none)."""
    if not rate_percent:
        return None
    included = round_money(total * rate_percent / (Decimal(100) + rate_percent))
    return {
        "rate_percent": format_money(rate_percent),
        "included": format_money(included),
        "net": format_money(total - included),
    }
