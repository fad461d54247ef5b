"""``PATCH /api/v1/id-tags/{id_tag}``: an operator changes a card's expiry, block or parent,
and a charger's Authorize (S 4.1, 7.27) answers by the change at once — over a real socket,
against real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from csms.domain.timestamps import format_timestamp
from tests.conftest import ServerHandle, ShiftableClock
from tests.ocpp_client import OcppTestClient
from tests.world import sign_up_driver


def tag_path(id_tag: str) -> str:
    return f"/api/v1/id-tags/{id_tag}"


async def patch(server: ServerHandle, id_tag: str, **body: Any) -> tuple[int, Any]:
    return await server.request("PATCH", tag_path(id_tag), json=body)


async def listed(server: ServerHandle, id_tag: str) -> dict[str, Any]:
    _, page = await server.request("GET", "/api/v1/id-tags?limit=500")
    [card] = [item for item in page["items"] if item["id_tag"] == id_tag]
    return card  # type: ignore[no-any-return]


async def test_each_field_changes_alone_and_null_clears(server: ServerHandle) -> None:
    await server.add_id_tag("RFID-1", parent_id_tag="FLEET", expiry_date="2030-01-01T00:00:00Z")
    code, card = await patch(server, "RFID-1", blocked=True)
    assert code == 200
    assert (card["blocked"], card["parent_id_tag"], card["expiry_date"]) == (
        True,
        "FLEET",
        "2030-01-01T00:00:00Z",
    )
    code, card = await patch(server, "RFID-1", expiry_date="2031-06-01T12:00:00+02:00")
    assert (code, card["expiry_date"], card["blocked"]) == (200, "2031-06-01T10:00:00Z", True)
    code, card = await patch(server, "RFID-1", parent_id_tag="OTHER-FLEET")
    assert (code, card["parent_id_tag"], card["expiry_date"]) == (
        200,
        "OTHER-FLEET",
        "2031-06-01T10:00:00Z",
    )
    code, card = await patch(server, "RFID-1", expiry_date=None, parent_id_tag=None, blocked=False)
    assert code == 200
    assert (card["expiry_date"], card["parent_id_tag"], card["blocked"]) == (None, None, False)
    assert await listed(server, "RFID-1") == card


async def test_the_card_is_found_without_case(server: ServerHandle) -> None:
    await server.add_id_tag("Card-Mixed")
    code, card = await patch(server, "cARD-mIXED", blocked=True)
    assert (code, card["id_tag"], card["blocked"]) == (200, "Card-Mixed", True)


async def test_any_printable_name_can_be_named_in_the_path(server: ServerHandle) -> None:
    await server.add_id_tag("Fleet/7 #1?")
    code, card = await patch(server, quote("fleet/7 #1?", safe=""), blocked=True)
    assert (code, card["id_tag"]) == (200, "Fleet/7 #1?")


async def test_an_unknown_card_is_404(server: ServerHandle) -> None:
    for id_tag in ["NOBODY", "x" * 21, "with%20space"]:
        code, body = await patch(server, id_tag, blocked=True)
        assert (code, body["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id_tag": "RENAMED"},  # the name never changes: no card takes a booking code's name
        {"user_id": 1},
        {"blocked": "yes"},
        {"blocked": None},
        {"blocked": 1},
        {"expiry_date": "soon"},
        {"expiry_date": "2030-01-01T00:00:00"},  # no offset
        {"expiry_date": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
        {"expiry_date": "9999-12-31T23:59:59.999999Z"},  # would be stored as infinity
        {"expiry_date": 1767225600},
        {"parent_id_tag": ""},
        {"parent_id_tag": "x" * 21},
        {"parent_id_tag": "line\nbreak"},
        {"parent_id_tag": "nul\u0000"},
        {"parent_id_tag": 7},
    ],
)
async def test_bad_input_is_422(server: ServerHandle, body: dict[str, Any]) -> None:
    await server.add_id_tag("RFID-BAD", parent_id_tag="FLEET")
    before = await listed(server, "RFID-BAD")
    code, answer = await server.request("PATCH", tag_path("RFID-BAD"), json=body)
    assert (code, answer["error"]["code"]) == (422, "validation_failed"), answer
    assert await listed(server, "RFID-BAD") == before


async def test_a_body_that_is_not_an_object_is_422(server: ServerHandle) -> None:
    await server.add_id_tag("RFID-RAW")
    for raw in [b"[]", b"null", b"{not json", b""]:
        code, _ = await server.request(
            "PATCH", tag_path("RFID-RAW"), data=raw, headers={"Content-Type": "application/json"}
        )
        assert code == 422


async def test_drivers_may_not_update_cards_not_even_their_own(server: ServerHandle) -> None:
    driver = await sign_up_driver(server)
    code, _ = await server.request(
        "POST", "/api/v1/me/id-tags", token=driver, json={"id_tag": "MY-CARD"}
    )
    assert code == 201
    for body in [{"blocked": True}, {"blocked": False}, {"expiry_date": None}]:
        code, answer = await server.request(
            "PATCH", tag_path("MY-CARD"), token=driver, json=body
        )
        assert (code, answer["error"]["code"]) == (403, "forbidden")
    assert (await listed(server, "MY-CARD"))["blocked"] is False


async def test_a_drivers_group_holds_their_own_cards_only(server: ServerHandle) -> None:
    """``DRIVER-<id>`` is the parentIdTag of that driver's bookings: a card in it starts them."""
    driver = await sign_up_driver(server)
    _, card = await server.request(
        "POST", "/api/v1/me/id-tags", token=driver, json={"id_tag": "THEIR-CARD"}
    )
    group = card["parent_id_tag"]
    assert group.startswith("DRIVER-")
    for parent in ["FLEET", None]:
        code, body = await patch(server, "THEIR-CARD", parent_id_tag=parent)
        assert (code, body["error"]["code"]) == (409, "driver_group")
    code, body = await patch(server, "THEIR-CARD", parent_id_tag=group.lower(), blocked=True)
    assert (code, body["blocked"]) == (200, True)  # its own group (any case); blocking is fine
    await server.add_id_tag("FLEET-CARD", parent_id_tag="FLEET")
    for parent in [group, group.lower(), "DRIVER-999999"]:
        code, body = await patch(server, "FLEET-CARD", parent_id_tag=parent)
        assert (code, body["error"]["code"]) == (409, "driver_group")
    assert (await listed(server, "FLEET-CARD"))["parent_id_tag"] == "FLEET"


