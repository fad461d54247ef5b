"""The management API (issue #12): sites, tariffs, charge points, connectors and cards made,
changed and removed by an operator, what stays in use refused with 409, hostile values 422."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ServerHandle
from tests.world import TARIFF, World


async def make_site(server: ServerHandle, **fields: Any) -> dict[str, Any]:
    body = {"name": "Depot", "timezone": "Europe/Berlin", **fields}
    status, site = await server.request("POST", "/api/v1/sites", json=body)
    assert status == 201, site
    return site  # type: ignore[no-any-return]


async def test_site_lifecycle_with_location_and_tariff_flag(server: ServerHandle) -> None:
    site = await make_site(server, address="Hafenstraße 1, Hamburg", latitude=53.54, longitude=9.98)
    assert (site["address"], site["latitude"], site["longitude"]) == (
        "Hafenstraße 1, Hamburg", 53.54, 9.98,
    )
    assert (site["has_tariff"], site["problems"]) == (False, ["no_tariff"])
    path = f"/api/v1/sites/{site['id']}"
    status, changed = await server.request(
        "PATCH", path, json={"timezone": "Europe/Lisbon", "address": None, "latitude": -90}
    )
    assert status == 200, changed
    assert (changed["timezone"], changed["address"], changed["latitude"]) == (
        "Europe/Lisbon", None, -90,
    )
    assert changed["longitude"] == 9.98, "what is not named stays"
    assert (await server.request("PUT", f"{path}/tariff", json=TARIFF))[0] == 200
    status, listed = await server.request("GET", "/api/v1/sites")
    [shown] = [s for s in listed["items"] if s["id"] == site["id"]]
    assert (shown["has_tariff"], shown["problems"]) == (True, [])
    assert (await server.request("DELETE", f"{path}/tariff"))[0] == 204
    assert (await server.request("GET", f"{path}/tariff"))[0] == 404
    assert (await server.request("GET", path))[1]["problems"] == ["no_tariff"]
    assert (await server.request("DELETE", f"{path}/tariff"))[0] == 404
    assert (await server.request("DELETE", path))[0] == 204
    assert (await server.request("GET", path))[0] == 404
    assert (await server.request("DELETE", path))[0] == 404


async def test_site_with_charge_points_stays(server: ServerHandle) -> None:
    site = await make_site(server)
    cp_id = await server.register_charge_point(site_id=site["id"])
    status, body = await server.request("DELETE", f"/api/v1/sites/{site['id']}")
    assert (status, body["error"]["code"]) == (409, "site_in_use")
    status, moved = await server.request(
        "PATCH", f"/api/v1/charge-points/{cp_id}", json={"site_id": None}
    )
    assert (status, moved["site_id"]) == (200, None)
    assert (await server.request("DELETE", f"/api/v1/sites/{site['id']}"))[0] == 204


@pytest.mark.parametrize(
    "body",
    [
        {"latitude": 90.0001},
        {"longitude": -180.5},
        {"latitude": "52"},
        {"latitude": True},
        {"longitude": 2**64},
        {"address": ""},
        {"address": "x" * 301},
        {"address": "a\u0000b"},
        {"name": None},
        {"timezone": "Mars/Olympus"},
        {"timezone": None},
        {"codes_on_local_list": "yes"},
        {"colour": "red"},
    ],
)
async def test_hostile_site_values_are_422(server: ServerHandle, body: dict[str, Any]) -> None:
    site = await make_site(server)
    status, answer = await server.request("PATCH", f"/api/v1/sites/{site['id']}", json=body)
    assert status == 422, answer
    status, answer = await server.request(
        "POST", "/api/v1/sites", json={"name": "N", "timezone": "UTC", **body}
    )
    assert status == 422, answer


async def test_availability_names_sites_without_a_tariff(world: World) -> None:
    server = world.server
    bare = await make_site(server, name="No price yet")
    await server.register_charge_point(site_id=bare["id"])
    start, end = world.window(starts_in=120)
    status, found = await server.request(
        "GET", f"/api/v1/availability?start={start}&end={end}", token=world.driver
    )
    assert status == 200, found
    assert {c["site"]["id"] for c in found["connectors"]} == {world.site_id}
    assert all(c["site"]["problems"] == [] for c in found["connectors"])
    assert found["unbookable_sites"] == [
        {"id": bare["id"], "name": "No price yet", "problems": ["no_tariff"]}
    ]
    status, found = await server.request(
        "GET", f"/api/v1/availability?start={start}&end={end}&site_id={world.site_id}",
        token=world.driver,
    )
    assert (status, found["unbookable_sites"]) == (200, [])


async def test_tariff_priced_live_bookings_stays(world: World) -> None:
    status, booked = await world.book(window=world.window(starts_in=120))
    assert status == 201, booked
    path = f"/api/v1/sites/{world.site_id}/tariff"
    status, body = await world.server.request("DELETE", path)
    assert (status, body["error"]["code"]) == (409, "tariff_in_use")
    await world.server.request("DELETE", f"/api/v1/reservations/{booked['id']}")
    assert (await world.server.request("DELETE", path))[0] == 204


async def test_charge_point_update_and_removal(world: World) -> None:
    server = world.server
    path = f"/api/v1/charge-points/{world.cp_id}"
    other = await make_site(server, name="Elsewhere")
    status, booked = await world.book(window=world.window(starts_in=120))
    assert status == 201, booked
    for change in ({"site_id": other["id"]}, {"registration_status": "rejected"}):
        status, body = await server.request("PATCH", path, json=change)
        assert (status, body["error"]["code"]) == (409, "charge_point_in_use"), change
    status, body = await server.request("DELETE", path)
    assert (status, body["error"]["code"]) == (409, "charge_point_in_use")
    status, body = await server.request("PATCH", path, json={"registration_status": "pending"})
    assert status == 409
    await server.request("DELETE", f"/api/v1/reservations/{booked['id']}")
    status, body = await server.request(
        "PATCH", path, json={"site_id": other["id"], "registration_status": "pending"}
    )
    assert (status, body["site_id"], body["registration_status"]) == (200, other["id"], "pending")
    status, body = await server.request("PATCH", path, json={"site_id": 999999})
    assert status == 404, body
    assert (await server.request("DELETE", path))[0] == 204
    assert (await server.request("GET", path))[0] == 404
    # Its past booking stays on record.
    detail = await world.reservation(booked["id"])
    assert (detail["status"], detail["charge_point_id"]) == ("cancelled", world.cp_id)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"registration_status": "Accepted"},
        {"registration_status": None},
        {"site_id": "1"},
        {"site_id": 2**64},
        {"site_id": -1},
        {"vendor": "x"},
    ],
)
async def test_hostile_charge_point_changes_are_422(
    server: ServerHandle, body: dict[str, Any]
) -> None:
    cp_id = await server.register_charge_point()
    status, answer = await server.request("PATCH", f"/api/v1/charge-points/{cp_id}", json=body)
    assert status == 422, answer


async def test_connectors_added_changed_removed(world: World) -> None:
    server = world.server
    base = f"/api/v1/charge-points/{world.cp_id}/connectors"
    new = {"connector_id": 3, "connector_type": "CCS2", "max_power_kw": 150}
    status, cp = await server.request("POST", base, json=new)
    assert status == 201, cp
    assert [c["connector_id"] for c in cp["connectors"]] == [1, 2, 3]
    status, body = await server.request("POST", base, json=new)
    assert (status, body["error"]["code"]) == (409, "already_exists")
    status, cp = await server.request(
        "PATCH", f"{base}/3", json={"connector_type": "CHAdeMO", "max_power_kw": "50.5"}
    )
    assert status == 200, cp
    assert (cp["connectors"][2]["connector_type"], cp["connectors"][2]["max_power_kw"]) == (
        "CHAdeMO", 50.5,
    )
    status, booked = await world.book(connector_id=3, window=world.window(starts_in=120))
    assert status == 201, booked
    status, body = await server.request("DELETE", f"{base}/3")
    assert (status, body["error"]["code"]) == (409, "connector_in_use")
    assert (await server.request("DELETE", f"{base}/2"))[0] == 204
    await server.request("DELETE", f"/api/v1/reservations/{booked['id']}")
    assert (await server.request("DELETE", f"{base}/3"))[0] == 204
    assert (await server.request("DELETE", f"{base}/3"))[0] == 404
    cp = await world.charge_point(world.cp_id)
    assert [c["connector_id"] for c in cp["connectors"]] == [1]
    status, _ = await server.request("POST", "/api/v1/charge-points/NOPE/connectors", json=new)
    assert status == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"max_power_kw": 0},
        {"max_power_kw": "1e999"},
        {"max_power_kw": 2**64},
        {"connector_type": ""},
        {"connector_type": "x" * 33},
        {"out_of_service": "true"},
        {"status": "Available"},
    ],
)
async def test_hostile_connector_changes_are_422(
    server: ServerHandle, body: dict[str, Any]
) -> None:
    cp_id = await server.register_charge_point()
    status, answer = await server.request(
        "PATCH", f"/api/v1/charge-points/{cp_id}/connectors/1", json=body
    )
    assert status == 422, answer


async def test_cards_read_and_forgotten(server: ServerHandle) -> None:
    await server.add_id_tag("Card-Gone", parent_id_tag="FLEET")
    status, card = await server.request("GET", "/api/v1/id-tags/card-gone")
    assert (status, card["id_tag"], card["parent_id_tag"]) == (200, "Card-Gone", "FLEET")
    assert (await server.request("DELETE", "/api/v1/id-tags/CARD-GONE"))[0] == 204
    assert (await server.request("GET", "/api/v1/id-tags/Card-Gone"))[0] == 404
    assert (await server.request("DELETE", "/api/v1/id-tags/Card-Gone"))[0] == 404
    status, page = await server.request("GET", "/api/v1/id-tags")
    assert "Card-Gone" not in [c["id_tag"] for c in page["items"]]


async def test_management_is_for_operators(world: World) -> None:
    server, driver = world.server, world.driver
    for method, path in [
        ("DELETE", f"/api/v1/sites/{world.site_id}"),
        ("DELETE", f"/api/v1/sites/{world.site_id}/tariff"),
        ("DELETE", f"/api/v1/charge-points/{world.cp_id}"),
        ("DELETE", f"/api/v1/charge-points/{world.cp_id}/connectors/1"),
        ("GET", "/api/v1/id-tags/ANY"),
    ]:
        assert (await server.request(method, path, token=driver))[0] == 403, path
