"""The OpenAPI document: valid 3.1, served as it is, covering every route the app has.

``ServerHandle.request`` checks every exchange of the test-suite against the document
(``tests/openapi_contract.py``); the tests here check the document itself, the checker, and the
exchanges no other test makes through that helper (sign-up, sign-in, 401, 413).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from csms.api.auth import PUBLIC
from csms.app import OCPP_PREFIX, create_app
from csms.services.files import LOCATIONS_PREFIX
from csms.settings import Settings
from tests.conftest import ServerHandle
from tests.openapi_contract import DOCUMENT_PATH, METHODS, Contract, contract

#: Outside /api/: answered without a token.
PUBLIC_OUTSIDE_API = {
    "/healthz", "/readyz", "/metrics", "/", "/operator", "/operator/charge-points/{cp_id}",
    "/static/{name}",
}


def document() -> dict[str, Any]:
    return json.loads(DOCUMENT_PATH.read_text())  # type: ignore[no-any-return]


def test_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    validate(doc, cls=OpenAPIV31SpecValidator)
    for name, schema in doc["components"]["schemas"].items():
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as error:  # pragma: no cover - the message is the point
            raise AssertionError(f"components/schemas/{name}: {error}") from error


def test_every_operation_is_described() -> None:
    ids = []
    for op in contract().operations():
        where = f"{op.method} {op.template}"
        assert op.spec.get("summary"), f"{where}: no summary"
        assert "security" in op.spec, f"{where}: no security"
        assert any(s.startswith("2") for s in op.spec["responses"]), f"{where}: no 2xx answer"
        ids.append(op.spec.get("operationId"))
        if op.spec["security"]:
            assert "401" in op.spec["responses"], f"{where}: needs a token but documents no 401"
    assert None not in ids and len(ids) == len(set(ids)), "operationIds must be unique"


def test_public_operations_are_exactly_those_the_server_lets_through() -> None:
    documented_public = {
        (op.method, op.template) for op in contract().operations() if op.spec["security"] == []
    }
    expected = {(method, path) for method, path in PUBLIC}
    expected |= {("GET", path) for path in PUBLIC_OUTSIDE_API}
    assert documented_public == expected


def test_request_bodies_reject_unknown_fields() -> None:
    """The server answers 422 for unknown fields (API.md): every body schema says so too,
    except the command endpoint's, which is the OCPP payload as it is."""
    c = contract()
    for op in c.operations():
        if "requestBody" not in op.spec:
            continue
        content = op.spec["requestBody"]["content"]
        if "application/json" not in content:
            assert op.template == "/api/v1/firmware"  # The image itself, streamed.
            continue
        schema = content["application/json"]["schema"]
        name = schema["$ref"].rsplit("/", 1)[-1]
        resolved = c.document["components"]["schemas"][name]
        if name == "OcppPayload":
            assert op.template.endswith("/commands/{action}")
            continue
        assert resolved.get("additionalProperties") is False, f"{op.method} {op.template}"


def _routes() -> set[tuple[str, str]]:
    app = create_app(Settings())
    routes = set()
    for resource in app.router.resources():
        path = resource.canonical
        if path.startswith((OCPP_PREFIX, LOCATIONS_PREFIX)):
            # The OCPP WebSocket endpoint and the chargers' file locations (on the OCPP
            # port, their token the capability): not part of the HTTP API.
            continue
        methods = {route.method for route in resource}
        if "GET" in methods:
            methods.discard("HEAD")  # aiohttp adds HEAD to every GET route by itself.
        routes |= {(method, path) for method in methods}
    return routes


def test_every_route_is_documented_with_its_methods() -> None:
    documented = {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in METHODS
        if method in item
    }
    routes = _routes()
    assert routes - documented == set(), "routes missing from schemas/openapi.json"
    assert documented - routes == set(), "documented operations the server does not have"


async def test_served_document_is_the_file(server: ServerHandle) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.http_url + "/api/v1/openapi.json") as response,
    ):
        assert response.status == 200
        assert response.content_type == "application/json"
        served = await response.read()
    assert served == DOCUMENT_PATH.read_bytes()
    assert json.loads(served) == document()


async def test_exchanges_no_other_test_makes_through_the_helper(server: ServerHandle) -> None:
    """Each call is checked against the document by ``ServerHandle.request``."""
    account = {"email": "openapi@example.com", "password": "long enough", "name": "Oa"}
    status, user = await server.request("POST", "/api/v1/users", json=account)
    assert status == 201 and user["name"] == "Oa"
    assert (await server.request("POST", "/api/v1/users", json=account))[0] == 409
    assert (await server.request("POST", "/api/v1/users", json={"email": "x"}))[0] == 422
    login = {"email": account["email"], "password": account["password"]}
    status, token = await server.request("POST", "/api/v1/tokens", json=login)
    assert status == 201
    wrong = {**login, "password": "not the password"}
    assert (await server.request("POST", "/api/v1/tokens", json=wrong))[0] == 401
    status, body = await server.request(
        "GET", "/api/v1/sites", headers={"Authorization": "Bearer nope"}
    )
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    status, _ = await server.request("GET", "/api/v1/me/id-tags", token=token["token"])
    assert status == 200
    status, body = await server.request(
        "POST", "/api/v1/sites", json={"name": "x" * 100_000, "timezone": "UTC"}
    )
    assert status == 413 and body["error"]["code"] == "body_too_large"
    status, served = await server.request("GET", "/api/v1/openapi.json")
    assert status == 200 and served == document()
    assert await server.request("GET", "/readyz") == (200, {"status": "ok"})
    status, health = await server.request("GET", "/healthz")
    assert (status, health["status"]) == (200, "ok")
    assert all(worker["running"] for worker in health["workers"].values())


def test_contract_refuses_what_is_not_documented() -> None:
    c = Contract(document())
    c.check_exchange("GET", "/healthz", 200, None, {"status": "ok"})
    cases: list[tuple[tuple[Any, ...], str]] = [
        (("GET", "/healthz", 418, None, {"status": "ok"}), "status 418 is not documented"),
        (("GET", "/healthz", 200, None, {"status": "ok", "extra": 1}), "'extra' was unexpected"),
        (("GET", "/nowhere", 200, None, {}), "path is not in the OpenAPI document"),
        (("PATCH", "/api/v1/sites", 200, None, {}), "PATCH /api/v1/sites is not in"),
        (
            ("POST", "/api/v1/tokens", 201, {"email": "a@b.c", "password": "p", "x": 1}, {}),
            "request body",
        ),
        (
            (
                "POST",
                "/api/v1/tokens",
                201,
                None,
                {"token": "t", "expires_at": "2026-02-30T00:00:00Z"},
            ),
            "is not a 'date-time'",
        ),
        (
            ("GET", "/api/v1/sites/1", 404, None, {"error": {"code": "gone", "message": "m"}}),
            "'gone' is not one of",
        ),
    ]
    for args, message in cases:
        with pytest.raises(AssertionError, match=message):
            c.check_exchange(*args)
    # A refused request may be invalid on purpose: its body is not checked.
    invalid = {"email": "a@b.c", "password": "p", "x": 1}
    answer = {"error": {"code": "validation_failed", "message": "unknown field(s): x"}}
    c.check_exchange("POST", "/api/v1/tokens", 422, invalid, answer)
    # What no route serves gets the server's generic answer.
    c.check_exchange("GET", "/nowhere", 404, None, {"error": {"code": "not_found", "message": ""}})
