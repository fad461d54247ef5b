"""Sign-up, tokens, and the bearer-token wall in front of the API."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import ServerHandle


async def post(server: ServerHandle, path: str, body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.http_url + path, json=body) as response,
    ):
        return response.status, await response.json()


async def test_driver_signs_up_and_gets_a_token(server: ServerHandle) -> None:
    status, user = await post(
        server,
        "/api/v1/users",
        {"email": "Ann@Example.com", "password": "long enough", "name": "Ann"},
    )
    assert status == 201 and user["email"] == "Ann@Example.com" and "password" not in str(user)
    status, token = await post(
        server, "/api/v1/tokens", {"email": "ann@example.com", "password": "long enough"}
    )
    assert status == 201 and token["token"] and token["expires_at"].endswith("Z")
    status, _ = await server.request("GET", "/api/v1/sites", token=token["token"])
    assert status == 200


async def test_same_email_twice_is_409(server: ServerHandle) -> None:
    await post(server, "/api/v1/users", {"email": "bob@example.com", "password": "long enough"})
    status, body = await post(
        server, "/api/v1/users", {"email": "BOB@example.com", "password": "long enough"}
    )
    assert status == 409 and body["error"]["code"] == "already_exists"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long enough"},
        {"email": "c@example.com", "password": "short"},
        {"email": "c@example.com"},
        {"email": "c@example.com", "password": "long enough", "role": "operator"},
        ["c@example.com"],
    ],
)
async def test_bad_sign_up_is_422(server: ServerHandle, body: object) -> None:
    status, answer = await post(server, "/api/v1/users", body)
    assert status == 422, answer
    assert answer["error"]["message"]


async def test_wrong_password_is_401(server: ServerHandle) -> None:
    await post(server, "/api/v1/users", {"email": "dan@example.com", "password": "long enough"})
    for email, password in [
        ("dan@example.com", "wrong password"),
        ("nobody@example.com", "long enough"),
    ]:
        status, body = await post(server, "/api/v1/tokens", {"email": email, "password": password})
        assert status == 401 and body["error"]["code"] == "unauthenticated"


async def test_missing_or_bad_token_is_401(server: ServerHandle) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.http_url + "/api/v1/charge-points") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        async with http.get(
            server.http_url + "/api/v1/charge-points", headers={"Authorization": "Bearer nope"}
        ) as response:
            assert response.status == 401


async def test_driver_cannot_use_operator_endpoints(server: ServerHandle) -> None:
    await post(server, "/api/v1/users", {"email": "eve@example.com", "password": "long enough"})
    _, token = await post(
        server, "/api/v1/tokens", {"email": "eve@example.com", "password": "long enough"}
    )
    for method, path, body in [
        ("GET", "/api/v1/charge-points", None),
        ("POST", "/api/v1/sites", {"name": "x", "timezone": "UTC"}),
        ("POST", "/api/v1/id-tags", {"id_tag": "X"}),
        ("GET", "/api/v1/transactions", None),
        ("POST", "/api/v1/charge-points/CP/commands/Reset", {"type": "Soft"}),
    ]:
        status, answer = await server.request(method, path, token=token["token"], json=body)
        assert status == 403, (path, answer)


async def test_driver_registers_own_card(server: ServerHandle) -> None:
    await post(server, "/api/v1/users", {"email": "fay@example.com", "password": "long enough"})
    _, token = await post(
        server, "/api/v1/tokens", {"email": "fay@example.com", "password": "long enough"}
    )
    status, card = await server.request(
        "POST", "/api/v1/me/id-tags", token=token["token"], json={"id_tag": "FAY-CARD"}
    )
    assert status == 201 and card["user_id"] is not None
    status, page = await server.request("GET", "/api/v1/me/id-tags", token=token["token"])
    assert [c["id_tag"] for c in page["items"]] == ["FAY-CARD"]
