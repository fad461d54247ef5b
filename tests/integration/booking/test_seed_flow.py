"""The seed flow over real sockets: search with price, book, ReserveNow at the window, a wrong
code refused, the right code charging, stop → completed with cost."""

from __future__ import annotations

from decimal import Decimal

from tests.waiting import eventually
from tests.world import World, parse


async def test_search_book_reserve_charge_complete(world: World) -> None:
    server = world.server
    start, end = world.window(starts_in=0, minutes=60)
    # A window opening now is offered only at an online charger whose connectors report free.
    charger = await world.connect(free=(1, 2))

    # 1. Search: both connectors free, with the window's price.
    status, found = await server.request(
        "GET", f"/api/v1/availability?start={start}&end={end}", token=world.driver
    )
    assert status == 200, found
    offers = [c for c in found["connectors"] if c["charge_point_id"] == world.cp_id]
    assert [c["connector_id"] for c in offers] == [1, 2]
    offer = offers[0]
    assert offer["site"] == {
        "id": world.site_id,
        "name": "Berlin Yard",
        "timezone": "Europe/Berlin",
        "problems": [],
        "terms": offer["site"]["terms"],
    }
    assert offer["site"]["terms"]["min_booking_minutes"] == 15, "the installation's default"
    assert (offer["connector_type"], offer["max_power_kw"]) == ("Type2", 22)
    price = offer["price"]
    assert price["currency"] == "EUR" and price["reservation_fee"] == "1.00"
    assert parse(price["periods"][0]["start"]) == parse(start) and parse(
        price["periods"][-1]["end"]
    ) == parse(end)
    assert Decimal(price["estimate"]["total"]) > Decimal("1.50")

    async with charger:
        # 2. Book: a code comes back.
        status, booking = await world.book(1, (start, end))
        assert status == 201, booking
        assert (
            booking["status"] == "booked"
            and booking["code"].isdigit()
            and len(booking["code"]) == 6
        )
        assert booking["price"]["reservation_fee"] == "1.00"

        # 3. The window is open: ReserveNow arrives with the booking's fields.
        reserve = await charger.wait_call("ReserveNow")
        assert reserve == {
            "connectorId": 1,
            "expiryDate": end,
            "idTag": booking["code"],
            "reservationId": booking["id"],
        }
        await eventually(
            lambda: world.reservation(booking["id"]), lambda r: r["status"] == "active"
        )

        # 4. A wrong code is refused; the right one is accepted until the window ends.
        wrong = str((int(booking["code"]) + 1) % 1_000_000).zfill(6)
        assert (await charger.result("Authorize", {"idTag": wrong}))["idTagInfo"][
            "status"
        ] == "Invalid"
        right = (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"]
        assert right["status"] == "Accepted" and parse(right["expiryDate"]) == parse(end)

        # 5. The right code charges.
        started = await charger.result(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": booking["code"],
                "meterStart": 10_000,
                "timestamp": start,
                "reservationId": booking["id"],
            },
        )
        assert started["idTagInfo"]["status"] == "Accepted"
        charging = await world.reservation(booking["id"])
        assert (
            charging["status"] == "charging"
            and charging["transaction"]["id"] == started["transactionId"]
        )
        await charger.result(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": started["transactionId"],
                "meterValue": [
                    {"timestamp": start, "sampledValue": [{"value": "15000", "unit": "Wh"}]}
                ],
            },
        )
        assert (await world.reservation(booking["id"]))["transaction"]["energy_kwh"] == "5.000"

        # 6. Stop: completed with energy and cost.
        await charger.result(
            "StopTransaction",
            {
                "transactionId": started["transactionId"],
                "meterStop": 30_000,
                "timestamp": end,
                "idTag": booking["code"],
            },
        )
    done = await world.reservation(booking["id"])
    assert done["status"] == "completed"
    assert done["transaction"]["energy_kwh"] == "20.000"
    assert Decimal(done["transaction"]["cost"]) >= Decimal("1.50") + Decimal("20") * Decimal("0.25")
    assert [h["status"] for h in done["history"]] == ["booked", "active", "charging", "completed"]
    assert all(h["at"].endswith("Z") for h in done["history"])


