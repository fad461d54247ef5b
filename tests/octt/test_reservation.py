"""OCTT 1.6 central-system cases of the Reservation profile (TC_046_CSMS–TC_053_CSMS): csms
sends ReserveNow / CancelReservation through its booking flow, or on an operator's command."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from csms.domain.timestamps import format_timestamp
from tests.conftest import ServerHandle
from tests.octt.steps import (
    VALID,
    authorize,
    boot,
    connect,
    sent_and_answered,
    shows,
    start,
    status,
    stop,
)
from tests.waiting import eventually
from tests.world import World, parse


def expiry(minutes: float = 30) -> str:
    return format_timestamp(datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes))


@pytest.fixture
async def cp_id(server: ServerHandle) -> str:
    await server.add_id_tag(VALID)
    return await server.register_charge_point(connectors=2)


def reserve(connector_id: int, reservation_id: int = 4601) -> dict[str, object]:
    return {
        "connectorId": connector_id,
        "expiryDate": expiry(),
        "idTag": VALID,
        "reservationId": reservation_id,
    }


async def test_tc_046_csms_reservation_of_a_connector_transaction(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        sent = await sent_and_answered(
            server, charger, cp_id, "ReserveNow", reserve(1), {"status": "Accepted"}
        )
        assert await status(charger, 1, "Reserved") == {}
        await shows(server, cp_id, 1, "Reserved")
        # Reusable state Charging, its StartTransaction naming the reservation.
        assert await status(charger, 1, "Preparing") == {}
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        started = await start(charger, 1, VALID, reservation_id=int(str(sent["reservationId"])))
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}


async def test_tc_046_csms_booking_flow_reservation_then_transaction(world: World) -> None:
    """The same case through csms's own booking flow: the code is the reservation's idTag."""
    async with await world.connect(free=(1, 2)) as charger:
        _, booking = await world.book(1)
        sent = await charger.wait_call("ReserveNow")
        assert (sent["connectorId"], sent["idTag"], sent["reservationId"]) == (
            1,
            booking["code"],
            booking["id"],
        )
        assert await status(charger, 1, "Reserved") == {}
        assert await status(charger, 1, "Preparing") == {}
        assert (await authorize(charger, booking["code"]))["status"] == "Accepted"
        started = await start(charger, 1, booking["code"], reservation_id=booking["id"])
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}
        await eventually(
            lambda: world.reservation(booking["id"]), lambda r: r["status"] == "charging"
        )


async def test_tc_047_csms_reservation_of_a_connector_expire(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        sent = await sent_and_answered(
            server, charger, cp_id, "ReserveNow", reserve(1), {"status": "Accepted"}
        )
        assert sent["expiryDate"].endswith("Z")
        assert await status(charger, 1, "Reserved") == {}
        assert await status(charger, 1, "Available") == {}  # expired on the charger
        await shows(server, cp_id, 1, "Available")


@pytest.mark.parametrize(
    "answer", ["Faulted", "Rejected"], ids=["tc_048_1_faulted", "tc_048_4_rejected"]
)
async def test_tc_048_1_and_048_4_csms_reservation_not_accepted(
    server: ServerHandle, cp_id: str, answer: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server, charger, cp_id, "ReserveNow", reserve(1), {"status": answer}
        )


async def test_tc_048_2_csms_reservation_of_a_connector_occupied(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        assert await status(charger, 1, "Preparing") == {}
        await shows(server, cp_id, 1, "Preparing")
        await sent_and_answered(
            server, charger, cp_id, "ReserveNow", reserve(1), {"status": "Occupied"}
        )


async def test_tc_048_3_csms_reservation_of_a_connector_unavailable(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "ChangeAvailability",
            {"connectorId": 1, "type": "Inoperative"},
            {"status": "Accepted"},
        )
        assert await status(charger, 1, "Unavailable") == {}
        await shows(server, cp_id, 1, "Unavailable")
        await sent_and_answered(
            server, charger, cp_id, "ReserveNow", reserve(1), {"status": "Unavailable"}
        )


async def test_tc_049_csms_reservation_of_a_charge_point_transaction(
    server: ServerHandle, cp_id: str
) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server, charger, cp_id, "ReserveNow", reserve(0, 4901), {"status": "Accepted"}
        )
        assert await status(charger, 0, "Reserved") == {}
        # Only the reservation's idTag may charge, on any connector: csms accepts it.
        assert await status(charger, 2, "Preparing") == {}
        assert (await authorize(charger, VALID))["status"] == "Accepted"
        started = await start(charger, 2, VALID, reservation_id=4901)
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 2, "Charging") == {}


async def test_tc_051_csms_cancel_reservation(world: World) -> None:
    async with await world.connect(free=(1, 2)) as charger:
        _, booking = await world.book(1)
        sent = await charger.wait_call("ReserveNow")
        assert sent["connectorId"] != 0
        assert await status(charger, 1, "Reserved") == {}
        await eventually(
            lambda: world.reservation(booking["id"]), lambda r: r["status"] == "active"
        )
        code, cancelled = await world.server.request(
            "DELETE", f"/api/v1/reservations/{booking['id']}", token=world.driver
        )
        assert code == 200 and cancelled["status"] == "cancelled"
        assert await charger.wait_call("CancelReservation") == {
            "reservationId": sent["reservationId"]
        }
        assert await status(charger, 1, "Available") == {}
        await shows(world.server, world.cp_id, 1, "Available")
    assert (await world.reservation(booking["id"]))["status"] == "cancelled"


async def test_tc_052_csms_cancel_reservation_rejected(server: ServerHandle, cp_id: str) -> None:
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server, charger, cp_id, "ReserveNow", reserve(1, 5201), {"status": "Accepted"}
        )
        assert await status(charger, 1, "Reserved") == {}
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "CancelReservation",
            {"reservationId": 5299},  # not the one from step 1
            {"status": "Rejected"},
        )


async def test_tc_053_csms_use_a_reserved_connector_with_parent_id_tag(world: World) -> None:
    code, card = await world.server.request(
        "POST", "/api/v1/me/id-tags", token=world.driver, json={"id_tag": "OCTT-CARD-053"}
    )
    assert code == 201, card
    async with await world.connect(free=(1, 2)) as charger:
        _, booking = await world.book(1)
        sent = await charger.wait_call("ReserveNow")
        assert sent["connectorId"] != 0 and sent["parentIdTag"] == card["parent_id_tag"]
        assert await status(charger, 1, "Reserved") == {}
        # Reusable state Charging with the reservation's idTag.
        assert await status(charger, 1, "Preparing") == {}
        assert (await authorize(charger, booking["code"]))["status"] == "Accepted"
        started = await start(charger, 1, booking["code"], reservation_id=booking["id"])
        assert started["idTagInfo"]["status"] == "Accepted"
        assert await status(charger, 1, "Charging") == {}
        # Another idTag sharing the parent stops it.
        info = await authorize(charger, "OCTT-CARD-053")
        assert info["status"] == "Accepted" and info["parentIdTag"] == sent["parentIdTag"]
        stopped = await stop(charger, started["transactionId"], "Local", id_tag="OCTT-CARD-053")
        assert stopped["idTagInfo"]["status"] == "Accepted"
        assert stopped["idTagInfo"].get("parentIdTag") in (None, sent["parentIdTag"])
        assert await status(charger, 1, "Finishing") == {}


async def test_tc_047_csms_booking_flow_expiry_reported_by_the_charger(world: World) -> None:
    """TC_047 through the booking flow: the charger expires the reservation at ``expiryDate``
    and reports Available; csms ends the booking and does not put it on the charger again."""
    async with await world.connect(free=(1, 2)) as charger:
        _, booking = await world.book(1, world.window(0, 30))
        sent = await charger.wait_call("ReserveNow")
        assert parse(sent["expiryDate"]) == parse(booking["end"])
        assert await status(charger, 1, "Reserved") == {}
        await eventually(
            lambda: world.reservation(booking["id"]), lambda r: r["status"] == "active"
        )
        world.clock.advance(minutes=31)  # the driver does not come before the expiry date
        assert await status(charger, 1, "Available") == {}
        await eventually(
            lambda: world.reservation(booking["id"]), lambda r: r["status"] == "expired"
        )
        await asyncio.sleep(2.5)  # longer than a re-send would take (dispatch retry: 2 s)
        assert charger.calls_of("ReserveNow") == []
