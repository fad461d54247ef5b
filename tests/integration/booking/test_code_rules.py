"""A code works only for its owner, at its connector, in its window — over real sockets, with
chargers that Authorize before answering ReserveNow, and drivers who try to shadow codes."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from csms.booking import store
from csms.booking.store import CodeCollision, NewBooking
from tests.conftest import ShiftableClock, serving, test_settings
from tests.integration.booking.test_failure_paths import wait_status
from tests.world import TARIFF, World, make_world, parse


async def wrong_codes(world: World) -> int:
    assert world.server.pool is not None
    return int(await world.server.pool.fetchval("SELECT count(*) FROM wrong_codes"))


@pytest.fixture
async def lead_world(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> AsyncIterator[World]:
    """ReserveNow goes out ten minutes before the window."""
    settings = test_settings(database_url, tmp_path, reserve_lead_seconds=600)
    async with serving(settings, clock) as server:
        yield await make_world(server, clock)


async def test_authorize_before_the_reserve_now_answer_is_accepted_and_not_counted(
    lead_world: World,
) -> None:
    """The charger Authorizes the idTag as soon as ReserveNow arrives, before answering and,
    with a lead, before the window opens (S 5.13)."""
    world = lead_world
    async with await world.connect(ReserveNow=lambda p: None) as charger:
        start, end = world.window(starts_in=5, minutes=30)
        _, booking = await world.book(1, (start, end))
        reserve = await charger.wait_call("ReserveNow")
        assert reserve["idTag"] == booking["code"]
        early = await charger.result("Authorize", {"idTag": booking["code"]})
        assert early["idTagInfo"]["status"] == "Accepted"
        assert parse(early["idTagInfo"]["expiryDate"]) == parse(end)
        await charger.answer_held("ReserveNow", {"status": "Accepted"})
        await wait_status(world, booking["id"], "active")
    assert await wrong_codes(world) == 0


async def test_a_code_not_yet_sent_is_refused_but_not_counted(world: World) -> None:
    async with await world.connect() as charger:
        _, booking = await world.book(1, world.window(starts_in=120, minutes=30))
        info = (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"]
    assert info == {"status": "Invalid"}
    assert await wrong_codes(world) == 0


async def test_no_card_may_take_a_live_code(world: World) -> None:
    _, booking = await world.book(1, world.window(starts_in=60, minutes=30))
    thief = await world.new_driver()
    status, body = await world.server.request(
        "POST", "/api/v1/me/id-tags", token=thief, json={"id_tag": booking["code"]}
    )
    assert status == 409 and body["error"]["code"] == "already_exists"
    status, body = await world.server.request(
        "POST", "/api/v1/id-tags", json={"id_tag": booking["code"]}
    )
    assert status == 409 and body["error"]["code"] == "already_exists"
    world.clock.advance(minutes=60)
    async with await world.connect() as charger:
        await wait_status(world, booking["id"], "active")
        info = (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"]
    assert info["status"] == "Accepted"


async def test_no_code_is_issued_that_equals_a_card(world: World) -> None:
    await world.server.add_id_tag("135792")
    assert world.server.pool is not None
    async with world.server.pool.acquire() as connection, connection.transaction():
        template = await _template(world)
        with pytest.raises(CodeCollision):
            await store.insert(connection, template, world.clock())


async def test_codes_are_unique_per_site_not_system_wide(world: World) -> None:
    assert world.server.pool is not None
    status, other = await world.server.request(
        "POST", "/api/v1/sites", json={"name": "Elsewhere", "timezone": "Europe/Berlin"}
    )
    assert status == 201
    await world.server.request("PUT", f"/api/v1/sites/{other['id']}/tariff", json=TARIFF)
    far = await world.server.register_charge_point(connectors=1, site_id=other["id"])
    async with world.server.pool.acquire() as connection, connection.transaction():
        here = await _template(world)
        await store.insert(connection, here, world.clock())
        there = dataclasses.replace(here, site_id=other["id"], charge_point_id=far)
        await store.insert(connection, there, world.clock())  # same code, another site
        same_site = dataclasses.replace(here, connector_id=2)
        with pytest.raises(CodeCollision):
            await store.insert(connection, same_site, world.clock())


async def _template(world: World) -> NewBooking:
    start = world.clock() + timedelta(hours=2)
    user_id = await world.server.pool.fetchval("SELECT min(id) FROM users")  # type: ignore[union-attr]
    return NewBooking(
        user_id=user_id, site_id=world.site_id, charge_point_id=world.cp_id, connector_id=1,
        start=start, end=start + timedelta(hours=1), code="135792", price={}, tariff={},
        timezone="Europe/Berlin", parent_id_tag=None, idempotency_key=None, next_action_at=start,
        terms={}, held=(start, start + timedelta(hours=1)),
    )


async def test_a_driver_may_register_a_bounded_number_of_cards(world: World) -> None:
    for n in range(10):
        status, body = await world.server.request(
            "POST", "/api/v1/me/id-tags", token=world.driver, json={"id_tag": f"MINE-{n}"}
        )
        assert status == 201, body
    status, body = await world.server.request(
        "POST", "/api/v1/me/id-tags", token=world.driver, json={"id_tag": "MINE-10"}
    )
    assert status == 409 and body["error"]["code"] == "too_many_cards"


async def test_a_finished_code_authorizes_nothing_reveals_nothing_and_counts(world: World) -> None:
    status, _ = await world.server.request(
        "POST", "/api/v1/me/id-tags", token=world.driver, json={"id_tag": "OWNER-CARD"}
    )
    assert status == 201
    async with await world.connect() as charger:
        _, booking = await world.book(1)
        await wait_status(world, booking["id"], "active")
        await world.server.request(
            "DELETE", f"/api/v1/reservations/{booking['id']}", token=world.driver
        )
        info = (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"]
        assert info == {"status": "Blocked"}  # no parentIdTag: nothing about its owner
        start = await charger.result("StartTransaction", {
            "connectorId": 1, "idTag": booking["code"], "meterStart": 0,
            "timestamp": world.window()[0]})
        assert start["idTagInfo"] == {"status": "Blocked"}
    assert await wrong_codes(world) == 2


async def test_a_code_past_its_window_is_expired_even_while_still_charging(world: World) -> None:
    async with await world.connect() as charger:
        start, _ = world.window(minutes=30)
        _, booking = await world.book(1, world.window(minutes=30))
        await wait_status(world, booking["id"], "active")
        await charger.result("StartTransaction", {
            "connectorId": 1, "idTag": booking["code"], "meterStart": 0, "timestamp": start,
            "reservationId": booking["id"]})
        await wait_status(world, booking["id"], "charging")
        world.clock.advance(minutes=31)
        info = (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"]
    assert info == {"status": "Expired"}


async def test_stop_transaction_accepts_the_code_that_started_it(world: World) -> None:
    async with await world.connect() as charger:
        start, _ = world.window()
        _, booking = await world.book(1)
        await wait_status(world, booking["id"], "active")
        started = await charger.result("StartTransaction", {
            "connectorId": 1, "idTag": booking["code"], "meterStart": 0, "timestamp": start,
            "reservationId": booking["id"]})
        stopped = await charger.result("StopTransaction", {
            "transactionId": started["transactionId"], "idTag": booking["code"],
            "meterStop": 5000, "timestamp": start, "reason": "Local"})
    assert stopped["idTagInfo"]["status"] == "Accepted"


async def test_the_wrong_code_lock_is_shared_by_nodes_and_kept_across_a_restart(
    world: World, database_url: str, tmp_path: Path
) -> None:
    async with await world.connect() as charger:
        _, booking = await world.book(1)
        await wait_status(world, booking["id"], "active")
        wrong = "9" + booking["code"][1:] if booking["code"][0] != "9" else "1" + booking["code"][1:]
        for _ in range(5):
            info = (await charger.result("Authorize", {"idTag": wrong}))["idTagInfo"]
            assert info["status"] == "Invalid"
    # Another node (a new process on the same database) sees the same lock.
    settings = test_settings(database_url, tmp_path / "second")
    async with serving(settings, world.clock) as second:
        other = World(second, world.clock, world.site_id, world.cp_id, world.driver)
        async with await other.connect() as charger:
            info = (await charger.result("Authorize", {"idTag": booking["code"]}))["idTagInfo"]
    assert info == {"status": "Invalid"}  # locked for codes, even the right one
