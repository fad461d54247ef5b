"""Booking terms, changes and receipts end to end: ``csms serve``, the charger simulator over
real WebSockets, and the HTTP API, as a driver lives them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from csms.domain.timestamps import format_timestamp
from simulators import EventKind, SimulatedChargePoint
from tests.conftest import CsmsProcess
from tests.e2e.test_booking_with_simulator import (
    FAST,
    FAST_METER,
    book,
    bookable_charger,
    received,
    reservation,
    window,
)
from tests.simulators.helpers import is_status, result
from tests.waiting import eventually
from tests.world import sign_up_driver


async def site_of(csms: CsmsProcess, cp_id: str) -> int:
    status, charger = await csms.request("GET", f"/api/v1/charge-points/{cp_id}")
    assert status == 200, charger
    return int(charger["site_id"])


async def set_terms(csms: CsmsProcess, cp_id: str, **terms: object) -> None:
    site_id = await site_of(csms, cp_id)
    status, site = await csms.request("PATCH", f"/api/v1/sites/{site_id}", json={"terms": terms})
    assert status == 200, site


async def wait_status(csms: CsmsProcess, driver: str, booking_id: int, status: str) -> Any:
    return await eventually(
        lambda: reservation(csms, driver, booking_id), lambda r: r["status"] == status, timeout=15
    )


async def test_a_changed_window_is_reserved_again_and_the_session_has_a_receipt(
    csms: CsmsProcess,
) -> None:
    cp_id = await bookable_charger(csms)
    await set_terms(csms, cp_id, tax_rate_percent="19")
    driver = await sign_up_driver(csms)
    async with SimulatedChargePoint(
        csms.ocpp_url, cp_id, connectors=2, backoff=FAST, config=FAST_METER, strict=True
    ) as cp:
        await cp.wait_for(is_status(1, "Available"), timeout=10)
        booking = await book(csms, driver, cp_id, 1, window(starts_in=0))
        await cp.wait_for(received("ReserveNow"), timeout=10)
        await wait_status(csms, driver, booking["id"], "active")
        cp.mark()
        longer = format_timestamp(datetime.fromisoformat(booking["end"]) + timedelta(minutes=30))
        status, changed = await csms.request(
            "PATCH", f"/api/v1/reservations/{booking['id']}", token=driver, json={"end": longer}
        )
        assert status == 200, changed
        cancel = await cp.wait_for(received("CancelReservation"), timeout=10)
        assert cancel.payload == {"reservationId": booking["id"]}
        again = await cp.wait_for(received("ReserveNow"), timeout=10)
        assert again.payload["expiryDate"] == longer, "the charger holds the new window"
        assert again.payload["reservationId"] == booking["id"]
        await wait_status(csms, driver, booking["id"], "active")

        await cp.plug(1)
        await cp.code(1, booking["code"])
        await cp.wait_for(result("StartTransaction"))
        await cp.wait_for(is_status(1, "Charging"))
        await wait_status(csms, driver, booking["id"], "charging")
        await cp.stop(1)
        await cp.wait_for(result("StopTransaction"))
    done = await wait_status(csms, driver, booking["id"], "completed")
    status, receipt = await csms.request(
        "GET", f"/api/v1/reservations/{booking['id']}/receipt", token=driver
    )
    assert status == 200, receipt
    assert (receipt["kind"], receipt["total"]) == ("session", done["cost"])
    assert sum(Decimal(line["amount"]) for line in receipt["lines"]) == Decimal(receipt["total"])
    assert receipt["energy_kwh"] == done["transaction"]["energy_kwh"]
    assert receipt["tax"]["rate_percent"] == "19.00"


async def test_a_no_show_is_cancelled_at_the_charger_and_pays_its_fee(csms: CsmsProcess) -> None:
    cp_id = await bookable_charger(csms)
    await set_terms(csms, cp_id, noshow_timeout_minutes=0, noshow_fee="2.00")
    driver = await sign_up_driver(csms)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, connectors=2, backoff=FAST) as cp:
        await cp.wait_for(is_status(1, "Available"), timeout=10)
        booking = await book(csms, driver, cp_id, 1, window(starts_in=0))
        await cp.wait_for(received("ReserveNow"), timeout=10)
        cancel = await cp.wait_for(received("CancelReservation"), timeout=15)
        assert cancel.payload == {"reservationId": booking["id"]}
        await cp.wait_for(is_status(1, "Available"), timeout=10)
        gone = await wait_status(csms, driver, booking["id"], "expired")
        assert gone["status_reason"].startswith("no-show")
        assert gone["cost_breakdown"]["noshow_fee"] == "2.00"
        await cp.plug(1)
        await cp.code(1, booking["code"])
        refused = await cp.wait_for(lambda e: e.kind is EventKind.REFUSED, timeout=10)
        assert refused.connector == 1, "the code of a no-show starts nothing"
    status, receipt = await csms.request(
        "GET", f"/api/v1/reservations/{booking['id']}/receipt", token=driver
    )
    assert (status, receipt["kind"], receipt["total"]) == (200, "no_show", gone["cost"])