async def test_taken_slot_is_409_and_availability_hides_it(world: World) -> None:
    window = world.window(starts_in=120, minutes=60)
    status, _first = await world.book(1, window)
    assert status == 201
    other = await world.new_driver()
    status, body = await world.book(1, (world.window(150, 60)), token=other)
    assert status == 409 and body["error"]["code"] == "slot_taken"
    status, found = await world.server.request(
        "GET", f"/api/v1/availability?start={window[0]}&end={window[1]}", token=other
    )
    assert [
        c["connector_id"] for c in found["connectors"] if c["charge_point_id"] == world.cp_id
    ] == [2]
    # Back to back is fine: windows are half-open.
    assert (await world.book(1, (window[1], world.window(240, 60)[0]), token=other))[0] == 201


async def test_idempotency_key_returns_the_same_booking(world: World) -> None:
    window = world.window(60, 30)
    first = await world.book(1, window, key="k-1")
    again = await world.book(1, window, key="k-1")
    assert (
        first[0] == again[0] == 201
        and first[1]["id"] == again[1]["id"]
        and first[1]["code"] == again[1]["code"]
    )
    status, body = await world.book(2, window, key="k-1")
    assert status == 409 and body["error"]["code"] == "idempotency_key_reused"


async def test_bad_requests(world: World) -> None:
    now = world.window()[0]
    for window, why in [
        (world.window(60, 5), "too short"),
        (world.window(60, 60 * 13), "too long"),
        (world.window(-60, 30), "in the past"),
        (world.window(60 * 24 * 40, 60), "too far ahead"),
        ((world.window(60, 60)[1], world.window(60, 60)[0]), "reversed"),
        ((now, now), "empty"),
    ]:
        status, body = await world.book(1, window)
        assert status == 422, why
        assert body["error"]["code"] == "invalid_window", why
        status, _ = await world.server.request(
            "GET", f"/api/v1/availability?start={window[0]}&end={window[1]}", token=world.driver
        )
        assert status == 422, why
    assert (await world.book(9))[0] == 404
    assert (await world.book(1, cp_id="NO-SUCH-CP"))[0] == 404
    status, body = await world.server.request(
        "POST",
        "/api/v1/reservations",
        token=world.driver,
        json={
            "charge_point_id": world.cp_id,
            "connector_id": 1,
            "start": "tomorrow",
            "end": "later",
        },
    )
    assert status == 422
    status, body = await world.server.request(
        "POST",
        "/api/v1/reservations",
        token=world.driver,
        json={
            "charge_point_id": world.cp_id,
            "connector_id": 1,
            "start": now,
            "end": now,
            "colour": "red",
        },
    )
    assert status == 422 and "colour" in body["error"]["message"]


async def test_someone_elses_reservation_is_404(world: World) -> None:
    _, booking = await world.book(1, world.window(60, 30))
    other = await world.new_driver()
    status, _ = await world.server.request(
        "GET", f"/api/v1/reservations/{booking['id']}", token=other
    )
    assert status == 404
    assert (
        await world.server.request("DELETE", f"/api/v1/reservations/{booking['id']}", token=other)
    )[0] == 404
    _, mine = await world.server.request("GET", "/api/v1/reservations", token=other)
    assert mine["items"] == []
    _, everyone = await world.server.request("GET", "/api/v1/reservations?all=true")
    assert [r["id"] for r in everyone["items"]] == [booking["id"]]
    assert (await world.server.request("GET", "/api/v1/reservations?all=true", token=other))[
        0
    ] == 403


async def test_code_is_shown_to_its_owner_only(world: World) -> None:
    _, booking = await world.book(1, world.window(60, 30))
    assert (await world.reservation(booking["id"]))["code"] == booking["code"]
    as_operator = await world.reservation(booking["id"], token=world.server.token)
    assert "code" not in as_operator and as_operator["id"] == booking["id"]
    _, listing = await world.server.request("GET", "/api/v1/reservations?all=true")
    assert all("code" not in item for item in listing["items"])
    assert booking["code"] not in str(listing)
