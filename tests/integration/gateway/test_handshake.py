"""The WebSocket handshake: 404 for unknown chargers, Basic auth, subprotocol, replacement."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import ServerHandle
from tests.ocpp_client import BOOT, OcppTestClient

KEY = "0123456789abcdef0123"


async def test_registered_charger_boots(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        assert client.connection.subprotocol == "ocpp1.6"
        answer = await client.result("BootNotification", BOOT)
    assert answer["status"] == "Accepted"
    assert answer["interval"] == 300
    assert answer["currentTime"].endswith("Z")


async def test_unknown_charger_gets_404(server: ServerHandle) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await OcppTestClient.open(f"{server.ocpp_url}/NOT-REGISTERED")
    assert caught.value.response.status_code == 404


async def test_auto_register_admits_unknown_as_pending(database_url: str, tmp_path: object) -> None:
    from csms.server import running
    from tests.conftest import test_settings

    settings = test_settings(database_url, tmp_path, auto_register=True)  # type: ignore[arg-type]
    async with running(settings):
        url = f"ws://127.0.0.1:{settings.ocpp_port}/ocpp/NEW-ONE"
        async with await OcppTestClient.open(url) as client:
            answer = await client.result("BootNotification", BOOT)
    assert answer["status"] == "Pending"


@pytest.mark.parametrize("key", [None, "wrong-key-wrong-key", KEY + "x"])
async def test_missing_or_wrong_key_gets_401(server: ServerHandle, key: str | None) -> None:
    cp_id = await server.register_charge_point(key=KEY)
    with pytest.raises(InvalidStatus) as caught:
        await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=key)
    assert caught.value.response.status_code == 401


async def test_key_for_another_charger_id_gets_401(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=KEY)
    with pytest.raises(InvalidStatus) as caught:
        await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=KEY, user="SOMEONE-ELSE")
    assert caught.value.response.status_code == 401


async def test_right_key_connects(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=KEY)
    for _ in range(2):  # The second time the cached check is used.
        async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=KEY) as client:
            assert (await client.result("Heartbeat", {}))["currentTime"].endswith("Z")


async def test_subprotocol_chosen_from_several(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    url = f"{server.ocpp_url}/{cp_id}"
    async with await OcppTestClient.open(url, subprotocols=["ocpp0.1", "ocpp1.6"]) as client:
        assert client.connection.subprotocol == "ocpp1.6"


@pytest.mark.parametrize("offered", [[], ["ocpp2.0.1"], ["ocpp1.5", "ocpp2.0"]])
async def test_tc_088_no_acceptable_subprotocol_refuses_the_upgrade(
    server: ServerHandle, offered: list[str]
) -> None:
    cp_id = await server.register_charge_point()
    url = f"{server.ocpp_url}/{cp_id}"
    with pytest.raises(InvalidStatus) as refused:
        await OcppTestClient.open(url, subprotocols=offered)
    assert refused.value.response.status_code == 400


async def test_second_connection_replaces_the_first(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    url = f"{server.ocpp_url}/{cp_id}"
    first = await OcppTestClient.open(url)
    second = await OcppTestClient.open(url)
    with pytest.raises(ConnectionClosed):
        await first.recv(timeout=5)
    assert (await second.result("Heartbeat", {}))["currentTime"]
    # The command path reaches the new connection.
    call = asyncio.create_task(
        server.request("POST", f"/api/v1/charge-points/{cp_id}/commands/ClearCache", json={})
    )
    await second.serve_one(lambda action, payload: {"status": "Accepted"})
    assert await call == (200, {"status": "Accepted"})
    await second.close()


async def test_non_websocket_request_to_ocpp_path_is_refused(server: ServerHandle) -> None:
    import aiohttp

    cp_id = await server.register_charge_point()
    http_url = server.ocpp_url.replace("ws://", "http://")
    async with aiohttp.ClientSession() as http, http.get(f"{http_url}/{cp_id}") as response:
        assert response.status >= 400


async def test_a_charger_id_with_a_colon_authenticates_with_its_key(server: ServerHandle) -> None:
    """RFC 7617 splits user and password at the first colon; the user is the charger id, which
    may hold colons itself (its id syntax allows them)."""
    cp_id = await server.register_charge_point("SITE:7:CP", key="colon-key-0123456789")
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key="colon-key-0123456789") as client:
        assert (await client.result("Heartbeat", {}))["currentTime"]
