"""A site's booking terms, against the real server over real sockets: set and shown, enforced
when booking, changing and cancelling, by the scheduler (no-shows), and charged."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from csms.domain.timestamps import format_timestamp
from tests.integration.booking.test_failure_paths import wait_status
from tests.world import World, parse


async def set_terms(world: World, **terms: object) -> dict[str, Any]:
    status, site = await world.server.request(
        "PATCH", f"/api/v1/sites/{world.site_id}", json={"terms": terms}
    )
    assert status == 200, site
    return site  # type: ignore[no-any-return]


async def change(world: World, reservation_id: int, **to: object) -> tuple[int, Any]:
    return await world.server.request(  # type: ignore[no-any-return]
        "PATCH", f"/api/v1/reservations/{reservation_id}", json=to, token=world.driver
    )


async def test_terms_are_set_shown_and_reset(world: World) -> None:
    site = await set_terms(world, noshow_fee="2.5", buffer_minutes=10)
    assert site["terms"]["noshow_fee"] == "2.50" and site["terms"]["buffer_minutes"] == 10
    assert site["terms"]["min_booking_minutes"] == 15, "the installation's default"
    assert site["terms_set"] == ["buffer_minutes", "noshow_fee"]
    site = await set_terms(world, buffer_minutes=None)
    assert site["terms"]["buffer_minutes"] == 0 and site["terms_set"] == ["noshow_fee"]
    status, shown = await world.server.request("GET", f"/api/v1/sites/{world.site_id}")
    assert status == 200 and shown["terms"] == site["terms"]
    for bad in (
        {"colour": 1}, {"buffer_minutes": -1}, {"buffer_minutes": True}, {"buffer_minutes": 1.5},
        {"noshow_fee": "-1"}, {"noshow_fee": "1e400"}, {"max_days_ahead": 2**64},
        {"min_booking_minutes": 800},  # longer than the longest window (720)
    ):
        status, body = await world.server.request(
            "PATCH", f"/api/v1/sites/{world.site_id}", json={"terms": bad}
        )
        assert (status, body["error"]["code"]) == (422, "validation_failed"), bad
    status, body = await world.server.request(
        "PATCH", f"/api/v1/sites/{world.site_id}", json={"terms": {"buffer_minutes": 5}},
        token=world.driver,
    )
    assert status == 403, body
    status, made = await world.server.request(
        "POST", "/api/v1/sites",
        json={"name": "New", "timezone": "UTC", "terms": {"noshow_fee": None, "buffer_minutes": 5}},
    )
    assert status == 201, made
    assert made["terms_set"] == ["buffer_minutes"], "a null term sets nothing"


async def test_a_booking_keeps_the_terms_it_was_made_under(world: World) -> None:
    await set_terms(world, cancel_fee="1.00", cancel_until_minutes=120)
    status, booked = await world.book(window=world.window(starts_in=60))
    assert status == 201, booked
    await set_terms(world, cancel_fee="9.00")
    mine = await world.reservation(booked["id"])
    assert mine["terms"]["cancel_fee"] == "1.00"
    status, cancelled = await world.server.request(
        "DELETE", f"/api/v1/reservations/{booked['id']}", token=world.driver
    )
    assert status == 200, cancelled
    assert (cancelled["cost"], cancelled["cost_breakdown"]["cancel_fee"]) == ("1.00", "1.00")
    assert "free cancellation ended" in cancelled["status_reason"]


async def test_cancelling_before_the_cut_off_is_free_and_an_operator_charges_nothing(
    world: World,
) -> None:
    await set_terms(world, cancel_fee="2.50", cancel_until_minutes=60)
    _, early = await world.book(window=world.window(starts_in=120))
    _, late = await world.book(window=world.window(starts_in=30))
    status, cancelled = await world.server.request(
        "DELETE", f"/api/v1/reservations/{early['id']}", token=world.driver
    )
    assert status == 200 and "cost" not in cancelled, cancelled
    status, cancelled = await world.server.request("DELETE", f"/api/v1/reservations/{late['id']}")
    assert status == 200, cancelled
    mine = await world.reservation(late["id"])
    assert mine["status"] == "cancelled" and "cost" not in mine, mine


async def test_a_site_sets_its_own_window_lengths(world: World) -> None:
    await set_terms(world, max_booking_minutes=60)
    status, body = await world.book(window=world.window(starts_in=60, minutes=90))
    assert (status, body["error"]["code"]) == (422, "invalid_window"), body
    assert "at most 60 minutes" in body["error"]["message"]
    await set_terms(world, max_booking_minutes=1440)
    status, body = await world.book(window=world.window(starts_in=60, minutes=20 * 60))
    assert status == 201, "longer than the installation's 12 hours: the site allows it"


async def test_buffer_and_early_start_keep_consecutive_bookings_apart(world: World) -> None:
    await set_terms(world, buffer_minutes=15, early_start_minutes=10)
    status, first = await world.book(window=world.window(starts_in=120))
    assert status == 201, first
    other = await world.new_driver()
    # The first holds until its end + 15; the next holds from its start - 10.
    for starts_in, expected in ((180, 409), (204, 409), (205, 201)):
        status, body = await world.book(window=world.window(starts_in=starts_in), token=other)
        assert status == expected, (starts_in, body)
    assert body["terms"]["buffer_minutes"] == 15


async def test_the_code_works_from_the_early_start(world: World) -> None:
    await set_terms(world, early_start_minutes=30)
    async with await world.connect(free=(1, 2)) as charger:
        status, booked = await world.book(window=world.window(starts_in=20))
        assert status == 201, booked
        await wait_status(world, booked["id"], "active")
        info = (await charger.result("Authorize", {"idTag": booked["code"]}))["idTagInfo"]
        assert info["status"] == "Accepted", "20 minutes early, within the 30 allowed"


async def test_a_no_show_frees_the_connector_and_pays_its_fees(world: World) -> None:
    await set_terms(world, noshow_timeout_minutes=10, noshow_fee="3.00")
    async with await world.connect(free=(1, 2)) as charger:
        status, booked = await world.book(window=world.window(minutes=60))
        assert status == 201, booked
        await wait_status(world, booked["id"], "active")
        world.clock.advance(minutes=11)
        gone = await wait_status(world, booked["id"], "expired")
        assert gone["status_reason"] == "no-show: nobody came within 10 minutes"
        assert gone["cost"] == "4.00", "an hour's booking fee (1.00) and the no-show fee"
        assert gone["cost_breakdown"]["noshow_fee"] == "3.00"
        assert gone["cost_breakdown"]["booking_fee"] == "1.00"
        status, got = await receipt_of(world, booked["id"])
        assert (status, got["kind"], got["total"]) == (200, "no_show", "4.00"), got
        assert got["lines"] == [
            {"item": "booking_fee", "amount": "1.00"}, {"item": "noshow_fee", "amount": "3.00"},
        ]
        assert await charger.wait_call("CancelReservation") == {"reservationId": booked["id"]}
        info = (await charger.result("Authorize", {"idTag": booked["code"]}))["idTagInfo"]
        assert info["status"] == "Expired"
        start = world.clock().replace(microsecond=0)
        rest = (format_timestamp(start), booked["end"])
        status, _ = await world.book(window=rest, token=await world.new_driver())
        assert status == 201, "the rest of the window is free for others"


async def test_a_driver_changes_the_window_within_the_terms(world: World) -> None:
    await set_terms(world, change_until_minutes=60)
    status, soon = await world.book(window=world.window(starts_in=30))
    assert status == 201, soon
    later_start = format_timestamp(parse(soon["start"]) + timedelta(minutes=10))
    status, body = await change(world, soon["id"], start=later_start)
    assert (status, body["error"]["code"]) == (409, "not_movable"), body
    assert "until 60 minutes before it starts" in body["error"]["message"]
    longer = format_timestamp(parse(soon["end"]) + timedelta(minutes=30))
    status, changed = await change(world, soon["id"], end=longer)
    assert status == 200, changed
    assert parse(changed["end"]) == parse(longer)
    assert changed["price"]["reservation_fee"] == "1.50", "priced again: 90 minutes at 1.00/h"
    assert changed["history"][-1]["reason"].startswith("moved by the driver to ")
    status, far = await world.book(window=world.window(starts_in=300))
    assert status == 201, far
    start, end = world.window(starts_in=400, minutes=45)
    status, moved = await change(world, far["id"], start=start, end=end)
    assert status == 200 and parse(moved["start"]) == parse(start), moved


async def test_a_change_onto_a_taken_slot_is_refused(world: World) -> None:
    status, mine = await world.book(window=world.window(starts_in=60))
    assert status == 201, mine
    other = await world.new_driver()
    status, theirs = await world.book(window=world.window(starts_in=180), token=other)
    assert status == 201, theirs
    status, body = await change(world, mine["id"], end=theirs["start"])
    assert status == 200, "up to their start is free"
    into = format_timestamp(parse(theirs["start"]) + timedelta(minutes=1))
    status, body = await change(world, mine["id"], end=into)
    assert (status, body["error"]["code"]) == (409, "slot_taken"), body
    status, body = await world.server.request(
        "PATCH", f"/api/v1/reservations/{theirs['id']}", json={"end": into}, token=world.driver
    )
    assert status == 404, "another driver's booking is not there for this driver"


async def test_a_charging_booking_moves_its_end_and_an_early_end_frees_the_rest(
    world: World,
) -> None:
    async with await world.connect(free=(1, 2)) as charger:
        status, booked = await world.book(window=world.window(minutes=60))
        assert status == 201, booked
        await wait_status(world, booked["id"], "active")
        started = await charger.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": booked["code"], "meterStart": 0,
             "timestamp": booked["start"], "reservationId": booked["id"]},
        )
        await wait_status(world, booked["id"], "charging")
        status, body = await change(world, booked["id"], start=world.window(starts_in=5)[0])
        assert (status, body["error"]["code"]) == (409, "not_movable"), body
        longer = format_timestamp(parse(booked["end"]) + timedelta(minutes=30))
        status, changed = await change(world, booked["id"], end=longer)
        assert status == 200 and changed["status"] == "charging", changed
        assert parse(changed["end"]) == parse(longer)
        await charger.result(
            "StopTransaction",
            {"transactionId": started["transactionId"], "meterStop": 5000,
             "timestamp": format_timestamp(world.clock())},
        )
        await wait_status(world, booked["id"], "completed")
        rest = (world.window(starts_in=1)[0], longer)
        status, body = await world.book(window=rest, token=await world.new_driver())
        assert status == 201, "the session ended early: the rest of the window is free"


async def receipt_of(world: World, reservation_id: int, token: str | None = None) -> tuple[int, Any]:
    return await world.server.request(  # type: ignore[no-any-return]
        "GET", f"/api/v1/reservations/{reservation_id}/receipt", token=token or world.driver
    )


async def test_a_completed_session_has_a_receipt_with_the_tax_it_includes(world: World) -> None:
    await set_terms(world, tax_rate_percent="19")
    async with await world.connect(free=(1, 2)) as charger:
        status, booked = await world.book(window=world.window(minutes=60))
        assert status == 201, booked
        status, body = await receipt_of(world, booked["id"])
        assert (status, body["error"]["code"]) == (409, "no_receipt"), body
        await wait_status(world, booked["id"], "active")
        started = await charger.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": booked["code"], "meterStart": 1000,
             "timestamp": booked["start"], "reservationId": booked["id"]},
        )
        await charger.result(
            "StopTransaction",
            {"transactionId": started["transactionId"], "meterStop": 11000,
             "timestamp": format_timestamp(parse(booked["start"]) + timedelta(minutes=30))},
        )
        done = await wait_status(world, booked["id"], "completed")
    status, got = await receipt_of(world, booked["id"])
    assert status == 200, got
    assert (got["kind"], got["total"], got["currency"]) == ("session", done["cost"], "EUR")
    assert got["energy_kwh"] == "10.000" and got["site"]["name"] == "Berlin Yard"
    energy = [line for line in got["lines"] if line["item"] == "energy"]
    assert sum(float(line["quantity"]) for line in energy) == 10.0
    assert {line["item"] for line in got["lines"]} >= {"energy", "session_fee", "booking_fee"}
    amounts = sum(round(float(line["amount"]) * 100) for line in got["lines"])
    assert amounts == round(float(got["total"]) * 100), "the lines add up to the total"
    tax = got["tax"]
    assert tax["rate_percent"] == "19.00"
    assert round(float(tax["included"]) + float(tax["net"]), 2) == float(got["total"])
    assert abs(float(tax["included"]) - float(got["total"]) * 19 / 119) < 0.006
    status, _ = await receipt_of(world, booked["id"], token=world.server.token)
    assert status == 200, "an operator sees it too"
    status, _ = await receipt_of(world, booked["id"], token=await world.new_driver())
    assert status == 404, "nobody else"


async def test_a_late_cancellation_has_a_receipt_a_timely_one_none(world: World) -> None:
    await set_terms(world, cancel_fee="2.00", cancel_until_minutes=60)
    _, late = await world.book(window=world.window(starts_in=30))
    _, timely = await world.book(window=world.window(starts_in=200))
    for booked in (late, timely):
        status, _ = await world.server.request(
            "DELETE", f"/api/v1/reservations/{booked['id']}", token=world.driver
        )
        assert status == 200
    status, got = await receipt_of(world, late["id"])
    assert status == 200, got
    assert (got["kind"], got["total"], got["tax"]) == ("late_cancellation", "2.00", None)
    assert got["lines"] == [{"item": "cancel_fee", "amount": "2.00"}]
    status, body = await receipt_of(world, timely["id"])
    assert (status, body["error"]["code"]) == (409, "no_receipt"), body


#: Where a search near a place looks from, and where ``place_site`` puts the world's site.
HERE = (52.5163, 13.3777)


async def place_site(world: World) -> None:
    status, site = await world.server.request(
        "PATCH", f"/api/v1/sites/{world.site_id}",
        json={"latitude": HERE[0], "longitude": HERE[1] + 0.01},
    )
    assert status == 200, site


async def offered(
    world: World, window: tuple[str, str], *, near: bool = False
) -> list[tuple[str, int]]:
    """This world's connectors offered for the window in a search of every site (or of every
    site near ``HERE``: that search finds what is free per site, not per connector)."""
    start, end = window
    params = {"start": start, "end": end, "limit": "500"}
    if near:
        params["near"] = f"{HERE[0]},{HERE[1]}"
    status, body = await world.server.request(
        "GET", "/api/v1/availability", token=world.driver, params=params
    )
    assert status == 200, body
    for connector in body["connectors"]:
        assert connector["site"]["terms"]["buffer_minutes"] >= 0, "every offer shows its terms"
    return [
        (c["charge_point_id"], c["connector_id"]) for c in body["connectors"]
        if c["charge_point_id"] == world.cp_id
    ]


@pytest.mark.parametrize("near", [False, True], ids=["by-site", "near"])
async def test_the_search_offers_what_the_site_terms_allow(world: World, near: bool) -> None:
    await set_terms(world, buffer_minutes=15, early_start_minutes=10, max_booking_minutes=120)
    await place_site(world)
    assert len(await offered(world, world.window(starts_in=120, minutes=120), near=near)) == 2
    too_long = world.window(starts_in=120, minutes=150)
    assert await offered(world, too_long, near=near) == [], "too long here"
    start, end = world.window(starts_in=120, minutes=150)
    status, body = await world.server.request(
        "GET", "/api/v1/availability", token=world.driver,
        params={"start": start, "end": end, "site_id": str(world.site_id)},
    )
    assert (status, body["error"]["message"]) == (
        422, "the window must be at most 120 minutes long"
    ), "searching the site itself says why"
    status, _ = await world.book(connector_id=1, window=world.window(starts_in=120))
    assert status == 201
    # Connector 1 is held until 15 minutes after that booking's end (120 + 60 + 15), and the
    # next booking would hold it from 10 minutes before its own start.
    assert await offered(world, world.window(starts_in=204), near=near) == [(world.cp_id, 2)]
    assert (world.cp_id, 1) in await offered(world, world.window(starts_in=205), near=near)
    # Before it: a window whose buffer ends by the time that booking's early start begins.
    assert await offered(world, world.window(starts_in=36), near=near) == [(world.cp_id, 2)]
    assert (world.cp_id, 1) in await offered(world, world.window(starts_in=35), near=near)


async def test_a_session_past_its_late_stop_is_stopped_and_completes(world: World) -> None:
    await set_terms(world, late_stop_minutes=10)
    async with await world.connect(
        RemoteStopTransaction=lambda p: {"status": "Accepted"}
    ) as charger:
        begin, _ = world.window()
        _, booked = await world.book(1, world.window(minutes=60))
        await wait_status(world, booked["id"], "active")
        started = await charger.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": booked["code"], "meterStart": 0, "timestamp": begin,
             "reservationId": booked["id"]},
        )
        await wait_status(world, booked["id"], "charging")
        world.clock.advance(minutes=60 + 9)  # Within the allowance: the session goes on.
        await asyncio.sleep(0.5)
        assert charger.calls_of("RemoteStopTransaction") == []
        world.clock.advance(minutes=1)
        stop = await charger.wait_call("RemoteStopTransaction")
        assert stop == {"transactionId": started["transactionId"]}
        await charger.result(
            "StopTransaction",
            {"transactionId": started["transactionId"], "meterStop": 7000, "reason": "Remote",
             "timestamp": format_timestamp(world.clock())},
        )
        done = await wait_status(world, booked["id"], "completed")
    assert done["energy_kwh"] == "7.000"
