"""The fleet console's reads: the charger list's ``state``, its filters and paging, the
summary per state and the alerts panel, with real chargers (scripted stubs over WebSocket)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.charger_stub import ChargerStub
from tests.conftest import ServerHandle
from tests.waiting import eventually
from tests.world import World

STATUS = "StatusNotification"


def cursor(value: object) -> str:
    """A cursor as the API encodes one (base64url of JSON), for forged values."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def boot(charger: ChargerStub, vendor: str, model: str = "Wallbox", serial: str = "") -> None:
    payload = {"chargePointVendor": vendor, "chargePointModel": model}
    if serial:
        payload["chargePointSerialNumber"] = serial
    assert (await charger.result("BootNotification", payload))["status"] == "Accepted"


async def report(
    charger: ChargerStub, connector_id: int, status: str, error: str = "NoError"
) -> None:
    await charger.result(
        STATUS, {"connectorId": connector_id, "status": status, "errorCode": error}
    )


async def ids(server: ServerHandle, query: str) -> list[str]:
    status, page = await server.request("GET", f"/api/v1/charge-points?{query}")
    assert status == 200, page
    return [item["id"] for item in page["items"]]


async def states(server: ServerHandle) -> dict[str, str]:
    _, page = await server.request("GET", "/api/v1/charge-points?limit=500")
    return {item["id"]: item["state"] for item in page["items"]}


@pytest.fixture
async def fleet(world: World) -> AsyncIterator[dict[str, Any]]:
    """Six chargers, one in each situation: online, faulted, charging, reserved (by the
    charger's own status), never seen, and seen once but gone; two of them at a second site."""
    server = world.server
    _, other = await server.request(
        "POST", "/api/v1/sites", json={"name": "Harbour", "timezone": "UTC"}
    )
    names = {
        "online": world.cp_id,
        "faulted": await world.add_charger(),
        "charging": await world.add_charger(),
        "reserved": await server.register_charge_point(site_id=other["id"]),
        "never": await server.register_charge_point(site_id=other["id"]),
        "gone": await world.add_charger(),
    }
    async with contextlib.AsyncExitStack() as stack:
        chargers = {}
        for role in ("online", "faulted", "charging", "reserved", "gone"):
            charger = await ChargerStub.connect(f"{server.ocpp_url}/{names[role]}")
            stack.push_async_callback(charger.close)
            chargers[role] = charger
        await boot(chargers["online"], "Alpitronic", "HYC300", serial="SN-777")
        await boot(chargers["faulted"], "ABB", "Terra AC")
        await report(chargers["faulted"], 1, "Faulted", "GroundFailure")
        await report(chargers["charging"], 2, "Charging")
        await report(chargers["reserved"], 1, "Reserved")
        await report(chargers["gone"], 1, "Available")
        await eventually(lambda: states(server), lambda s: s.get(names["gone"]) == "online")
        await chargers["gone"].close()
        expected = {
            names["online"]: "online",
            names["faulted"]: "faulted",
            names["charging"]: "charging",
            names["reserved"]: "reserved",
            names["never"]: "offline",
            names["gone"]: "offline",
        }
        await eventually(lambda: states(server), lambda s: s == expected)
        yield {"names": names, "other_site": other["id"], "world": world, "chargers": chargers}


async def test_each_charger_carries_the_state_that_best_describes_it(
    server: ServerHandle, fleet: dict[str, Any]
) -> None:
    names = fleet["names"]
    # Faulted wins over charging: the charging charger's other connector breaks.
    await report(fleet["chargers"]["charging"], 1, "Faulted", "HighTemperature")
    await eventually(lambda: states(server), lambda s: s[names["charging"]] == "faulted")
    await report(fleet["chargers"]["charging"], 1, "Available")
    await eventually(lambda: states(server), lambda s: s[names["charging"]] == "charging")
    # The detail carries it too.
    status, detail = await server.request("GET", f"/api/v1/charge-points/{names['reserved']}")
    assert status == 200 and detail["state"] == "reserved"


async def test_the_list_filters_by_state_site_and_text(
    server: ServerHandle, fleet: dict[str, Any]
) -> None:
    names, other = fleet["names"], fleet["other_site"]
    assert await ids(server, "state=faulted") == [names["faulted"]]
    assert await ids(server, "state=charging,reserved") == sorted(
        [names["charging"], names["reserved"]]
    )
    assert await ids(server, "state=offline&state=online") == sorted(
        [names["never"], names["gone"], names["online"]]
    )
    assert await ids(server, f"site_id={other}") == sorted([names["reserved"], names["never"]])
    assert await ids(server, f"site_id={other}&state=offline") == [names["never"]]
    # Text: vendor, model and serial number without case, and a piece of the id.
    assert await ids(server, "q=alpiTRONIC") == [names["online"]]
    assert await ids(server, "q=terra%20ac") == [names["faulted"]]
    assert await ids(server, "q=sn-777") == [names["online"]]
    assert await ids(server, f"q={names['gone'][-6:]}") == [names["gone"]]
    # LIKE's wildcards are plain characters in a search.
    assert await ids(server, "q=%25") == []
    assert await ids(server, "q=_") == []
    assert await ids(server, "q=nobody-has-this") == []


async def test_a_filtered_list_pages_with_its_cursor(
    server: ServerHandle, fleet: dict[str, Any]
) -> None:
    names = fleet["names"]
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        status, page = await server.request(
            "GET", f"/api/v1/charge-points?state=offline,online&limit=1{cursor}"
        )
        assert status == 200 and len(page["items"]) <= 1
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == sorted([names["never"], names["gone"], names["online"]])


