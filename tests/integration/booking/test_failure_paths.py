"""Every way a booking can go wrong, against the real server over real sockets."""

from __future__ import annotations

import asyncio

import pytest

from tests.waiting import eventually
from tests.world import World


def is_status(status: str):  # type: ignore[no-untyped-def]
    return lambda r: r["status"] == status


async def wait_status(world: World, reservation_id: int, status: str, timeout: float = 10) -> dict:  # type: ignore[type-arg]
    return await eventually(lambda: world.reservation(reservation_id), is_status(status), timeout)


async def test_cancel_before_dispatch_sends_nothing(world: World) -> None:
    async with await world.connect() as charger:
        _, booking = await world.book(1, world.window(60, 60))
        status, cancelled = await world.server.request(
            "DELETE", f"/api/v1/reservations/{booking['id']}", token=world.driver
        )
        assert status == 200 and cancelled["status"] == "cancelled"
        world.clock.advance(minutes=61)
        await asyncio.sleep(0.5)
        assert charger.calls_of("ReserveNow") == [] and charger.calls_of("CancelReservation") == []
        assert (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"][
            "status"
        ] == "Blocked"
    assert (await world.reservation(booking["id"]))["history"][-1][
        "reason"
    ] == "cancelled by the driver"


async def test_cancel_after_dispatch_sends_cancel_reservation(world: World) -> None:
    async with await world.connect(CancelReservation=lambda p: {"status": "Rejected"}) as charger:
        _, booking = await world.book()
        await charger.wait_call("ReserveNow")
        await wait_status(world, booking["id"], "active")
        status, cancelled = await world.server.request(
            "DELETE", f"/api/v1/reservations/{booking['id']}", token=world.driver
        )
        assert status == 200 and cancelled["status"] == "cancelled"
        assert await charger.wait_call("CancelReservation") == {"reservationId": booking["id"]}
        assert (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"][
            "status"
        ] == "Blocked"


async def test_charging_booking_cannot_be_cancelled(world: World) -> None:
    async with await world.connect() as charger:
        start, end = world.window()
        _, booking = await world.book(1, (start, end))
        await wait_status(world, booking["id"], "active")
        await charger.result(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": booking["code"],
                "meterStart": 0,
                "timestamp": start,
                "reservationId": booking["id"],
            },
        )
        status, body = await world.server.request(
            "DELETE", f"/api/v1/reservations/{booking['id']}", token=world.driver
        )
        assert status == 409 and body["error"]["code"] == "not_cancellable"


