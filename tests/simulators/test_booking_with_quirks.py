"""The booking flow (book → ReserveNow with the code → the driver types it → charging →
completed) through the simulator, once per charger quirk the CSMS must cope with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulators import EventKind, SimulatedChargePoint
from simulators.charge_point import Backoff
from simulators.protocol import format_time
from tests.conftest import CsmsProcess
from tests.simulators.helpers import is_status, result, sent, unique
from tests.waiting import eventually

FAST = Backoff(0.05, 0.5)
TARIFF = {"currency": "EUR", "reservation_fee_per_hour": "1.00", "session_fee": "0.50",
          "periods": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                       "start": "00:00", "end": "24:00", "energy_price_per_kwh": "0.39",
                       "time_price_per_hour": "0.00"}]}


async def _bookable_charger(csms: CsmsProcess) -> str:
    status, site = await csms.request("POST", "/api/v1/sites",
                                      json={"name": unique("Yard"), "timezone": "Europe/Berlin"})
    assert status == 201, site
    status, body = await csms.request("PUT", f"/api/v1/sites/{site['id']}/tariff", json=TARIFF)
    assert status == 200, body
    return await csms.register_charge_point(connectors=1, site_id=site["id"])


async def _book(csms: CsmsProcess, cp_id: str, lead_seconds: float = 1.0) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(seconds=lead_seconds)
    status, booking = await csms.request("POST", "/api/v1/reservations", json={
        "charge_point_id": cp_id, "connector_id": 1, "start": format_time(start),
        "end": format_time(start + timedelta(minutes=30))})
    assert status == 201, booking
    return dict(booking)


async def _reservation(csms: CsmsProcess, reservation_id: int) -> dict[str, Any]:
    status, body = await csms.request("GET", f"/api/v1/reservations/{reservation_id}")
    assert status == 200, body
    return dict(body)


@pytest.mark.parametrize("quirks", [
    [], ["reserved-before-answer"], ["authorize-after-reserve"], ["no-reservation-id"],
    ["reserved-before-answer", "authorize-after-reserve", "no-reservation-id"],
], ids=lambda q: "+".join(q) or "faithful")
async def test_the_booking_flow_with_each_quirk(csms: CsmsProcess, quirks: list[str]) -> None:
    cp_id = await _bookable_charger(csms)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, connectors=1, quirks=quirks,
                                    backoff=FAST, strict=True) as cp:
        booking = await _book(csms, cp_id)
        reserve = await cp.wait_for(lambda e: e.kind is EventKind.RECEIVED
                                    and e.action == "ReserveNow", timeout=10)
        assert reserve.payload is not None and reserve.payload["idTag"] == booking["code"]
        await cp.wait_for(is_status(1, "Reserved"))
        if "authorize-after-reserve" in quirks:
            early = await cp.wait_for(result("Authorize"))
            assert early.payload is not None
            assert early.payload["idTagInfo"]["status"] == "Accepted"  # from that moment on
        await eventually(lambda: _reservation(csms, booking["id"]),
                         lambda r: r["status"] == "active")
        await cp.plug(1)
        await cp.code(1, booking["code"])
        start = await cp.wait_for(result("StartTransaction"))
        assert start.payload is not None and start.payload["idTagInfo"]["status"] == "Accepted"
        await cp.wait_for(is_status(1, "Charging"))
        await eventually(lambda: _reservation(csms, booking["id"]),
                         lambda r: r["status"] == "charging")
        await cp.stop(1)
        await cp.wait_for(result("StopTransaction"))
    done = await eventually(lambda: _reservation(csms, booking["id"]),
                            lambda r: r["status"] == "completed")
    assert "cost" in done


async def test_a_wrong_code_started_by_a_quirky_charger_is_stopped(csms: CsmsProcess) -> None:
    cp_id = await _bookable_charger(csms)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, connectors=1, backoff=FAST,
                                    quirks=["accept-wrong-code"]) as cp:
        booking = await _book(csms, cp_id)
        await cp.wait_for(is_status(1, "Reserved"), timeout=10)
        await cp.plug(1)
        wrong = "9" + booking["code"][1:] if booking["code"][0] != "9" else "1" + booking["code"][1:]
        await cp.code(1, wrong)
        start = await cp.wait_for(result("StartTransaction"))
        assert start.payload is not None and start.payload["idTagInfo"]["status"] != "Accepted"
        await cp.wait_for(sent("StopTransaction", reason="DeAuthorized"))
    assert (await _reservation(csms, booking["id"]))["status"] != "charging"


async def test_a_reservation_the_charger_refuses_is_reported(csms: CsmsProcess) -> None:
    cp_id = await _bookable_charger(csms)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, connectors=1, backoff=FAST,
                                    quirks=["reserve-now-callerror"]) as cp:
        booking = await _book(csms, cp_id)
        await cp.wait_for(lambda e: e.kind is EventKind.ANSWERED and e.action == "ReserveNow"
                          and e.status == "InternalError", timeout=10)
        # With no other connector to move to, the CSMS holds the booking itself.
        held = await eventually(lambda: _reservation(csms, booking["id"]),
                                lambda r: r["status"] == "active")
        assert "error" in held["status_reason"] and "CSMS" in held["status_reason"]
