"""The seed flow end to end, as a driver lives it: ``csms serve``, the charger simulator over
real WebSockets, and the HTTP API — plus the failure paths a driver can run into."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from csms.domain.timestamps import format_timestamp
from simulators import EventKind, SimulatedChargePoint
from simulators.charge_point import Backoff
from tests.conftest import CsmsProcess
from tests.simulators.helpers import is_status, result, unique
from tests.waiting import eventually
from tests.world import TARIFF, sign_up_driver

FAST = Backoff(0.05, 0.5)
FAST_METER = {"MeterValueSampleInterval": "1"}


def received(action: str) -> Any:
    return lambda e: e.kind is EventKind.RECEIVED and e.action == action


async def bookable_charger(csms: CsmsProcess, connectors: int = 2) -> str:
    status, site = await csms.request(
        "POST", "/api/v1/sites", json={"name": unique("Yard"), "timezone": "Europe/Berlin"}
    )
    assert status == 201
    assert (await csms.request("PUT", f"/api/v1/sites/{site['id']}/tariff", json=TARIFF))[0] == 200
    return await csms.register_charge_point(connectors=connectors, site_id=site["id"])


def window(starts_in: float, minutes: float = 30) -> tuple[str, str]:
    start = (datetime.now(UTC) + timedelta(seconds=starts_in)).replace(microsecond=0)
    return format_timestamp(start), format_timestamp(start + timedelta(minutes=minutes))


async def book(
    csms: CsmsProcess, driver: str, cp_id: str, connector: int, when: tuple[str, str]
) -> dict[str, Any]:
    body = {"charge_point_id": cp_id, "connector_id": connector, "start": when[0], "end": when[1]}
    status, booking = await csms.request("POST", "/api/v1/reservations", token=driver, json=body)
    assert status == 201, booking
    return dict(booking)


async def reservation(csms: CsmsProcess, driver: str, reservation_id: int) -> dict[str, Any]:
    status, body = await csms.request("GET", f"/api/v1/reservations/{reservation_id}", token=driver)
    assert status == 200
    return dict(body)


async def test_driver_books_types_the_code_charges_and_pays(csms: CsmsProcess) -> None:
    cp_id = await bookable_charger(csms)
    driver = await sign_up_driver(csms)
    when = window(starts_in=4)

    async def search() -> dict[int, Any]:
        status, found = await csms.request(
            "GET", f"/api/v1/availability?start={when[0]}&end={when[1]}", token=driver
        )
        assert status == 200
        return {c["connector_id"]: c for c in found["connectors"] if c["charge_point_id"] == cp_id}

    # A window opening in seconds is offered only once the charger is online and reports its
    # connectors free.
    assert await search() == {}
    async with SimulatedChargePoint(
        csms.ocpp_url, cp_id, connectors=2, backoff=FAST, config=FAST_METER, strict=True
    ) as cp:
        offers = await eventually(search, lambda found: sorted(found) == [1, 2])
        assert offers[1]["price"]["periods"]
        assert Decimal(offers[1]["price"]["estimate"]["total"]) > 0
        booking = await book(csms, driver, cp_id, 1, when)
        # Nothing is sent to the charger before the window opens ...
        await asyncio.sleep(2)
        assert cp.seen(received("ReserveNow")) is None
        # ... and at the window's start the reservation arrives with the booking's fields.
        reserve = await cp.wait_for(received("ReserveNow"), timeout=10)
        assert reserve.payload == {
            "connectorId": 1,
            "expiryDate": when[1],
            "idTag": booking["code"],
            "reservationId": booking["id"],
        }
        assert datetime.now(UTC) >= datetime.fromisoformat(when[0])
        await cp.wait_for(is_status(1, "Reserved"))
        await eventually(
            lambda: reservation(csms, driver, booking["id"]), lambda r: r["status"] == "active"
        )

        await cp.plug(1)
        wrong = str((int(booking["code"]) + 7) % 1_000_000).zfill(6)
        await cp.code(1, wrong)
        refused = await cp.wait_for(lambda e: e.kind is EventKind.REFUSED)
        assert refused.connector == 1 and cp.status(1) != "Charging"

        await cp.code(1, booking["code"])
        started = await cp.wait_for(result("StartTransaction"))
        assert started.payload is not None and started.payload["idTagInfo"]["status"] == "Accepted"
        await cp.wait_for(is_status(1, "Charging"))
        charging = await eventually(
            lambda: reservation(csms, driver, booking["id"]),
            lambda r: r["status"] == "charging" and Decimal(r["transaction"]["energy_kwh"]) > 0,
            timeout=10,
        )
        assert charging["transaction"]["id"] == cp.transaction_id(1)
        await cp.stop(1)
        await cp.wait_for(result("StopTransaction"))
    done = await eventually(
        lambda: reservation(csms, driver, booking["id"]), lambda r: r["status"] == "completed"
    )
    energy = Decimal(done["transaction"]["energy_kwh"])
    assert energy > 0
    fees = Decimal("1.00") * Decimal(30) / Decimal(60) + Decimal("0.50")
    assert Decimal(done["transaction"]["cost"]) >= (fees + energy * Decimal("0.25")).quantize(
        Decimal("0.01")
    )
    assert [h["status"] for h in done["history"]] == ["booked", "active", "charging", "completed"]


async def test_cancel_before_and_after_dispatch(csms: CsmsProcess) -> None:
    cp_id = await bookable_charger(csms)
    driver = await sign_up_driver(csms)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, connectors=2, backoff=FAST) as cp:
        later = await book(csms, driver, cp_id, 2, window(starts_in=3600))
        assert (await csms.request("DELETE", f"/api/v1/reservations/{later['id']}", token=driver))[
            1
        ]["status"] == "cancelled"
        now = await book(csms, driver, cp_id, 1, window(starts_in=0))
        await cp.wait_for(is_status(1, "Reserved"), timeout=10)
        cp.mark()
        status, cancelled = await csms.request(
            "DELETE", f"/api/v1/reservations/{now['id']}", token=driver
        )
        assert status == 200 and cancelled["status"] == "cancelled"
        cancel = await cp.wait_for(received("CancelReservation"), timeout=10)
        assert cancel.payload == {"reservationId": now["id"]}
        await cp.wait_for(is_status(1, "Available"))
        assert (
            cp.seen(
                lambda e: (
                    e.kind is EventKind.RECEIVED
                    and (e.payload or {}).get("reservationId") == later["id"]
                )
            )
            is None
        )


async def test_charger_offline_at_the_start_gets_the_reservation_when_back(
    csms: CsmsProcess,
) -> None:
    cp_id = await bookable_charger(csms)
    driver = await sign_up_driver(csms)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, connectors=2, backoff=FAST) as cp:
        await cp.go_offline()
        booking = await book(csms, driver, cp_id, 1, window(starts_in=0))
        waiting = await eventually(
            lambda: reservation(csms, driver, booking["id"]),
            lambda r: "offline" in r.get("status_reason", ""),
        )
        assert waiting["status"] == "booked"
        await cp.go_online()
        reserve = await cp.wait_for(received("ReserveNow"), timeout=10)
        assert reserve.payload is not None and reserve.payload["reservationId"] == booking["id"]
        await eventually(
            lambda: reservation(csms, driver, booking["id"]), lambda r: r["status"] == "active"
        )


async def test_occupied_connector_moves_the_booking_with_the_same_code(csms: CsmsProcess) -> None:
    cp_id = await bookable_charger(csms)
    driver = await sign_up_driver(csms)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, connectors=2, backoff=FAST) as cp:
        await cp.plug(1)  # someone's car, no booking: the connector is Preparing (occupied)
        await cp.wait_for(is_status(1, "Preparing"))
        await asyncio.sleep(0.5)  # let the status reach the CSMS before the window opens
        booking = await book(csms, driver, cp_id, 1, window(starts_in=1))
        await cp.wait_for(is_status(2, "Reserved"), timeout=15)
        moved = await eventually(
            lambda: reservation(csms, driver, booking["id"]), lambda r: r["status"] == "active"
        )
        assert moved["connector_id"] == 2 and moved["code"] == booking["code"]
        await cp.plug(2)
        await cp.code(2, booking["code"])
        started = await cp.wait_for(result("StartTransaction"))
        assert started.payload is not None and started.payload["idTagInfo"]["status"] == "Accepted"


async def test_connector_zero_reservation_through_the_command_path(csms: CsmsProcess) -> None:
    """OCTT 049: a charger that supports it takes a reservation of connector 0 ("any connector");
    the transaction that uses it carries its reservationId and is accepted. Bookings name a
    connector, so the scheduler itself never reserves connector 0."""
    cp_id = await bookable_charger(csms)
    tag = unique("ZERO")[:20]
    await csms.add_id_tag(tag)
    until = window(starts_in=0)[1]
    config = {"ReserveConnectorZeroSupported": "true"}
    async with SimulatedChargePoint(
        csms.ocpp_url, cp_id, connectors=2, backoff=FAST, config=config
    ) as cp:
        path = f"/api/v1/charge-points/{cp_id}/commands/ReserveNow"
        body = {"connectorId": 0, "expiryDate": until, "idTag": tag, "reservationId": 990049}
        assert await csms.request("POST", path, json=body) == (200, {"status": "Accepted"})
        await cp.plug(2)
        await cp.tap(2, tag)
        started = await cp.wait_for(
            lambda e: e.kind is EventKind.SENT and e.action == "StartTransaction"
        )
        assert started.payload is not None and started.payload["reservationId"] == 990049
        accepted = await cp.wait_for(result("StartTransaction"))
        assert (
            accepted.payload is not None and accepted.payload["idTagInfo"]["status"] == "Accepted"
        )
    async with SimulatedChargePoint(
        csms.ocpp_url, await bookable_charger(csms), connectors=2, backoff=FAST
    ) as plain:
        path = f"/api/v1/charge-points/{plain.cp_id}/commands/ReserveNow"
        body = {"connectorId": 0, "expiryDate": until, "idTag": tag, "reservationId": 990050}
        assert await csms.request("POST", path, json=body) == (200, {"status": "Rejected"})