async def test_no_show_expires_at_window_end(world: World) -> None:
    async with await world.connect() as charger:
        _, booking = await world.book(1, world.window(0, 30))
        await wait_status(world, booking["id"], "active")
        world.clock.advance(minutes=31)
        expired = await wait_status(world, booking["id"], "expired")
        assert expired["history"][-1]["reason"] == "the window ended unused"
        info = (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"]
        assert info["status"] == "Expired"


async def test_offline_at_start_then_reconnecting_inside_the_window(world: World) -> None:
    _, booking = await world.book()
    waiting = await eventually(
        lambda: world.reservation(booking["id"]),
        lambda r: r.get("status_reason") == "the charger is offline; trying again",
    )
    assert waiting["status"] == "booked"
    async with await world.connect() as charger:
        reserve = await charger.wait_call("ReserveNow", timeout=5)
        assert reserve["reservationId"] == booking["id"]
        await wait_status(world, booking["id"], "active")


@pytest.mark.parametrize("trouble", ["Occupied", "Faulted", "Unavailable"])
async def test_busy_or_broken_connector_moves_the_booking(world: World, trouble: str) -> None:
    """OCTT 048_1-3: Faulted, Occupied, Unavailable answers to ReserveNow."""
    answers = {1: trouble, 2: "Accepted"}
    async with await world.connect(
        free=(2,),
        ReserveNow=lambda p: {"status": answers[p["connectorId"]]}
    ) as charger:
        _, booking = await world.book(1)
        first = await charger.wait_call("ReserveNow")
        second = await charger.wait_call("ReserveNow")
        assert (first["connectorId"], second["connectorId"]) == (1, 2)
        assert first["idTag"] == second["idTag"] == booking["code"]
        assert second["reservationId"] == booking["id"]
        moved = await wait_status(world, booking["id"], "active")
    assert moved["connector_id"] == 2 and moved["code"] == booking["code"]
    assert any(
        "moved to" in (h.get("reason") or "") and trouble.lower() in h["reason"]
        for h in moved["history"]
    ), moved["history"]


async def test_faulted_with_nowhere_to_go_retries_then_fails(world: World) -> None:
    other = await world.new_driver()
    window = world.window(0, 30)
    assert (await world.book(2, window, token=other))[0] == 201  # the only alternative is taken
    async with await world.connect(
        ReserveNow=lambda p: {"status": "Faulted" if p["connectorId"] == 1 else "Accepted"}
    ):
        _, booking = await world.book(1, window)
        retrying = await eventually(
            lambda: world.reservation(booking["id"]),
            lambda r: "faulted" in r.get("status_reason", ""),
        )
        assert retrying["status"] == "booked"
        world.clock.advance(minutes=29.9)
        failed = await wait_status(world, booking["id"], "failed")
    assert failed["status_reason"] == "the connector is faulted until the window ended"


async def test_rejected_with_nowhere_to_go_is_held_by_the_csms(world: World) -> None:
    other = await world.new_driver()
    window = world.window(0, 30)
    await world.book(2, window, token=other)
    async with await world.connect(
        ReserveNow=lambda p: (
            {"status": "Rejected"} if p["connectorId"] == 1 else {"status": "Accepted"}
        )
    ) as charger:
        _, booking = await world.book(1, window)
        held = await wait_status(world, booking["id"], "active")
        assert "refused" in held["status_reason"] and "CSMS" in held["status_reason"]
        # The CSMS alone keeps others off the connector and lets the code in.
        await world.server.add_id_tag("SOMEONE-ELSE")
        start = window[0]
        refused = await charger.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": "SOMEONE-ELSE", "meterStart": 0, "timestamp": start},
        )
        assert refused["idTagInfo"]["status"] == "Invalid"
        await charger.result(
            "StopTransaction",
            {"transactionId": refused["transactionId"], "meterStop": 0, "timestamp": start},
        )
        ok = await charger.result(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": booking["code"],
                "meterStart": 0,
                "timestamp": world.window(1)[0],
            },
        )
        assert ok["idTagInfo"]["status"] == "Accepted"
    assert (await world.reservation(booking["id"]))["status"] == "charging"


async def test_call_error_answer_is_handled(world: World) -> None:
    other = await world.new_driver()
    window = world.window(0, 30)
    await world.book(2, window, token=other)
    async with await world.connect(
        ReserveNow=lambda p: (
            ("error", "NotSupported") if p["connectorId"] == 1 else {"status": "Accepted"}
        )
    ):
        _, booking = await world.book(1, window)
        held = await wait_status(world, booking["id"], "active")
    assert "error" in held["status_reason"]


async def test_charger_without_reservation_profile_gets_no_reserve_now(world: World) -> None:
    profiles = {
        "configurationKey": [
            {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,RemoteTrigger"}
        ]
    }
    async with await world.connect(GetConfiguration=lambda p: profiles) as charger:
        start, end = world.window()
        _, booking = await world.book(1, (start, end))
        held = await wait_status(world, booking["id"], "active")
        assert (
            held["status_reason"] == "the charger takes no reservations; the CSMS holds the booking"
        )
        assert charger.calls_of("ReserveNow") == []
        await world.server.add_id_tag("WALK-IN")
        walk_in = await charger.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": "WALK-IN", "meterStart": 0, "timestamp": start},
        )
        assert walk_in["idTagInfo"]["status"] == "Invalid"
        other_connector = await charger.result(
            "StartTransaction",
            {"connectorId": 2, "idTag": "WALK-IN", "meterStart": 0, "timestamp": start},
        )
        assert other_connector["idTagInfo"]["status"] == "Accepted"


async def test_start_without_reservation_id_is_matched_by_code(world: World) -> None:
    async with await world.connect() as charger:
        start, _ = world.window()
        _, booking = await world.book(1)
        await wait_status(world, booking["id"], "active")
        started = await charger.result(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": booking["code"],
                "meterStart": 0,
                "timestamp": start,
                "reservationId": -1,
            },
        )
        assert started["idTagInfo"]["status"] == "Accepted"
        charging = await world.reservation(booking["id"])
        assert (
            charging["status"] == "charging"
            and charging["transaction"]["id"] == started["transactionId"]
        )


async def test_wrong_code_that_the_charger_let_through_is_refused(world: World) -> None:
    async with await world.connect() as charger:
        start, _ = world.window()
        _, booking = await world.book(1)
        await wait_status(world, booking["id"], "active")
        wrong = "000111" if booking["code"] != "000111" else "000222"
        started = await charger.result(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": wrong,
                "meterStart": 0,
                "timestamp": start,
                "reservationId": booking["id"],
            },
        )
        assert started["idTagInfo"]["status"] == "Invalid"
    assert (await world.reservation(booking["id"]))["status"] == "active"


