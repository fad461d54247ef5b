"""Booking and charger in step: reservations the charger drops, lazy expiry, remote starts on
booked connectors, and moves that never bounce."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.api.test_events import listening
from tests.integration.booking.test_failure_paths import wait_status
from tests.waiting import eventually
from tests.world import World

AVAILABLE = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}


async def test_a_dropped_reservation_is_sent_again_then_held_by_the_csms(world: World) -> None:
    async with await world.connect() as charger:
        _, booking = await world.book(1)
        await charger.wait_call("ReserveNow")
        await wait_status(world, booking["id"], "active")
        for _ in range(3):  # the charger drops it (a remote start, a reboot...) and says so
            await charger.result("StatusNotification", AVAILABLE)
            again = await charger.wait_call("ReserveNow")
            assert again["reservationId"] == booking["id"] and again["idTag"] == booking["code"]
            await eventually(
                lambda: world.reservation(booking["id"]),
                lambda r: r["status"] == "active" and r["history"][-1]["reason"]
                == "reserved on the charger",
            )
        await charger.result("StatusNotification", AVAILABLE)
        held = await eventually(
            lambda: world.reservation(booking["id"]),
            lambda r: "keeps dropping" in r.get("status_reason", ""),
        )
        await asyncio.sleep(0.3)
        assert charger.calls_of("ReserveNow") == []  # bounded: no fourth time
        # The CSMS alone keeps the connector for its driver.
        start = await charger.result("StartTransaction", {"connectorId": 1, "idTag": "STRANGER",
            "meterStart": 0, "timestamp": world.window()[0]})
        assert start["idTagInfo"]["status"] == "Invalid"
    reasons = [h["reason"] for h in held["history"]]
    assert reasons.count("the charger dropped the reservation; sending it again") == 3
    assert held["status"] == "active"


async def test_an_unused_reservation_is_cancelled_on_the_charger_at_window_end(
    world: World,
) -> None:
    """For chargers that never expire a reservation themselves (lazy expiry)."""
    async with await world.connect() as charger:
        _, booking = await world.book(1, world.window(0, 30))
        await wait_status(world, booking["id"], "active")
        world.clock.advance(minutes=31)
        await wait_status(world, booking["id"], "expired")
        assert await charger.wait_call("CancelReservation") == {"reservationId": booking["id"]}


async def test_a_remote_start_on_a_booked_connector_needs_an_override(world: World) -> None:
    async with await world.connect(RemoteStartTransaction=lambda p: {"status": "Accepted"}) as c:
        _, booking = await world.book(1)
        await wait_status(world, booking["id"], "active")
        path = f"/api/v1/charge-points/{world.cp_id}/commands/RemoteStartTransaction"
        body = {"connectorId": 1, "idTag": "OPERATOR-CARD"}
        status, refused = await world.server.request("POST", path, json=body)
        assert status == 409 and refused["error"]["code"] == "connector_booked"
        status, _ = await world.server.request("POST", path, json={"idTag": "OPERATOR-CARD"})
        assert status == 409  # no connector named: the charger could pick the booked one
        assert c.calls_of("RemoteStartTransaction") == []
        # The booking's own code may be started remotely (the driver's app does that).
        status, own = await world.server.request(
            "POST", path, json={"connectorId": 1, "idTag": booking["code"]})
        assert status == 200 and own == {"status": "Accepted"}
        status, forced = await world.server.request(
            "POST", path + "?override_booking=true", json=body)
        assert status == 200 and forced == {"status": "Accepted"}
        assert await c.wait_call("CancelReservation") == {"reservationId": booking["id"]}
    overridden = await world.reservation(booking["id"])
    assert overridden["status"] == "cancelled"
    assert overridden["status_reason"] == "an operator started a session for someone else here"


async def test_a_move_never_returns_to_a_connector_already_tried(world: World) -> None:
    async with await world.connect(
        free=(1, 2), ReserveNow=lambda p: {"status": "Occupied"}
    ) as charger:
        _, booking = await world.book(1, world.window(0, 30))
        tried = [(await charger.wait_call("ReserveNow"))["connectorId"] for _ in range(2)]
        await asyncio.sleep(0.5)
        assert tried == [1, 2] and charger.calls_of("ReserveNow") == []  # no bouncing back
        retrying = await world.reservation(booking["id"])
    assert retrying["status"] == "booked" and retrying["connector_id"] == 2
    moves = [h for h in retrying["history"] if h["reason"].startswith("moved to")]
    assert len(moves) == 1 and "occupied" in moves[0]["reason"]


async def test_a_charger_that_refuses_sends_the_booking_to_another_charger(world: World) -> None:
    other = await world.add_charger(connectors=1)
    offline = await world.add_charger(connectors=1)
    assert offline  # registered, never connected: never a place to move to
    async with (
        listening(world.server.http_url, world.driver) as stream,
        await world.connect(free=(1, 2), ReserveNow=lambda p: {"status": "Rejected"}),
        await world.connect(other, free=(1,)) as second,
    ):
        _, booking = await world.book(1)
        moved_to = await second.wait_call("ReserveNow")
        assert moved_to["reservationId"] == booking["id"]
        moved = await wait_status(world, booking["id"], "active")
        why = f"moved to {other} connector 1: the charger refused the reservation"
        # The driver's live stream says where the booking went and why.
        told = await eventually(
            lambda: _async(stream.of("reservation")),
            lambda events: any(e.get("status_reason") == why for e in events),
        )
    assert any(e["charge_point_id"] == other and e["id"] == booking["id"] for e in told)
    assert (moved["charge_point_id"], moved["connector_id"]) == (other, 1)
    assert why in [h["reason"] for h in moved["history"]]


async def test_a_window_opening_now_is_not_offered_at_an_offline_or_silent_charger(
    world: World,
) -> None:
    start, end = world.window(0, 30)

    async def offered() -> list[int]:
        _, found = await world.server.request(
            "GET", f"/api/v1/availability?start={start}&end={end}", token=world.driver)
        return [c["connector_id"] for c in found["connectors"] if c["charge_point_id"] == world.cp_id]

    assert await offered() == []  # offline
    async with await world.connect(free=(2,)):
        assert await offered() == [2]  # connector 1 never said it is free
    await eventually(offered, lambda found: found == [])  # offline again


async def _async(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return value
