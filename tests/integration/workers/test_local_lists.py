"""Local authorization lists kept in step (S 3.5, 5.11, 5.16): a charger that manages one gets
csms's cards when it connects, and every change of a card afterwards, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.charger_stub import ChargerStub
from tests.conftest import ServerHandle, ShiftableClock, serving, test_settings
from tests.world import make_world, parse


@pytest.fixture
async def server(database_url: str, tmp_path: Path, clock: ShiftableClock) -> AsyncIterator[ServerHandle]:
    settings = test_settings(
        database_url, tmp_path, local_lists=True, local_list_settle_seconds=0.1,
        local_list_sync_seconds=0.3, local_list_code_lead_seconds=600,
    )
    async with serving(settings, clock) as handle:
        yield handle


@dataclass
class ChargerList:
    """The list a 1.6 charger keeps: versioned, replaced by Full, amended by Differential."""

    profiles: str = "Core, LocalAuthListManagement"
    max_length: int = 1000
    per_message: int = 100
    version: int = 0
    entries: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    answer: str = "Accepted"
    updates: list[dict[str, Any]] = field(default_factory=list)

    def replies(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "GetConfiguration": lambda p: {"configurationKey": [
                {"key": "SupportedFeatureProfiles", "readonly": True, "value": self.profiles},
                {"key": "LocalAuthListMaxLength", "readonly": True, "value": str(self.max_length)},
                {"key": "SendLocalListMaxLength", "readonly": True, "value": str(self.per_message)},
            ]},
            "GetLocalListVersion": lambda p: {"listVersion": self.version},
            "SendLocalList": self.send_local_list,
        }

    def send_local_list(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.updates.append(payload)
        if self.answer != "Accepted":
            return {"status": self.answer}
        if payload["updateType"] == "Full":
            self.entries = {}
        elif payload["listVersion"] <= self.version:
            return {"status": "VersionMismatch"}  # S 5.16
        for item in payload.get("localAuthorizationList", []):
            if "idTagInfo" in item:
                self.entries[item["idTag"]] = item["idTagInfo"]
            else:
                self.entries.pop(item["idTag"], None)
        self.version = payload["listVersion"]
        return {"status": "Accepted"}


async def connect(server: ServerHandle, cp_id: str, charger: ChargerList) -> ChargerStub:
    stub = await ChargerStub.connect(f"{server.ocpp_url}/{cp_id}", **charger.replies())
    await stub.result("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    return stub


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never held")


def pool_of(server: ServerHandle) -> asyncpg.Pool:
    assert server.pool is not None
    return server.pool


async def test_a_charger_gets_every_card_then_each_change(server: ServerHandle) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    await server.add_id_tag("CARD-OK", parent_id_tag="FLEET")
    await server.add_id_tag("CARD-BLOCKED", blocked=True)
    await pool_of(server).execute(
        "INSERT INTO id_tags (id_tag, expiry_date) VALUES ('CARD-OLD', $1)", past
    )
    cp_id = await server.register_charge_point()
    charger = ChargerList()
    async with await connect(server, cp_id, charger):
        await until(lambda: len(charger.entries) == 3)
        assert charger.updates[0]["updateType"] == "Full"
        assert charger.entries["CARD-OK"] == {"status": "Accepted", "parentIdTag": "FLEET"}
        assert charger.entries["CARD-BLOCKED"]["status"] == "Blocked"
        assert charger.entries["CARD-OLD"]["status"] == "Expired"
        first = charger.version

        await server.add_id_tag("CARD-NEW")
        await until(lambda: "CARD-NEW" in charger.entries)
        assert charger.updates[-1]["updateType"] == "Differential"
        assert [i["idTag"] for i in charger.updates[-1]["localAuthorizationList"]] == ["CARD-NEW"]
        assert charger.version > first

        await pool_of(server).execute("UPDATE id_tags SET blocked = true WHERE id_tag = 'CARD-OK'")
        await until(lambda: charger.entries["CARD-OK"]["status"] == "Blocked")
        await pool_of(server).execute("DELETE FROM id_tags WHERE id_tag = 'CARD-NEW'")
        await until(lambda: "CARD-NEW" not in charger.entries)
        assert charger.updates[-1]["localAuthorizationList"] == [{"idTag": "CARD-NEW"}]
        sent = len(charger.updates)
        await asyncio.sleep(1.0)  # In step: nothing more is sent.
        assert len(charger.updates) == sent


async def test_a_charger_that_lost_its_list_gets_all_of_it_again(server: ServerHandle) -> None:
    await server.add_id_tag("CARD-A")
    cp_id = await server.register_charge_point()
    charger = ChargerList()
    async with await connect(server, cp_id, charger):
        await until(lambda: "CARD-A" in charger.entries)
    charger.version, charger.entries = 0, {}  # a reset (firmware update, memory lost)
    async with await connect(server, cp_id, charger):
        await until(lambda: "CARD-A" in charger.entries)
    assert [u["updateType"] for u in charger.updates] == ["Full", "Full"]


async def test_a_long_list_goes_in_messages_the_charger_takes(server: ServerHandle) -> None:
    for n in range(5):
        await server.add_id_tag(f"CARD-{n}")
    cp_id = await server.register_charge_point()
    charger = ChargerList(per_message=2)
    async with await connect(server, cp_id, charger):
        await until(lambda: len(charger.entries) == 5)
    assert [len(u["localAuthorizationList"]) for u in charger.updates] == [2, 2, 1]
    assert [u["updateType"] for u in charger.updates] == ["Full", "Differential", "Differential"]
    versions = [u["listVersion"] for u in charger.updates]
    assert versions == sorted(set(versions))


async def test_no_list_for_a_charger_without_the_profile_or_room(server: ServerHandle) -> None:
    await server.add_id_tag("CARD-1")
    await server.add_id_tag("CARD-2")
    plain = ChargerList(profiles="Core,Reservation")
    small = ChargerList(max_length=1)
    plain_id, small_id = await server.register_charge_point(), await server.register_charge_point()
    async with await connect(server, plain_id, plain) as plain_stub, await connect(server, small_id, small) as small_stub:
        await small_stub.wait_call("GetLocalListVersion")
        await plain_stub.wait_call("GetConfiguration")
        await asyncio.sleep(1.0)
        assert plain_stub.calls_of("GetLocalListVersion") == []
    # A partial list would refuse cards csms accepts: nothing is sent, and why is recorded.
    assert small.updates == []
    problem = await pool_of(server).fetchval(
        "SELECT problem FROM local_lists WHERE charge_point_id = $1", small_id
    )
    assert "LocalAuthListMaxLength" in problem


async def test_a_refused_update_is_recorded_and_not_taken_as_sent(server: ServerHandle) -> None:
    await server.add_id_tag("CARD-1")
    cp_id = await server.register_charge_point()
    charger = ChargerList(answer="Failed")
    async with await connect(server, cp_id, charger):
        await until(lambda: len(charger.updates) == 1)
        await asyncio.sleep(0.5)
    row = await pool_of(server).fetchrow(
        "SELECT version, problem FROM local_lists WHERE charge_point_id = $1", cp_id
    )
    assert row is not None and row["problem"] == "SendLocalList Failed" and row["version"] == -1
    assert len(charger.updates) == 1  # not hammered: tried again only after a while


async def test_a_booking_code_is_on_its_charger_list_for_its_window(
    server: ServerHandle, clock: ShiftableClock
) -> None:
    world = await make_world(server, clock)
    path = f"/api/v1/sites/{world.site_id}"
    assert (await server.request("PATCH", path, json={"codes_on_local_list": True}))[0] == 200
    await server.add_id_tag("CARD-A")
    other_id = await world.add_charger()
    status, booking = await world.book(1, world.window(starts_in=30))
    assert status == 201, booking
    code, end = booking["code"], parse(booking["end"])
    charger, other = ChargerList(), ChargerList()
    async with await world.connect(**charger.replies()), await connect(server, other_id, other):
        await until(lambda: "CARD-A" in charger.entries and "CARD-A" in other.entries)
        await asyncio.sleep(0.7)
        assert code not in charger.entries  # 30 minutes ahead: not yet (the lead is 10)

        clock.advance(minutes=21)
        await until(lambda: code in charger.entries)
        assert charger.updates[-1]["updateType"] == "Differential"
        assert charger.entries[code]["status"] == "Accepted"
        assert parse(charger.entries[code]["expiryDate"]) == end
        updates = len(other.updates)

        cancel = f"/api/v1/reservations/{booking['id']}"
        assert (await server.request("DELETE", cancel, token=world.driver))[0] == 200
        await until(lambda: code not in charger.entries)
        assert charger.updates[-1]["localAuthorizationList"] == [{"idTag": code}]
        # Another charger's list never held the code, and was not sent anything for it.
        assert code not in other.entries and len(other.updates) == updates
        # Once the charger has been told, the code's tombstone goes.
        await until_value(lambda: pool_of(server).fetchval(
            "SELECT count(*) FROM local_list_codes WHERE charge_point_id = $1", world.cp_id
        ), 0)


async def test_a_charger_that_lost_its_list_gets_the_codes_in_the_full_list(
    server: ServerHandle, clock: ShiftableClock
) -> None:
    world = await make_world(server, clock)
    path = f"/api/v1/sites/{world.site_id}"
    assert (await server.request("PATCH", path, json={"codes_on_local_list": True}))[0] == 200
    status, booking = await world.book(1, world.window(starts_in=5))
    assert status == 201, booking
    charger = ChargerList()
    async with await world.connect(**charger.replies()):
        await until(lambda: booking["code"] in charger.entries)
    charger.version, charger.entries = 0, {}
    async with await world.connect(**charger.replies()):
        await until(lambda: booking["code"] in charger.entries)
    assert charger.updates[-1]["updateType"] == "Full"


async def until_value(probe: Callable[[], Any], wanted: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if await probe() == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never {wanted!r}")