async def test_code_at_the_wrong_connector_or_charger_is_refused(world: World) -> None:
    second_cp = await world.add_charger()
    async with await world.connect() as charger, await world.connect(second_cp) as other:
        start, _ = world.window()
        _, booking = await world.book(1)
        await wait_status(world, booking["id"], "active")
        there = await other.result("Authorize", {"idTag": booking["code"]})
        assert there["idTagInfo"]["status"] == "Invalid"
        next_door = await charger.result(
            "StartTransaction",
            {"connectorId": 2, "idTag": booking["code"], "meterStart": 0, "timestamp": start},
        )
        assert next_door["idTagInfo"]["status"] == "Invalid"


async def test_connector_faulting_during_an_active_booking_moves_it(world: World) -> None:
    async with await world.connect(free=(2,)) as charger:
        _, booking = await world.book(1)
        await charger.wait_call("ReserveNow")
        await wait_status(world, booking["id"], "active")
        await charger.result(
            "StatusNotification",
            {"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure"},
        )
        charger.replies["ReserveNow"] = lambda p: {
            "status": "Faulted" if p["connectorId"] == 1 else "Accepted"
        }
        again = await charger.wait_call("ReserveNow")
        if again["connectorId"] == 1:
            again = await charger.wait_call("ReserveNow")
        assert again["connectorId"] == 2 and again["reservationId"] == booking["id"]
        moved = await eventually(
            lambda: world.reservation(booking["id"]),
            lambda r: r["status"] == "active" and r["connector_id"] == 2,
        )
    assert any("Faulted" in (h.get("reason") or "") for h in moved["history"])


async def test_drivers_card_shares_the_bookings_parent_id_tag(world: World) -> None:
    """OCTT 053: another idTag with the reservation's parent may use it."""
    status, card = await world.server.request(
        "POST", "/api/v1/me/id-tags", token=world.driver, json={"id_tag": "MY-CARD-1"}
    )
    assert status == 201
    async with await world.connect() as charger:
        start, _ = world.window()
        _, booking = await world.book(1)
        reserve = await charger.wait_call("ReserveNow")
        assert reserve["parentIdTag"] == card["parent_id_tag"]
        authorized = await charger.result("Authorize", {"idTag": "my-card-1"})
        assert authorized["idTagInfo"] == {
            "status": "Accepted",
            "parentIdTag": card["parent_id_tag"],
        }
        started = await charger.result(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "MY-CARD-1",
                "meterStart": 0,
                "timestamp": start,
                "reservationId": booking["id"],
            },
        )
        assert started["idTagInfo"]["status"] == "Accepted"
    assert (await world.reservation(booking["id"]))["status"] == "charging"


async def test_repeated_wrong_codes_lock_the_keypad_but_not_cards(world: World) -> None:
    await world.server.add_id_tag("STAFF-CARD")
    async with await world.connect() as charger:
        _, booking = await world.book(1)
        await wait_status(world, booking["id"], "active")
        guesses = [f"{n:06d}" for n in range(100000, 100010) if f"{n:06d}" != booking["code"]][:5]
        for guess in guesses:
            assert (await charger.result("Authorize", {"idTag": guess}))["idTagInfo"][
                "status"
            ] == "Invalid"
        locked = await charger.result("Authorize", {"idTag": booking["code"]})
        assert locked["idTagInfo"]["status"] == "Invalid"
        assert (await charger.result("Authorize", {"idTag": "STAFF-CARD"}))["idTagInfo"][
            "status"
        ] == "Accepted"
        world.clock.advance(minutes=6)
        assert (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"][
            "status"
        ] == "Accepted"


async def test_authorize_right_after_reserve_now_is_accepted(world: World) -> None:
    """Some chargers Authorize the idTag as soon as they get ReserveNow (OCPP-NOTES)."""
    async with await world.connect() as charger:
        codes: list[str] = []
        charger.replies["ReserveNow"] = lambda p: (
            codes.append(p["idTag"]),
            {"status": "Accepted"},
        )[1]
        _, _booking = await world.book(1)
        await charger.wait_call("ReserveNow")
        info = (await charger.result("Authorize", {"idTag": codes[0]}))["idTagInfo"]
        assert info["status"] == "Accepted"
