"""Searching near a place (issue #13): ``GET /api/v1/availability?near=LAT,LON&radius_km=R``
orders by great-circle distance, then by the window's quoted total; every search pages with
``limit`` and ``cursor``. Real PostgreSQL, the real HTTP server."""

from __future__ import annotations

import base64
import copy
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from tests.conftest import ServerHandle
from tests.world import TARIFF, World

#: Brandenburg Gate, Berlin; the others are measured from here.
CENTRE = (52.5163, 13.3777)
BERLIN, PARIS = (52.5200, 13.4050), (48.8566, 2.3522)
#: Great-circle Berlin-Paris as atlases give it (km).
BERLIN_PARIS_KM = 878


def _tariff(energy_price: str) -> dict[str, Any]:
    tariff = copy.deepcopy(TARIFF)
    for period in tariff["periods"]:
        period["energy_price_per_kwh"] = energy_price
    return tariff


async def add_site(
    server: ServerHandle,
    name: str,
    place: tuple[float, float] | None,
    *,
    energy_price: str = "0.40",
    connectors: int = 2,
) -> tuple[int, str]:
    """A site (at ``place``, or nowhere known) with a tariff and one charger; (site, charger)."""
    body: dict[str, Any] = {"name": name, "timezone": "Europe/Berlin"}
    if place is not None:
        body["latitude"], body["longitude"] = place
    status, site = await server.request("POST", "/api/v1/sites", json=body)
    assert status == 201, site
    status, answer = await server.request(
        "PUT", f"/api/v1/sites/{site['id']}/tariff", json=_tariff(energy_price)
    )
    assert status == 200, answer
    cp_id = await server.register_charge_point(connectors=connectors, site_id=site["id"])
    return site["id"], cp_id


async def search(world: World, query: str, *, expect: int = 200) -> dict[str, Any]:
    start, end = world.window(starts_in=120, minutes=60)
    path = f"/api/v1/availability?start={quote(start)}&end={quote(end)}{query}"
    status, body = await world.server.request("GET", path, token=world.driver)
    assert status == expect, body
    return body  # type: ignore[no-any-return]


def near(place: tuple[float, float], radius_km: float | None = None) -> str:
    query = f"&near={place[0]},{place[1]}"
    return query if radius_km is None else f"{query}&radius_km={radius_km}"


def ids(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(c["charge_point_id"], c["connector_id"]) for c in body["connectors"]]


async def test_nearest_first_then_cheapest_and_far_or_unplaced_sites_left_out(
    world: World,
) -> None:
    server = world.server
    # About 1.1 km, 1.1 km (same spot, dearer), 5.6 km, 100 km from the centre; one unplaced.
    near_cheap, cp_cheap = await add_site(server, "Cheap", (52.5263, 13.3777), energy_price="0.30")
    near_dear, cp_dear = await add_site(server, "Dear", (52.5263, 13.3777), energy_price="0.60")
    _, cp_farther = await add_site(server, "Farther", (52.5663, 13.3777), energy_price="0.10")
    _, cp_far = await add_site(server, "Far", (53.4163, 13.3777), energy_price="0.10")
    _, cp_unplaced = await add_site(server, "Unplaced", None, energy_price="0.10")

    body = await search(world, near(CENTRE))  # Default radius: 25 km.

    chargers = [c["charge_point_id"] for c in body["connectors"]]
    assert chargers == [cp_cheap] * 2 + [cp_dear] * 2 + [cp_farther] * 2
    assert cp_far not in chargers and cp_unplaced not in chargers and world.cp_id not in chargers
    distances = [c["distance_km"] for c in body["connectors"]]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(1.112, abs=0.002)  # 0.01 degree of latitude
    assert distances[-1] == pytest.approx(5.560, abs=0.005)
    totals = [Decimal(c["price"]["estimate"]["total"]) for c in body["connectors"][:4]]
    assert totals[0] < totals[2], "same distance: the cheaper site first"
    for item in body["connectors"]:
        assert item["site"]["distance_km"] == item["distance_km"]
    assert {c["site"]["id"] for c in body["connectors"][:4]} == {near_cheap, near_dear}
    assert body["next_cursor"] is None

    wider = await search(world, near(CENTRE, 150))
    assert [c["charge_point_id"] for c in wider["connectors"]][-2:] == [cp_far] * 2
    assert wider["connectors"][-1]["distance_km"] == pytest.approx(100.08, abs=0.05)

    narrow = await search(world, near(CENTRE, 2))
    assert {c["charge_point_id"] for c in narrow["connectors"]} == {cp_cheap, cp_dear}


async def test_distance_between_two_cities_is_the_great_circle(world: World) -> None:
    _, cp_paris = await add_site(world.server, "Paris", PARIS)
    body = await search(world, near(BERLIN, 1000))
    [paris, _] = body["connectors"]
    assert paris["charge_point_id"] == cp_paris
    assert paris["distance_km"] == pytest.approx(BERLIN_PARIS_KM, rel=0.005)
    assert (await search(world, near(BERLIN, 870)))["connectors"] == []


async def test_other_filters_still_apply_near_a_place(world: World) -> None:
    site_id, cp_id = await add_site(world.server, "Here", (52.5263, 13.3777))
    other_id, _ = await add_site(world.server, "There", (52.5363, 13.3777))
    status, booked = await world.book(1, world.window(starts_in=120, minutes=60), cp_id=cp_id)
    assert status == 201, booked
    body = await search(world, near(CENTRE) + f"&site_id={site_id}")
    assert ids(body) == [(cp_id, 2)], "booked connector 1 is not free; the other site is not asked"
    body = await search(world, near(CENTRE) + "&connector_type=CHAdeMO")
    assert body["connectors"] == []
    body = await search(world, near(CENTRE) + "&min_power_kw=22")
    assert {c["site"]["id"] for c in body["connectors"]} == {site_id, other_id}


