"""An operator moves and cancels drivers' bookings through the one status writer: the
exclusion constraint still refuses a taken slot, history records it, the driver sees it, and a
booking already on its charger is cancelled there."""

from __future__ import annotations

from tests.waiting import eventually
from tests.world import World, parse


async def move(world: World, reservation_id: int, **to: object) -> tuple[int, dict[str, object]]:
    return await world.server.request(  # type: ignore[no-any-return]
        "PATCH", f"/api/v1/reservations/{reservation_id}", json=to
    )


async def test_move_to_another_window_and_connector(world: World) -> None:
    status, booked = await world.book(connector_id=1, window=world.window(starts_in=120))
    assert status == 201, booked
    start, end = world.window(starts_in=300, minutes=90)
    status, moved = await move(world, booked["id"], start=start, end=end, connector_id=2)
    assert status == 200, moved
    assert (moved["status"], moved["connector_id"]) == ("booked", 2)
    assert "code" not in moved, "an operator never sees a driver's code"
    mine = await world.reservation(booked["id"])
    assert (parse(mine["start"]), parse(mine["end"])) == (parse(start), parse(end))
    assert (mine["connector_id"], mine["code"]) == (2, booked["code"])
    assert mine["price"]["reservation_fee"] == "1.50", "priced again: 90 minutes at 1.00/h"
    last = mine["history"][-1]
    assert last["status"] == "booked" and last["reason"].startswith("moved by an operator to ")
    # The old slot is free again, the new one is not.
    status, _ = await world.book(connector_id=1, window=world.window(starts_in=120))
    assert status == 201


async def test_move_onto_a_taken_slot_is_refused(world: World) -> None:
    first_window, second_window = world.window(starts_in=120), world.window(starts_in=300)
    status, first = await world.book(connector_id=1, window=first_window)
    assert status == 201, first
    other = await world.new_driver()
    status, second = await world.book(connector_id=2, window=second_window, token=other)
    assert status == 201, second
    start, end = second_window
    status, body = await move(world, first["id"], connector_id=2, start=start, end=end)
    assert (status, body["error"]["code"]) == (409, "slot_taken")
    mine = await world.reservation(first["id"])
    assert (mine["connector_id"], mine["start"]) == (1, first["start"]), "nothing changed"
    assert len(mine["history"]) == 1


async def test_moves_refused_clearly(world: World) -> None:
    status, booked = await world.book(window=world.window(starts_in=120))
    assert status == 201, booked
    start, _ = world.window(starts_in=120)
    status, body = await move(world, booked["id"], end=start)
    assert status == 422, body
    status, body = await move(world, booked["id"], start="0001-01-01T00:00:00Z")
    assert status == 422, body
    status, body = await move(world, booked["id"], connector_id=2**40)
    assert status == 422, body
    status, body = await move(world, booked["id"], charge_point_id="NOPE")
    assert status == 404, body
    status, body = await move(world, booked["id"], colour="red")
    assert status == 422, body
    status, body = await move(world, booked["id"])
    assert status == 422, body
    status, body = await world.server.request(
        "PATCH", f"/api/v1/reservations/{booked['id']}", json={"connector_id": 2},
        token=world.driver,
    )
    assert status == 403, body
    await world.server.request("DELETE", f"/api/v1/reservations/{booked['id']}")
    status, body = await move(world, booked["id"], connector_id=2)
    assert (status, body["error"]["code"]) == (409, "not_movable")


async def test_a_booking_on_its_charger_is_cancelled_there_when_moved_or_cancelled(
    world: World,
) -> None:
    charger = await world.connect(free=(1, 2))
    status, booked = await world.book(connector_id=1, window=world.window(starts_in=0))
    assert status == 201, booked
    await charger.wait_call("ReserveNow")
    await eventually(lambda: world.reservation(booked["id"]), lambda r: r["status"] == "active")
    status, moved = await move(world, booked["id"], connector_id=2)
    assert status == 200, moved
    cancel = await charger.wait_call("CancelReservation")
    assert cancel == {"reservationId": booked["id"]}
    # Sent again, to the connector it moved to.
    again = await charger.wait_call("ReserveNow")
    assert (again["connectorId"], again["reservationId"]) == (2, booked["id"])
    active = await eventually(
        lambda: world.reservation(booked["id"]), lambda r: r["status"] == "active"
    )
    assert active["connector_id"] == 2
    status, cancelled = await world.server.request(
        "DELETE", f"/api/v1/reservations/{booked['id']}"
    )
    assert (status, cancelled["status"]) == (200, "cancelled")
    assert (await world.reservation(booked["id"]))["history"][-1]["reason"] == (
        "cancelled by an operator"
    )
    assert await charger.wait_call("CancelReservation") == {"reservationId": booked["id"]}
    await charger.close()
