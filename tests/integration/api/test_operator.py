"""Operator endpoints: sites, charge points, id tags, transactions; errors and paging."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.conftest import ServerHandle


async def test_site_create_list_get(server: ServerHandle) -> None:
    status, site = await server.request(
        "POST", "/api/v1/sites", json={"name": "Depot", "timezone": "Europe/Berlin"}
    )
    assert status == 201 and site["timezone"] == "Europe/Berlin"
    status, page = await server.request("GET", "/api/v1/sites")
    assert [s["id"] for s in page["items"]] == [site["id"]]
    assert (await server.request("GET", f"/api/v1/sites/{site['id']}"))[1]["name"] == "Depot"
    assert (await server.request("GET", "/api/v1/sites/999999"))[0] == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "timezone": "Mars/Olympus"},
        {"name": "", "timezone": "UTC"},
        {"name": "x", "timezone": "UTC", "owner": "me"},
    ],
)
async def test_bad_site_is_422(server: ServerHandle, body: dict) -> None:  # type: ignore[type-arg]
    assert (await server.request("POST", "/api/v1/sites", json=body))[0] == 422


async def test_register_charge_point_and_read_it_back(server: ServerHandle) -> None:
    _, site = await server.request(
        "POST", "/api/v1/sites", json={"name": "Depot", "timezone": "UTC"}
    )
    body = {
        "id": "DEPOT-1",
        "site_id": site["id"],
        "authorization_key": "0123456789abcdef0123",
        "connectors": [{"connector_id": 1, "connector_type": "CCS2", "max_power_kw": 150}],
    }
    status, cp = await server.request("POST", "/api/v1/charge-points", json=body)
    assert status == 201
    assert (cp["id"], cp["site_id"], cp["online"], cp["has_authorization_key"]) == (
        "DEPOT-1",
        site["id"],
        False,
        True,
    )
    assert cp["connectors"][0]["connector_type"] == "CCS2"
    assert cp["connectors"][0]["max_power_kw"] == 150
    assert "authorization_key" not in cp and "0123456789abcdef0123" not in str(cp)
    assert (await server.request("POST", "/api/v1/charge-points", json=body))[0] == 409
    status, detail = await server.request("GET", "/api/v1/charge-points/DEPOT-1")
    assert status == 200 and detail["registration_status"] == "accepted"


@pytest.mark.parametrize(
    "body",
    [
        {
            "id": "bad id",
            "connectors": [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 11}],
        },
        {"id": "OK-1", "connectors": []},
        {
            "id": "OK-1",
            "connectors": [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 11}],
            "authorization_key": "short",
        },
        {
            "id": "OK-1",
            "connectors": [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 11}],
            "site_id": "one",
        },
        {"id": "OK-1"},
        # This deployment serves no TLS: a charger cannot be registered at profile 2 or 3.
        {
            "id": "OK-1",
            "connectors": [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 11}],
            "authorization_key": "a-key-of-sixteen-chars",
            "security_profile": 2,
        },
        {
            "id": "OK-1",
            "connectors": [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 11}],
            "security_profile": 3,
        },
    ],
)
async def test_bad_charge_point_is_422(server: ServerHandle, body: dict) -> None:  # type: ignore[type-arg]
    assert (await server.request("POST", "/api/v1/charge-points", json=body))[0] == 422


async def test_charge_point_for_unknown_site_is_404(server: ServerHandle) -> None:
    body = {
        "id": "NOWHERE-1",
        "site_id": 424242,
        "connectors": [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 11}],
    }
    assert (await server.request("POST", "/api/v1/charge-points", json=body))[0] == 404
    assert (await server.request("GET", "/api/v1/charge-points/NOWHERE-1"))[0] == 404


async def test_charge_points_page_through(server: ServerHandle) -> None:
    ids = [await server.register_charge_point(f"PAGE-{n}") for n in range(5)]
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        _, page = await server.request("GET", f"/api/v1/charge-points?limit=2{cursor}")
        seen += [cp["id"] for cp in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == sorted(ids)


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "cursor=!!!", "cursor=MQ"])
async def test_bad_paging_is_422(server: ServerHandle, query: str) -> None:
    assert (await server.request("GET", f"/api/v1/charge-points?{query}"))[0] == 422


async def test_id_tags(server: ServerHandle) -> None:
    status, tag = await server.request(
        "POST",
        "/api/v1/id-tags",
        json={
            "id_tag": "RFID-1",
            "parent_id_tag": "FLEET",
            "expiry_date": "2030-01-01T00:00:00+01:00",
        },
    )
    assert status == 201 and tag["expiry_date"] == "2029-12-31T23:00:00Z"
    assert (await server.request("POST", "/api/v1/id-tags", json={"id_tag": "rfid-1"}))[0] == 409
    for bad in [
        {"id_tag": "x" * 21},
        {"id_tag": "OK", "blocked": "yes"},
        {"id_tag": "OK", "expiry_date": "soon"},
    ]:
        assert (await server.request("POST", "/api/v1/id-tags", json=bad))[0] == 422
    _, page = await server.request("GET", "/api/v1/id-tags")
    assert [t["id_tag"] for t in page["items"]] == ["RFID-1"]


async def test_malformed_and_oversized_bodies(server: ServerHandle) -> None:
    headers = server.headers()
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(server.http_url + "/api/v1/sites", data=b"{not json") as response:
            assert response.status == 422
            assert (await response.json())["error"]["code"] == "validation_failed"
        async with http.post(server.http_url + "/api/v1/sites", data=b"x" * 200_000) as response:
            assert response.status == 413
            assert (await response.json())["error"]["code"] == "body_too_large"
    _, page = await server.request("GET", "/api/v1/sites")
    assert page["items"] == []


async def test_unknown_path_is_json_404(server: ServerHandle) -> None:
    status, body = await server.request("GET", "/api/v1/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_service_endpoints(server: ServerHandle) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ["/healthz", "/readyz"]:
            async with http.get(server.http_url + path) as response:
                assert response.status == 200
        async with http.get(server.http_url + "/metrics") as response:
            text = await response.text()
            assert re.search(r'^csms_connected_charge_points\{node="[^"]+"\} 0$', text, re.MULTILINE)
        async with http.get(server.http_url + "/api/v1/openapi.json") as response:
            assert (await response.json())["openapi"].startswith("3.")


async def test_ports_serve_only_their_own_paths(server: ServerHandle) -> None:
    ocpp_http = server.ocpp_url.replace("ws://", "http://").removesuffix("/ocpp")
    async with aiohttp.ClientSession() as http, http.get(ocpp_http + "/healthz") as response:
        assert response.status == 404


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/reservations/2147483648", 404),
        ("/api/v1/reservations/99999999999999999999999", 404),
        ("/api/v1/sites/99999999999999999999999", 404),
        ("/api/v1/sites/1_0", 404),
        ("/api/v1/sites/%D9%A1", 404),  # an Arabic-Indic digit one
        ("/api/v1/reservations?cursor=MjE0NzQ4MzY0OQ", 422),  # 2147483649
        ("/api/v1/transactions?cursor=MjE0NzQ4MzY0OQ", 422),
        ("/api/v1/reservations?cursor=LTE", 422),  # -1
    ],
)
async def test_ids_and_cursors_that_cannot_exist_are_clear_errors(
    server: ServerHandle, path: str, status: int
) -> None:
    assert (await server.request("GET", path))[0] == status
    if path.startswith("/api/v1/reservations/"):
        assert (await server.request("DELETE", path))[0] == status


async def test_accepting_a_pending_charger_into_an_unknown_site_is_404(
    database_url: str, tmp_path: object
) -> None:
    from csms.api.context import POOL
    from csms.server import running
    from tests.conftest import ServerHandle as Handle
    from tests.conftest import sign_in_operator, test_settings
    from tests.ocpp_client import BOOT, OcppTestClient

    settings = test_settings(database_url, tmp_path, auto_register=True)  # type: ignore[arg-type]
    async with running(settings) as runner:
        handle = Handle(
            f"http://127.0.0.1:{settings.http_port}", f"ws://127.0.0.1:{settings.ocpp_port}/ocpp"
        )
        handle.token = await sign_in_operator(runner.app[POOL], handle.http_url)
        async with await OcppTestClient.open(f"{handle.ocpp_url}/PENDING-1") as client:
            assert (await client.result("BootNotification", BOOT))["status"] == "Pending"
        body = {
            "id": "PENDING-1",
            "site_id": 987654,
            "connectors": [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 11}],
        }
        assert (await handle.request("POST", "/api/v1/charge-points", json=body))[0] == 404
        del body["site_id"]
        status, accepted = await handle.request("POST", "/api/v1/charge-points", json=body)
        assert status == 201 and accepted["registration_status"] == "accepted"
        async with await OcppTestClient.open(f"{handle.ocpp_url}/PENDING-1") as client:
            assert (await client.result("BootNotification", BOOT))["status"] == "Accepted"