async def walk(world: World, query: str, limit: int) -> list[tuple[str, int]]:
    """Every page of a search, ``limit`` at a time, following ``next_cursor`` to the end."""
    seen: list[tuple[str, int]] = []
    cursor = ""
    for _ in range(100):
        body = await search(world, f"{query}&limit={limit}{cursor}")
        assert len(body["connectors"]) <= limit
        seen += ids(body)
        if body["next_cursor"] is None:
            return seen
        assert len(body["connectors"]) == limit, "a page before the last one is full"
        cursor = f"&cursor={body['next_cursor']}"
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("by_distance", [False, True], ids=["by-site", "near"])
async def test_paging_walks_every_connector_once_in_order(world: World, by_distance: bool) -> None:
    # Two sites on one spot, the later one cheaper (a distance shared across page ends), and
    # three others.
    places = [(52.5263, 13.3777), (52.5263, 13.3777), (52.53, 13.40), (52.60, 13.30), (52.45, 13.5)]
    for n, place in enumerate(places):
        await add_site(world.server, f"Site {n}", place, energy_price=f"0.{40 - n}", connectors=3)
    query = near(CENTRE) if by_distance else ""
    everything = ids(await search(world, f"{query}&limit=500"))
    assert len(everything) == 15 + (0 if by_distance else 2)  # The world's unplaced site too.
    for limit in (1, 2, 4, 7, len(everything)):
        walked = await walk(world, query, limit)
        assert walked == everything, f"limit {limit}: no connector twice, none left out"


async def test_a_nearer_site_booked_out_leaves_the_page_to_farther_ones(world: World) -> None:
    _, booked_out = await add_site(world.server, "Booked out", (52.5263, 13.3777))
    _, farther = await add_site(world.server, "Farther", (52.5663, 13.3777))
    for connector_id in (1, 2):
        window = world.window(starts_in=120, minutes=60)
        status, body = await world.book(connector_id, window, cp_id=booked_out)
        assert status == 201, body
    first = await search(world, near(CENTRE) + "&limit=1")
    assert ids(first) == [(farther, 1)]
    rest = await search(world, near(CENTRE) + f"&limit=1&cursor={first['next_cursor']}")
    assert ids(rest) == [(farther, 2)] and rest["next_cursor"] is None


async def test_default_page_is_the_first_fifty(world: World) -> None:
    await add_site(world.server, "Big", (52.5263, 13.3777), connectors=60)
    body = await search(world, "")
    assert len(body["connectors"]) == 50 and body["next_cursor"] is not None
    rest = await search(world, f"&cursor={body['next_cursor']}")
    assert len(rest["connectors"]) == 12 and rest["next_cursor"] is None


def _cursor(values: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


async def test_tampered_cursor_is_422(world: World) -> None:
    await add_site(world.server, "Here", (52.5263, 13.3777), connectors=3)
    by_site = (await search(world, "&limit=1"))["next_cursor"]
    by_distance = (await search(world, near(CENTRE) + "&limit=1"))["next_cursor"]
    decoded = orjson.loads(base64.urlsafe_b64decode(by_distance + "=" * (-len(by_distance) % 4)))
    forged = [
        by_site[:-2] + ("AA" if by_site[-2:] != "AA" else "BB"),
        "A" + by_site,
        _cursor(decoded[:-1]),
        _cursor([*decoded[:2], "1e999", *decoded[3:]]),
        _cursor([*decoded[:1], float(-1), *decoded[2:]]),
        _cursor([*decoded[:5], "connector"]),
        _cursor([*decoded[:4], "no spaces allowed", decoded[5]]),
        _cursor({"n": 1}),
    ]
    for cursor in forged:
        body = await search(world, near(CENTRE) + f"&cursor={quote(cursor)}", expect=422)
        assert body["error"]["code"] == "validation_failed", cursor
    # A cursor of one order does not continue the other.
    body = await search(world, f"&cursor={by_distance}", expect=422)
    assert body["error"]["code"] == "validation_failed"
    body = await search(world, near(CENTRE) + f"&cursor={by_site}", expect=422)
    assert body["error"]["code"] == "validation_failed"


@pytest.mark.parametrize(
    "query",
    [
        "&near=91,0",
        "&near=-90.5,0",
        "&near=0,181",
        "&near=0,-180.01",
        "&near=nan,0",
        "&near=0,inf",
        "&near=1e400,0",
        "&near=1e1,0",
        "&near=0",
        "&near=",
        "&near=a,b",
        "&near=1,2,3",
        "&near=1;2",
        "&near=%201,2",
        "&near=1,2%00",
        "&near=%EF%BC%91,2",  # A full-width digit.
        "&near=" + "1" * 4000 + ",2",  # Long, yet within what an HTTP request line may be.
        "&near=1." + "0" * 60 + ",2",
        "&radius_km=5",
        "&near=1,2&radius_km=0",
        "&near=1,2&radius_km=-3",
        "&near=1,2&radius_km=nan",
        "&near=1,2&radius_km=1001",
        "&near=1,2&radius_km=1e400",
        "&near=1,2&radius_km=ten",
        "&limit=0",
        "&limit=501",
    ],
)
async def test_hostile_search_values_are_422(world: World, query: str) -> None:
    body = await search(world, query, expect=422)
    assert body["error"]["code"] == "validation_failed"
