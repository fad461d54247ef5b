"""The OCPP message log over HTTP: every frame in and out of a real charger socket, newest
first, paged, filtered, exported as JSON lines; operators only; hostile queries are 422."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import ServerHandle, test_settings
from tests.ocpp_client import BOOT, OcppTestClient
from tests.waiting import eventually
from tests.world import sign_up_driver


@pytest.fixture
async def charger(server: ServerHandle) -> AsyncIterator[tuple[str, OcppTestClient]]:
    cp_id = await server.register_charge_point()
    client = await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}")
    yield cp_id, client
    await client.close()


async def _messages(server: ServerHandle, cp_id: str, query: str = "") -> dict[str, Any]:
    status, body = await server.request("GET", f"/api/v1/charge-points/{cp_id}/messages{query}")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def _logged(server: ServerHandle, cp_id: str, count: int) -> list[dict[str, Any]]:
    """The newest frames once at least ``count`` are stored (writes are batched)."""
    body = await eventually(
        lambda: _messages(server, cp_id, "?limit=500"), lambda b: len(b["items"]) >= count
    )
    return body["items"]  # type: ignore[no-any-return]


async def test_every_frame_in_and_out_newest_first(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    await client.result("BootNotification", BOOT)
    await client.call("Heartbeat", {})
    assert (await client.call("MadeUpAction", {}))[0] == 4
    await client.send_raw("this is not json")
    command = asyncio.create_task(
        server.request("POST", f"/api/v1/charge-points/{cp_id}/commands/GetConfiguration",
                       json={"key": ["HeartbeatInterval"]})
    )
    await client.serve_one(lambda action, payload: {"configurationKey": [], "unknownKey": ["X"]})
    assert (await command)[0] == 200

    items = await _logged(server, cp_id, 8)
    shape = [(m["direction"], m["message_type"], m["action"]) for m in reversed(items)]
    assert shape == [
        ("in", "CALL", "BootNotification"),
        ("out", "CALLRESULT", "BootNotification"),
        ("in", "CALL", "Heartbeat"),
        ("out", "CALLRESULT", "Heartbeat"),
        ("in", "CALL", "MadeUpAction"),
        ("out", "CALLERROR", "MadeUpAction"),
        ("in", "INVALID", None),
        ("out", "CALL", "GetConfiguration"),
        ("in", "CALLRESULT", "GetConfiguration"),
    ]
    by_shape = {(m["direction"], m["message_type"], m["action"]): m for m in items}
    boot = by_shape[("in", "CALL", "BootNotification")]
    assert boot["payload"] == BOOT and boot["message_id"] == "m1"
    answer = by_shape[("out", "CALLRESULT", "BootNotification")]
    assert answer["message_id"] == "m1" and answer["payload"]["status"] == "Accepted"
    error = by_shape[("out", "CALLERROR", "MadeUpAction")]["payload"]
    assert error["errorCode"] == "NotImplemented" and "MadeUpAction" in error["errorDescription"]
    assert by_shape[("in", "INVALID", None)]["payload"] == "this is not json"
    assert by_shape[("out", "CALL", "GetConfiguration")]["payload"] == {"key": ["HeartbeatInterval"]}
    # test_settings() names the in-process node "test-node-N".
    assert len({m["node"] for m in items}) == 1 and items[0]["node"].startswith("test-node-")
    assert [m["id"] for m in items] == sorted((m["id"] for m in items), reverse=True)


async def test_paging_and_filters(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    await client.result("BootNotification", BOOT)
    for _ in range(6):
        await client.call("Heartbeat", {})
    everything = await _logged(server, cp_id, 14)

    seen: list[int] = []
    query = "?limit=5"
    while True:
        body = await _messages(server, cp_id, query)
        seen += [m["id"] for m in body["items"]]
        if body["next_cursor"] is None:
            break
        query = f"?limit=5&cursor={body['next_cursor']}"
    assert seen == [m["id"] for m in everything]

    beats = (await _messages(server, cp_id, "?action=Heartbeat&direction=in"))["items"]
    assert len(beats) == 6 and all(m["message_type"] == "CALL" for m in beats)
    pair = (await _messages(server, cp_id, "?message_id=m1"))["items"]
    assert [(m["direction"], m["action"]) for m in pair] == [
        ("out", "BootNotification"), ("in", "BootNotification")
    ]
    newest = everything[0]["at"]
    assert (await _messages(server, cp_id, f"?to={everything[-1]['at']}"))["items"] == []
    from_newest = (await _messages(server, cp_id, f"?from={newest}"))["items"]
    assert from_newest and all(m["at"] >= newest for m in from_newest)


async def test_export_as_json_lines(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    await client.result("BootNotification", BOOT)
    await client.call("Heartbeat", {})
    await _logged(server, cp_id, 4)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.http_url}/api/v1/charge-points/{cp_id}/messages?format=jsonl",
                 headers=server.headers()) as response,
    ):
        assert response.status == 200
        assert response.content_type == "application/x-ndjson"
        lines = (await response.read()).decode().splitlines()
    rows = [orjson.loads(line) for line in lines]
    assert [r["action"] for r in rows] == ["Heartbeat", "Heartbeat", "BootNotification",
                                          "BootNotification"]
    assert rows[-1]["payload"] == BOOT


async def test_operators_only_and_unknown_charger(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    driver = await sign_up_driver(server)
    status, _ = await server.request("GET", f"/api/v1/charge-points/{cp_id}/messages",
                                     token=driver)
    assert status == 403
    assert (await server.request("GET", "/api/v1/charge-points/NOPE/messages"))[0] == 404


@pytest.mark.parametrize(
    "query",
    [
        "?from=0001-01-01T00:00:00Z&to=0000-01-01",
        "?to=99999-01-01T00:00:00Z",
        "?direction=sideways",
        "?format=xml",
        "?action=Heart%00beat",
        "?limit=18446744073709551616",
        "?cursor=" + base64.urlsafe_b64encode(b"18446744073709551616").decode().rstrip("="),
        "?cursor=not-a-cursor",
    ],
)
async def test_hostile_queries_are_422(server: ServerHandle, query: str) -> None:
    cp_id = await server.register_charge_point()
    status, body = await server.request("GET", f"/api/v1/charge-points/{cp_id}/messages{query}")
    assert status == 422, body


async def test_log_off_stores_nothing(database_url: str, tmp_path: Any, clock: Any) -> None:
    from tests.conftest import serving

    settings = test_settings(database_url, tmp_path, message_log=False)
    async with serving(settings, clock) as server:
        cp_id = await server.register_charge_point()
        async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
            await client.result("BootNotification", BOOT)
        await asyncio.sleep(0.2)
        assert (await _messages(server, cp_id))["items"] == []
        assert server.pool is not None
        assert await server.pool.fetchval("SELECT count(*) FROM ocpp_messages") == 0


async def test_a_new_authorization_key_is_never_in_the_log(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    await client.result("BootNotification", BOOT)
    secret = "fresh-secret-key-0123456789"
    change = asyncio.create_task(
        server.request("PUT", f"/api/v1/charge-points/{cp_id}/authorization-key",
                       json={"authorization_key": secret})
    )
    await client.serve_one(lambda action, payload: {"status": "Accepted"})
    assert (await change)[0] == 200
    items = await _logged(server, cp_id, 4)
    sent = next(m for m in items if m["action"] == "ChangeConfiguration" and m["direction"] == "out")
    assert sent["payload"] == {"key": "AuthorizationKey", "value": "(redacted)"}
    assert secret not in str(items)
