"""The booking flow (book → ReserveNow with the code → the driver types it → charging →
completed) through the simulator, once per charger quirk the CSMS must cope with."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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
    ["authorize-before-answer"], ["whole-second-timestamps"],
    ["reserved-before-answer", "authorize-after-reserve", "no-reservation-id"],
    ["authorize-before-answer", "reserved-before-answer", "no-reservation-id",
     "whole-second-timestamps"],
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
        if "authorize-after-reserve" in quirks or "authorize-before-answer" in quirks:
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


async def _wrong_codes(csms: CsmsProcess, cp_id: str) -> int:
    assert csms.pool is not None
    return int(await csms.pool.fetchval(
        "SELECT count(*) FROM wrong_codes WHERE charge_point_id = $1", cp_id))


async def test_authorize_before_the_answer_never_counts_as_a_wrong_code(
    csms: CsmsProcess,
) -> None:
    cp_id = await _bookable_charger(csms)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, connectors=1, backoff=FAST,
                                    quirks=["authorize-before-answer"], strict=True) as cp:
        booking = await _book(csms, cp_id)
        early = await cp.wait_for(result("Authorize"), timeout=10)
        assert early.payload is not None and early.payload["idTagInfo"]["status"] == "Accepted"
        await cp.wait_for(is_status(1, "Reserved"))
        await eventually(lambda: _reservation(csms, booking["id"]),
                         lambda r: r["status"] == "active")
    assert await _wrong_codes(csms, cp_id) == 0


async def test_a_reservation_lost_in_a_reboot_is_sent_again(csms: CsmsProcess) -> None:
    cp_id = await _bookable_charger(csms)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, connectors=1, backoff=FAST,
                                    strict=True) as cp:
        booking = await _book(csms, cp_id)
        await cp.wait_for(is_status(1, "Reserved"), timeout=10)
        await eventually(lambda: _reservation(csms, booking["id"]),
                         lambda r: r["status"] == "active")
        await cp.reboot()  # power loss: the charger forgets its reservation, reports Available
        again = await eventually(
            lambda: _reservation(csms, booking["id"]),
            lambda r: r["status"] == "active" and any(
                h["reason"] == "the charger dropped the reservation; sending it again"
                for h in r["history"]), timeout=10)
        await cp.wait_for(is_status(1, "Reserved"), timeout=10)
    assert again["connector_id"] == 1


async def test_a_reboot_mid_session_with_a_meter_reset_is_billed_in_full(
    csms: CsmsProcess,
) -> None:
    """The charger loses its StopTransaction and restarts its meter at 0; the driver types the
    code again. The CSMS closes the lost transaction, the booking follows the new one, and the
    energy of both is billed."""
    cp_id = await _bookable_charger(csms)
    async with SimulatedChargePoint(
        csms.ocpp_url, cp_id, connectors=1, backoff=FAST, strict=True,
        quirks=["meter-reset-on-reboot", "whole-second-timestamps"],
        config={"MeterValueSampleInterval": "1"},
    ) as cp:
        booking = await _book(csms, cp_id)
        await cp.wait_for(is_status(1, "Reserved"), timeout=10)
        await cp.plug(1)
        await cp.code(1, booking["code"])
        await cp.wait_for(is_status(1, "Charging"))
        await cp.wait_for(sent("MeterValues"), timeout=5)
        await asyncio.sleep(1.5)
        await cp.reboot()
        await cp.code(1, booking["code"])
        restart = await cp.wait_for(result("StartTransaction"), timeout=10)
        assert restart.payload is not None
        assert restart.payload["idTagInfo"]["status"] == "Accepted"
        await cp.wait_for(sent("MeterValues"), timeout=5)
        await asyncio.sleep(1.5)
        await cp.stop(1)
        await cp.wait_for(result("StopTransaction"))
    done = await eventually(lambda: _reservation(csms, booking["id"]),
                            lambda r: r["status"] == "completed")
    _, page = await csms.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    rows = page["items"]
    assert len(rows) == 2 and {r["stop_reason"] for r in rows} >= {"StopLost"}
    billed = sum(Decimal(r["energy_wh"]) for r in rows) / 1000
    assert Decimal(done["energy_kwh"]) == billed.quantize(Decimal("0.001")) > 0
    assert all(Decimal(r["energy_wh"]) > 0 for r in rows)