async def test_authorize_answers_by_the_change_at_once(
    server: ServerHandle, clock: ShiftableClock
) -> None:
    cp_id = await server.register_charge_point()
    await server.add_id_tag("TAP-ME")
    yesterday = format_timestamp(clock() - timedelta(days=1))
    next_year = clock() + timedelta(days=365)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:

        async def authorize() -> dict[str, Any]:
            answer = await client.result("Authorize", {"idTag": "tap-me"})
            return answer["idTagInfo"]  # type: ignore[no-any-return]

        assert await authorize() == {"status": "Accepted"}
        await patch(server, "TAP-ME", blocked=True)
        assert (await authorize())["status"] == "Blocked"
        await patch(server, "TAP-ME", blocked=False, expiry_date=yesterday)
        info = await authorize()
        assert (info["status"], info["expiryDate"]) == ("Expired", yesterday)
        await patch(server, "TAP-ME", expiry_date=format_timestamp(next_year))
        info = await authorize()
        assert (info["status"], info["expiryDate"]) == ("Accepted", format_timestamp(next_year))
        await patch(server, "TAP-ME", expiry_date=None, parent_id_tag="FLEET-9")
        assert await authorize() == {"status": "Accepted", "parentIdTag": "FLEET-9"}
        await patch(server, "TAP-ME", parent_id_tag=None)
        assert await authorize() == {"status": "Accepted"}


async def test_a_new_card_cannot_join_a_drivers_group(server: ServerHandle) -> None:
    """A card in DRIVER-<id> may start that driver's bookings: only their own cards are in it."""
    status, body = await server.request(
        "POST", "/api/v1/id-tags", json={"id_tag": "SNEAKY-1", "parent_id_tag": "DRIVER-1"}
    )
    assert status == 409 and body["error"]["code"] == "driver_group", body
    status, body = await server.request("POST", "/api/v1/id-tags", json={"id_tag": "FLEET-1", "parent_id_tag": "FLEET"})
    assert status == 201, body