async def test_the_summary_counts_chargers_per_state(
    server: ServerHandle, fleet: dict[str, Any]
) -> None:
    status, summary = await server.request("GET", "/api/v1/charge-points/summary")
    assert status == 200
    assert summary == {
        "total": 6,
        "by_state": {"online": 1, "offline": 2, "faulted": 1, "charging": 1, "reserved": 1},
    }
    status, summary = await server.request(
        "GET", f"/api/v1/charge-points/summary?site_id={fleet['other_site']}"
    )
    assert summary["total"] == 2 and summary["by_state"]["offline"] == 1
    status, summary = await server.request("GET", "/api/v1/charge-points/summary?q=abb")
    assert summary["total"] == 1 and summary["by_state"]["faulted"] == 1


async def test_alerts_name_faulted_and_offline_chargers_and_failed_bookings(
    server: ServerHandle, fleet: dict[str, Any]
) -> None:
    names, world = fleet["names"], fleet["world"]
    status, answer = await server.request("GET", "/api/v1/alerts")
    assert status == 200
    found = {(a["kind"], a["charge_point_id"], a.get("connector_id")) for a in answer["items"]}
    # Never seen is not an alert (a charger being installed); seen once and gone is.
    assert found == {("faulted", names["faulted"], 1), ("offline", names["gone"], None)}
    faulted = next(a for a in answer["items"] if a["kind"] == "faulted")
    assert faulted["message"] == "Connector 1 reports Faulted: GroundFailure"

    # A booking at the online charger that fails: ReserveNow Faulted, nowhere to move it.
    other = await world.new_driver()
    window = world.window(0, 30)
    assert (await world.book(2, window, token=other))[0] == 201
    charger = fleet["chargers"]["online"]
    charger.replies["ReserveNow"] = lambda p: {
        "status": "Faulted" if p["connectorId"] == 1 else "Accepted"
    }
    _, booking = await world.book(1, window)
    await eventually(
        lambda: world.reservation(booking["id"]),
        lambda r: "faulted" in r.get("status_reason", ""),
    )
    world.clock.advance(minutes=29.9)
    await eventually(lambda: world.reservation(booking["id"]), lambda r: r["status"] == "failed")
    _, answer = await server.request("GET", "/api/v1/alerts")
    failed = [a for a in answer["items"] if a["kind"] == "booking_failed"]
    assert [(a["reservation_id"], a["charge_point_id"], a["connector_id"]) for a in failed] == [
        (booking["id"], names["online"], 1)
    ]
    assert failed[0]["message"].startswith(f"Booking #{booking['id']} failed: ")
    # Newest first.
    times = [a["since"] for a in answer["items"]]
    assert times == sorted(times, reverse=True)


async def test_alerts_page_without_gaps_or_repeats(
    server: ServerHandle, fleet: dict[str, Any]
) -> None:
    # More alerts: every connector of the faulted charger, and the charger itself.
    charger = fleet["chargers"]["faulted"]
    await report(charger, 2, "Faulted", "OverVoltage")
    await report(charger, 0, "Faulted", "PowerMeterFailure")
    _, everything = await server.request("GET", "/api/v1/alerts")
    await eventually(
        lambda: server.request("GET", "/api/v1/alerts"), lambda a: len(a[1]["items"]) == 4
    )
    _, everything = await server.request("GET", "/api/v1/alerts")
    pages: list[dict[str, Any]] = []
    cursor = ""
    while True:
        status, page = await server.request("GET", f"/api/v1/alerts?limit=1{cursor}")
        assert status == 200
        pages += page["items"]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert pages == everything["items"]
    whole = next(a for a in pages if a.get("connector_id") == 0)
    assert whole["message"] == "The charger reports Faulted: PowerMeterFailure"


@pytest.mark.parametrize(
    "query",
    [
        "charge-points?state=asleep",
        "charge-points?state=online,",
        "charge-points?state=",
        "charge-points?site_id=18446744073709551616",
        "charge-points?site_id=-1",
        "charge-points?q=" + "x" * 101,
        "charge-points?q=a%00b",
        "charge-points?limit=0",
        "charge-points?cursor=%00%00",
        "charge-points/summary?site_id=abc",
        "charge-points/summary?q=%00",
        "alerts?limit=501",
        "alerts?cursor=bm90LWpzb24",
        "alerts?cursor=" + cursor(["0001-01-01T00:00:00", "offline", "A", 1, 1]),  # no offset
        "alerts?cursor=" + cursor([1, 2, 3]),
        "alerts?cursor=" + cursor(["2026-01-01T00:00:00+00:00", "offline", "A", 2**64, 1]),
        "alerts?cursor=" + cursor(["2026-01-01T00:00:00+00:00", "asleep", "A", 1, 1]),
        "alerts?cursor=" + cursor(["2026-01-01T00:00:00+00:00", "offline", "A\x00", 1, 1]),
        "alerts?cursor=" + cursor(["not a time", "offline", "A", 1, 1]),
    ],
)
async def test_hostile_parameters_are_422(server: ServerHandle, query: str) -> None:
    status, body = await server.request("GET", f"/api/v1/{query}")
    assert status == 422, body
    assert body["error"]["code"] == "validation_failed"


async def test_drivers_may_not_read_the_fleet(world: World) -> None:
    for path in ("charge-points/summary", "alerts", "charge-points?state=online"):
        status, _ = await world.server.request("GET", f"/api/v1/{path}", token=world.driver)
        assert status == 403
