"""``/api/v1/webhooks``: operators subscribe, list and remove; the secret is never answered;
bad input is 422, drivers 403."""

from __future__ import annotations

from typing import Any

import pytest

from tests.world import World

SECRET = "a-secret-of-some-length"


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/hook", "secret": SECRET, "events": ["booked"]},
        {"url": "https://", "secret": SECRET, "events": ["booked"]},
        {"url": "https://example.com/" + "x" * 2000, "secret": SECRET, "events": ["booked"]},
        {"url": "https://example.com/hook", "secret": "short", "events": ["booked"]},
        {"url": "https://example.com/hook", "secret": "s" * 201, "events": ["booked"]},
        {"url": "https://example.com/hook", "secret": SECRET, "events": []},
        {"url": "https://example.com/hook", "secret": SECRET, "events": ["booked", "oops"]},
        {"url": "https://example.com/hook", "secret": SECRET, "events": "booked"},
        {"url": "https://example.com/hook", "secret": SECRET},
        {"url": "https://example.com/hook", "secret": SECRET, "events": ["booked"], "x": 1},
    ],
)
async def test_bad_subscriptions_are_422(world: World, body: dict[str, Any]) -> None:
    status, answer = await world.server.request("POST", "/api/v1/webhooks", json=body)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_failed"


async def test_operators_subscribe_list_and_remove(world: World) -> None:
    server = world.server
    body = {"url": "https://example.com/hook", "secret": SECRET, "events": ["booked", "no_show"]}
    status, created = await server.request("POST", "/api/v1/webhooks", json=body)
    assert status == 201, created
    assert "secret" not in created and created["events"] == ["booked", "no_show"]
    status, listed = await server.request("GET", "/api/v1/webhooks")
    assert status == 200 and [w["id"] for w in listed["webhooks"]] == [created["id"]]
    assert SECRET not in str(listed)
    status, _ = await server.request("DELETE", f"/api/v1/webhooks/{created['id']}")
    assert status == 204
    status, listed = await server.request("GET", "/api/v1/webhooks")
    assert listed["webhooks"] == []
    status, answer = await server.request("DELETE", f"/api/v1/webhooks/{created['id']}")
    assert status == 404, answer


async def test_drivers_may_not(world: World) -> None:
    body = {"url": "https://example.com/hook", "secret": SECRET, "events": ["booked"]}
    for method, path, json in (
        ("POST", "/api/v1/webhooks", body),
        ("GET", "/api/v1/webhooks", None),
        ("DELETE", "/api/v1/webhooks/1", None),
    ):
        status, answer = await world.server.request(method, path, token=world.driver, json=json)
        assert status == 403, (method, answer)
