"""What operators control about booking: tariffs, connectors out of service."""

from __future__ import annotations

import pytest

from tests.world import TARIFF, World


async def offered(world: World, window: tuple[str, str]) -> list[int]:
    _, found = await world.server.request(
        "GET", f"/api/v1/availability?start={window[0]}&end={window[1]}", token=world.driver
    )
    return [c["connector_id"] for c in found["connectors"] if c["charge_point_id"] == world.cp_id]


async def test_out_of_service_connector_is_not_offered_or_bookable(world: World) -> None:
    window = world.window(60, 60)
    status, cp = await world.server.request(
        "PATCH", f"/api/v1/charge-points/{world.cp_id}/connectors/2", json={"out_of_service": True}
    )
    assert status == 200 and cp["connectors"][1]["out_of_service"] is True
    assert await offered(world, window) == [1]
    assert (await world.book(2, window))[0] == 404
    await world.server.request(
        "PATCH", f"/api/v1/charge-points/{world.cp_id}/connectors/2", json={"out_of_service": False}
    )
    assert await offered(world, window) == [1, 2]
    assert (
        await world.server.request(
            "PATCH",
            f"/api/v1/charge-points/{world.cp_id}/connectors/7",
            json={"out_of_service": True},
        )
    )[0] == 404
    assert (
        await world.server.request(
            "PATCH",
            f"/api/v1/charge-points/{world.cp_id}/connectors/1",
            json={"out_of_service": "yes"},
        )
    )[0] == 422


async def test_tariff_round_trip_and_site_without_tariff_offers_nothing(world: World) -> None:
    status, stored = await world.server.request(
        "GET", f"/api/v1/sites/{world.site_id}/tariff", token=world.driver
    )
    assert status == 200
    assert {k: stored[k] for k in TARIFF} == {
        **TARIFF,
        "periods": [{**p, "time_price_per_hour": "0.00"} for p in TARIFF["periods"]],
    }
    _, site = await world.server.request(
        "POST", "/api/v1/sites", json={"name": "No prices yet", "timezone": "UTC"}
    )
    cp_id = await world.server.register_charge_point(site_id=site["id"])
    window = world.window(60, 60)
    _, found = await world.server.request(
        "GET", f"/api/v1/availability?start={window[0]}&end={window[1]}", token=world.driver
    )
    assert cp_id not in {c["charge_point_id"] for c in found["connectors"]}
    assert (await world.server.request("GET", f"/api/v1/sites/{site['id']}/tariff"))[0] == 404


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"currency": "euro"}, "currency"),
        ({"periods": TARIFF["periods"][:2]}, "no period covers"),
        (
            {"periods": [{**TARIFF["periods"][0], "end": "08:00"}, *TARIFF["periods"][1:]]},
            "overlap",
        ),
        ({"session_fee": "-1"}, "session_fee"),
        ({"reservation_fee_per_hour": "lots"}, "reservation_fee_per_hour"),
    ],
)
async def test_bad_tariffs_are_refused_and_the_old_one_kept(
    world: World, change: dict, message: str
) -> None:  # type: ignore[type-arg]
    status, body = await world.server.request(
        "PUT", f"/api/v1/sites/{world.site_id}/tariff", json={**TARIFF, **change}
    )
    assert status == 422 and message in body["error"]["message"]
    _, stored = await world.server.request("GET", f"/api/v1/sites/{world.site_id}/tariff")
    assert stored["currency"] == "EUR" and len(stored["periods"]) == 3


async def test_filters(world: World) -> None:
    fast = await world.add_charger(connectors=1, connector_type="CCS2")
    window = world.window(60, 60)
    base = f"/api/v1/availability?start={window[0]}&end={window[1]}"
    _, ccs = await world.server.request("GET", base + "&connector_type=ccs2", token=world.driver)
    assert {c["charge_point_id"] for c in ccs["connectors"]} == {fast}
    _, site = await world.server.request(
        "GET", base + f"&site_id={world.site_id}&min_power_kw=50", token=world.driver
    )
    assert site["connectors"] == []
    _, energy = await world.server.request("GET", base + "&energy_kwh=5", token=world.driver)
    assert {c["price"]["estimate"]["energy_kwh"] for c in energy["connectors"]} == {"5.000"}
    for bad in ["&min_power_kw=-1", "&energy_kwh=abc", "&site_id=x"]:
        assert (await world.server.request("GET", base + bad, token=world.driver))[0] == 422


async def test_times_without_an_offset_are_refused(world: World) -> None:
    start, end = world.window(60, 60)
    naive = (start.removesuffix("Z"), end.removesuffix("Z"))
    status, body = await world.book(1, naive)
    assert status == 422 and "offset" in body["error"]["message"]
    status, _ = await world.server.request(
        "GET", f"/api/v1/availability?start={naive[0]}&end={naive[1]}", token=world.driver
    )
    assert status == 422


async def test_me_says_who_is_signed_in(world: World) -> None:
    _, driver = await world.server.request("GET", "/api/v1/me", token=world.driver)
    _, operator = await world.server.request("GET", "/api/v1/me")
    assert (driver["role"], operator["role"]) == ("driver", "operator")
    assert (await world.server.request("GET", "/api/v1/me", token="nope"))[0] == 401


async def test_operator_lists_one_chargers_bookings_of_a_day(world: World) -> None:
    other_cp = await world.add_charger()
    today = world.window(60, 60)
    tomorrow = world.window(24 * 60 + 60, 60)
    ids = [
        (await world.book(1, today))[1]["id"],
        (await world.book(1, tomorrow))[1]["id"],
        (await world.book(1, today, cp_id=other_cp))[1]["id"],
    ]
    day = (today[0], world.window(12 * 60)[0])
    _, page = await world.server.request(
        "GET",
        f"/api/v1/reservations?all=true&charge_point_id={world.cp_id}&from={day[0]}&to={day[1]}",
    )
    assert [r["id"] for r in page["items"]] == [ids[0]]
    assert page["items"][0]["timezone"] == "Europe/Berlin"
    assert (await world.server.request("GET", "/api/v1/reservations?all=true&from=soon"))[0] == 422


async def test_transactions_hide_booking_codes_and_show_energy_so_far(world: World) -> None:
    async with await world.connect() as charger:
        start, _ = world.window()
        _, booking = await world.book(1)
        await charger.wait_call("ReserveNow")
        started = await charger.result(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": booking["code"],
                "meterStart": 1000,
                "timestamp": start,
                "reservationId": booking["id"],
            },
        )
        await charger.result(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": started["transactionId"],
                "meterValue": [
                    {"timestamp": start, "sampledValue": [{"value": "3.5", "unit": "kWh"}]}
                ],
            },
        )
    _, page = await world.server.request(
        "GET", f"/api/v1/transactions?charge_point_id={world.cp_id}"
    )
    [row] = page["items"]
    assert row["id_tag"] is None and row["reservation_id"] == booking["id"]
    assert row["energy_wh"] == 2500 and row["stopped_at"] is None
    assert booking["code"] not in str(page)
