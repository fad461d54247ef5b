"""Receipts from a finished booking as stored: the lines add up, tax is shown apart."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from csms.booking.receipts import NoReceipt, receipt
from csms.booking.records import Reservation
from csms.booking.states import ReservationStatus as S

START = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
SITE = {"id": 1, "name": "Yard", "address": None}
BREAKDOWN = {
    "currency": "EUR",
    "energy_kwh": "10.000",
    "periods": [
        {"start": "2026-12-03T10:00:00Z", "end": "2026-12-03T10:20:00Z", "energy_kwh": "6.000",
         "energy_price_per_kwh": "0.45", "energy_cost": "2.70", "hours": "0.3333",
         "time_price_per_hour": "0", "time_cost": "0.00"},
        {"start": "2026-12-03T10:20:00Z", "end": "2026-12-03T10:30:00Z", "energy_kwh": "4.000",
         "energy_price_per_kwh": "0.25", "energy_cost": "1.00", "hours": "0.1667",
         "time_price_per_hour": "1.20", "time_cost": "0.20"},
    ],
    "session_fee": "0.50",
    "booking_fee": "1.00",
    "total": "5.40",
}


def booking(status: S = S.COMPLETED, **changes: Any) -> Reservation:
    base = Reservation(
        id=7, user_id=1, site_id=1, charge_point_id="CP", connector_id=1, start=START,
        end=START + timedelta(hours=1), code="135790", status=status, status_reason=None,
        price={}, tariff={}, timezone="Europe/Berlin", parent_id_tag=None, idempotency_key=None,
        dispatched_at=None, on_charger=False, dispatch_attempts=0, redispatches=0,
        transaction_id=None, energy_kwh=Decimal("10.000"), cost=Decimal("5.40"),
        cost_breakdown=BREAKDOWN, created_at=START, terms={},
    )
    return dataclasses.replace(base, **changes)


def test_energy_per_period_time_where_priced_then_fees() -> None:
    got = receipt(booking(), START, SITE)
    assert [line["item"] for line in got["lines"]] == [
        "energy", "energy", "time", "session_fee", "booking_fee",
    ]
    assert sum(Decimal(line["amount"]) for line in got["lines"]) == Decimal(got["total"])
    assert got["tax"] is None and got["kind"] == "session"


def test_tax_included_in_the_gross_total() -> None:
    got = receipt(booking(terms={"tax_rate_percent": "19.00"}), START, SITE)
    assert got["tax"] == {"rate_percent": "19.00", "included": "0.86", "net": "4.54"}


@pytest.mark.parametrize(
    "status, changes",
    [(S.CHARGING, {}), (S.ACTIVE, {}), (S.CANCELLED, {"cost": None, "cost_breakdown": None})],
)
def test_no_receipt_before_the_end_or_without_a_cost(status: S, changes: dict[str, Any]) -> None:
    with pytest.raises(NoReceipt):
        receipt(booking(status, **changes), START, SITE)
