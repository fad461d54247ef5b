"""Hostile input gets a 4xx with the error code a client checks, never a 500.

One test per cause of the 500s these requests used to get, each with its relatives across the
API: times an offset pushes past year 1 or 9999, integers beyond the ``integer``/``bigint``
column they go to, digits that are not ASCII, NUL characters (PostgreSQL's text refuses them),
a ``from`` after ``to``, and numbers with more decimal places than PostgreSQL's numeric holds.
Every answer is also checked against ``schemas/openapi.json`` (``ServerHandle.request``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import ServerHandle, ShiftableClock, clone_database, serving, test_settings
from tests.world import TARIFF, World, make_world

INT32_OVER = 2**31
INT64_OVER = 2**63
CONNECTOR = [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 22}]


@dataclass(frozen=True)
class Call:
    """One request; ``{cp}``, ``{site}``, ``{start}`` and ``{end}`` are filled in from the world
    (``{start}``/``{end}``: a bookable window, URL-encoded in a path)."""

    method: str
    path: str
    body: Any = None
    driver: bool = False  # sent with the driver's token, else the operator's


def refused(call: Call, status: int = 422, code: str = "validation_failed") -> Any:
    """A parameter set: ``call`` gets ``status`` with ``error.code`` ``code``."""
    return pytest.param(call, status, code, id=f"{call.method} {call.path[:70]}")


def answered(call: Call, status: int) -> Any:
    """A parameter set: ``call`` succeeds with ``status``."""
    return pytest.param(call, status, None, id=f"{call.method} {call.path[:70]}")


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


@pytest.fixture(scope="module")
async def shared_world(
    postgres_uri: str, template_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """One server for the whole module: every request here is refused, so they cannot meet."""
    url = await clone_database(postgres_uri)
    clock = ShiftableClock()
    settings = test_settings(url, Path(tmp_path_factory.mktemp("hostile")))
    async with serving(settings, clock) as server:
        yield await make_world(server, clock)


def _fill(value: Any, world: World, *, in_path: bool) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, world, in_path=in_path) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world, in_path=in_path) for v in value]
    if not isinstance(value, str):
        return value
    start, end = world.window(starts_in=60)
    if in_path:
        start, end = start.replace("+", "%2B"), end.replace("+", "%2B")
    return (
        value.replace("{cp}", world.cp_id)
        .replace("{site}", str(world.site_id))
        .replace("{start}", start)
        .replace("{end}", end)
    )


async def _expect(world: World, call: Call, status: int, code: str | None) -> None:
    answer_status, answer = await world.server.request(
        call.method,
        _fill(call.path, world, in_path=True),
        token=world.driver if call.driver else None,
        json=_fill(call.body, world, in_path=False) if call.body is not None else None,
    )
    assert answer_status == status, answer
    if code is not None:
        assert answer["error"]["code"] == code, answer


def _reservation(**fields: Any) -> dict[str, Any]:
    return {
        "charge_point_id": "{cp}",
        "connector_id": 1,
        "start": "{start}",
        "end": "{end}",
        **fields,
    }


def _charge_point(**fields: Any) -> dict[str, Any]:
    return {"id": "HOSTILE-1", "connectors": CONNECTOR, **fields}


BEFORE_YEAR_1 = "0001-01-01T00:00:00+01:00"
AFTER_YEAR_9999 = "9999-12-31T23:59:59-01:00"


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        refused(Call("GET", "/api/v1/availability?start=0001-01-01T00:00:00%2B01:00&end={end}")),
        refused(Call("GET", "/api/v1/availability?start={start}&end=9999-12-31T23:59:59-01:00")),
        refused(
            Call("POST", "/api/v1/reservations", _reservation(start=BEFORE_YEAR_1), driver=True)
        ),
        refused(
            Call("POST", "/api/v1/reservations", _reservation(end=AFTER_YEAR_9999), driver=True)
        ),
        refused(Call("GET", "/api/v1/reservations?from=0001-01-01T00:00:00%2B01:00")),
        refused(Call("GET", "/api/v1/reservations?all=true&to=9999-12-31T23:59:59-01:00")),
        refused(
            Call("POST", "/api/v1/id-tags", {"id_tag": "T-EARLY", "expiry_date": BEFORE_YEAR_1})
        ),
        refused(
            Call("POST", "/api/v1/id-tags", {"id_tag": "T-LATE", "expiry_date": AFTER_YEAR_9999})
        ),
        # The first and last microsecond datetime holds: stored, they would read back as infinity.
        refused(
            Call(
                "POST",
                "/api/v1/id-tags",
                {"id_tag": "T-LAST", "expiry_date": "9999-12-31T23:59:59.999999Z"},
            )
        ),
        refused(
            Call(
                "POST",
                "/api/v1/id-tags",
                {"id_tag": "T-FIRST", "expiry_date": "0001-01-01T00:00:00Z"},
            )
        ),
        refused(Call("GET", "/api/v1/reservations?from=9999-12-31T23:59:59.999999Z")),
        refused(Call("GET", "/api/v1/availability?start={start}&end=9999-12-31T23:59:59.999999Z")),
        # Times that parse but that no window may hold, near both ends of what datetime holds.
        refused(
            Call(
                "GET",
                "/api/v1/availability?start=9999-12-31T23:00:00Z&end=9999-12-31T23:59:59.999Z",
            ),
            422,
            "invalid_window",
        ),
        refused(
            Call(
                "GET",
                "/api/v1/availability?start=0001-01-01T00:00:00.001Z&end=0001-01-01T01:00:00Z",
            ),
            422,
            "invalid_window",
        ),
        refused(
            Call(
                "POST",
                "/api/v1/reservations",
                _reservation(start="9999-12-31T23:00:00Z", end="9999-12-31T23:59:59.999Z"),
                driver=True,
            ),
            422,
            "invalid_window",
        ),
        refused(
            Call(
                "POST",
                "/api/v1/reservations",
                _reservation(start="0001-01-01T00:00:00.001Z", end="0001-01-01T01:00:00Z"),
                driver=True,
            ),
            422,
            "invalid_window",
        ),
        # ... and extreme times are fine where nothing is computed from them.
        answered(Call("GET", "/api/v1/reservations?from=9999-12-31T23:59:59.999Z"), 200),
        answered(Call("GET", "/api/v1/reservations?to=0001-01-01T00:00:00.001Z", driver=True), 200),
        answered(
            Call(
                "POST",
                "/api/v1/id-tags",
                {"id_tag": "T-MAX", "expiry_date": "9999-12-31T23:59:59.999Z"},
            ),
            201,
        ),
        answered(
            Call(
                "POST",
                "/api/v1/id-tags",
                {"id_tag": "T-MIN", "expiry_date": "0001-01-01T00:00:00.001Z"},
            ),
            201,
        ),
    ],
)
async def test_times_outside_the_years_1_to_9999(
    shared_world: World, call: Call, status: int, code: str | None
) -> None:
    await _expect(shared_world, call, status, code)


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        # Bodies: a value beyond its column is refused; one that fits but names nothing is 404.
        refused(
            Call("POST", "/api/v1/reservations", _reservation(connector_id=INT32_OVER), driver=True)
        ),
        refused(
            Call(
                "POST",
                "/api/v1/reservations",
                _reservation(connector_id=-INT32_OVER - 1),
                driver=True,
            )
        ),
        refused(
            Call("POST", "/api/v1/reservations", _reservation(connector_id=INT64_OVER), driver=True)
        ),
        refused(
            Call(
                "POST",
                "/api/v1/reservations",
                _reservation(connector_id=INT32_OVER - 1),
                driver=True,
            ),
            404,
            "not_found",
        ),
        refused(Call("POST", "/api/v1/charge-points", _charge_point(site_id=INT64_OVER))),
        refused(Call("POST", "/api/v1/charge-points", _charge_point(site_id=-INT64_OVER - 1))),
        refused(
            Call("POST", "/api/v1/charge-points", _charge_point(site_id=INT64_OVER - 1)),
            404,
            "not_found",
        ),
        refused(Call("POST", "/api/v1/id-tags", {"id_tag": "T-USER", "user_id": INT64_OVER})),
        refused(
            Call("POST", "/api/v1/id-tags", {"id_tag": "T-USER", "user_id": INT64_OVER - 1}),
            404,
            "not_found",
        ),
        # The OCPP payload of a remote start is checked against bookings before it is sent.
        refused(
            Call(
                "POST",
                "/api/v1/charge-points/{cp}/commands/RemoteStartTransaction",
                {"idTag": "X", "connectorId": INT32_OVER},
            ),
            409,
            "not_connected",
        ),
        refused(
            Call(
                "POST",
                "/api/v1/charge-points/{cp}/commands/RemoteStartTransaction",
                {"idTag": "X", "connectorId": INT64_OVER},
            ),
            409,
            "not_connected",
        ),
        # Query parameters.
        refused(Call("GET", f"/api/v1/charge-points?site_id={INT64_OVER}")),
        refused(Call("GET", "/api/v1/charge-points?site_id=99999999999999999999")),
        answered(Call("GET", f"/api/v1/charge-points?site_id={INT64_OVER - 1}"), 200),
        refused(
            Call("GET", f"/api/v1/availability?start={{start}}&end={{end}}&site_id={INT64_OVER}")
        ),
        answered(
            Call(
                "GET", f"/api/v1/availability?start={{start}}&end={{end}}&site_id={INT64_OVER - 1}"
            ),
            200,
        ),
        refused(Call("GET", f"/api/v1/reservations?limit={INT64_OVER}")),
        refused(Call("GET", f"/api/v1/transactions?cursor={_cursor(INT32_OVER)}")),
        refused(Call("GET", f"/api/v1/sites?cursor={_cursor(INT64_OVER)}")),
        # Path ids: what cannot name a row is not found.
        refused(Call("GET", f"/api/v1/sites/{INT64_OVER}"), 404, "not_found"),
        refused(Call("GET", f"/api/v1/sites/{INT64_OVER}/tariff"), 404, "not_found"),
        refused(Call("GET", f"/api/v1/reservations/{INT32_OVER}", driver=True), 404, "not_found"),
        refused(
            Call("DELETE", f"/api/v1/reservations/{INT32_OVER}", driver=True), 404, "not_found"
        ),
        refused(
            Call(
                "PATCH",
                f"/api/v1/charge-points/{{cp}}/connectors/{INT32_OVER}",
                {"out_of_service": True},
            )
        ),
    ],
)
async def test_integers_beyond_their_columns(
    shared_world: World, call: Call, status: int, code: str | None
) -> None:
    await _expect(shared_world, call, status, code)


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        refused(Call("GET", "/api/v1/charge-points?site_id=%C2%B2")),  # "²"
        refused(Call("GET", "/api/v1/charge-points?site_id=%D9%A1")),  # Arabic-Indic 1
        refused(
            Call("PATCH", "/api/v1/charge-points/{cp}/connectors/%C2%B2", {"out_of_service": True})
        ),
        refused(Call("GET", "/api/v1/availability?start={start}&end={end}&site_id=%C2%B2")),
        refused(Call("GET", "/api/v1/reservations?limit=%C2%B2", driver=True)),
        refused(Call("GET", "/api/v1/id-tags?limit=%EF%BC%95")),  # fullwidth 5
        refused(Call("GET", "/api/v1/sites/%C2%B2"), 404, "not_found"),
        refused(Call("GET", "/api/v1/reservations/%C2%B2", driver=True), 404, "not_found"),
    ],
)
async def test_digits_that_are_not_ascii(
    shared_world: World, call: Call, status: int, code: str | None
) -> None:
    await _expect(shared_world, call, status, code)


NUL = "\u0000"


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        # JSON bodies: any string, however nested, and object keys.
        refused(
            Call(
                "POST", "/api/v1/users", {"email": f"a{NUL}@example.com", "password": "long enough"}
            )
        ),
        refused(
            Call(
                "POST",
                "/api/v1/tokens",
                {"email": f"a{NUL}@example.com", "password": "long enough"},
            )
        ),
        refused(Call("POST", "/api/v1/sites", {"name": f"Yard{NUL}", "timezone": "UTC"})),
        refused(
            Call(
                "POST",
                "/api/v1/charge-points",
                _charge_point(connectors=[{**CONNECTOR[0], "connector_type": f"T{NUL}"}]),
            )
        ),
        refused(Call("POST", "/api/v1/charge-points", {f"id{NUL}": "X", "connectors": CONNECTOR})),
        refused(
            Call(
                "POST",
                "/api/v1/reservations",
                _reservation(charge_point_id=f"{{cp}}{NUL}"),
                driver=True,
            )
        ),
        refused(Call("POST", "/api/v1/me/id-tags", {"id_tag": f"C{NUL}"}, driver=True)),
        refused(
            Call(
                "POST",
                "/api/v1/charge-points/{cp}/commands/RemoteStartTransaction",
                {"idTag": f"X{NUL}"},
            )
        ),
        refused(
            Call(
                "POST",
                "/api/v1/charge-points/{cp}/commands/DataTransfer",
                {"vendorId": "v", "data": f"x{NUL}"},
            )
        ),
        # Query parameters, cursors included.
        refused(Call("GET", "/api/v1/reservations?charge_point_id=%00", driver=True)),
        refused(Call("GET", "/api/v1/transactions?charge_point_id=CP%00")),
        refused(Call("GET", "/api/v1/availability?start={start}&end={end}&connector_type=%00")),
        refused(Call("GET", f"/api/v1/charge-points?cursor={_cursor(NUL)}")),
        refused(Call("GET", f"/api/v1/id-tags?cursor={_cursor(NUL)}")),
        refused(Call("GET", f"/api/v1/me/id-tags?cursor={_cursor(NUL)}", driver=True)),
        # Path parameters.
        refused(Call("GET", "/api/v1/charge-points/CP%00")),
        refused(Call("PATCH", "/api/v1/charge-points/%00/connectors/1", {"out_of_service": True})),
        refused(Call("POST", "/api/v1/charge-points/%00/commands/Reset", {"type": "Soft"})),
        refused(Call("GET", "/api/v1/sites/%00"), 404, "not_found"),
        refused(Call("GET", "/static/%00.js"), 404, "not_found"),
    ],
)
async def test_nul_characters(
    shared_world: World, call: Call, status: int, code: str | None
) -> None:
    await _expect(shared_world, call, status, code)


async def test_header_bytes_that_are_not_utf8(shared_world: World) -> None:
    """aiohttp keeps them as surrogates, which no text column takes (a client cannot send these
    with aiohttp, so the request is written by hand)."""
    body = orjson.dumps(_fill(_reservation(), shared_world, in_path=False))
    host, port = shared_world.server.http_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/v1/reservations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Authorization: Bearer {shared_world.driver}\r\n".encode()
        + b"Content-Type: application/json\r\nIdempotency-Key: key-\xff\xfe\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    answer = await reader.read()
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 422 "), answer
    assert orjson.loads(payload)["error"]["code"] == "validation_failed"


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        refused(
            Call(
                "GET",
                "/api/v1/reservations?from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z",
                driver=True,
            )
        ),
        refused(
            Call(
                "GET",
                "/api/v1/reservations?all=true&from=2026-05-01T00:00:01%2B00:00&to=2026-05-01T00:00:00Z",
            )
        ),
        answered(
            Call(
                "GET",
                "/api/v1/reservations?from=2026-05-01T02:00:00%2B02:00&to=2026-05-01T00:00:00Z",
            ),
            200,
        ),  # the same instant
    ],
)
async def test_from_after_to(
    shared_world: World, call: Call, status: int, code: str | None
) -> None:
    await _expect(shared_world, call, status, code)


TINY = "0." + "0" * 20_000 + "1"  # PostgreSQL's numeric holds at most 16383 decimal places


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        refused(
            Call(
                "POST",
                "/api/v1/charge-points",
                _charge_point(connectors=[{**CONNECTOR[0], "max_power_kw": TINY}]),
            )
        ),
        refused(Call("GET", "/api/v1/availability?start={start}&end={end}&min_power_kw=1E-20000")),
        refused(Call("GET", "/api/v1/availability?start={start}&end={end}&energy_kwh=1E-20000")),
        refused(Call("GET", "/api/v1/availability?start={start}&end={end}&min_power_kw=1E-1001")),
        answered(
            Call("GET", "/api/v1/availability?start={start}&end={end}&min_power_kw=5E-324"), 200
        ),  # the smallest double
        refused(Call("PUT", "/api/v1/sites/{site}/tariff", {**TARIFF, "session_fee": TINY})),
        answered(
            Call(
                "GET",
                "/api/v1/availability?start={start}&end={end}&min_power_kw=0.30000000000000004",
            ),
            200,
        ),
    ],
)
async def test_numbers_with_more_places_than_postgresql_holds(
    shared_world: World, call: Call, status: int, code: str | None
) -> None:
    await _expect(shared_world, call, status, code)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/reservations?all=yes",
        "/api/v1/transactions?open=1",
        "/api/v1/charge-points/{cp}/commands/RemoteStartTransaction?override_booking=maybe",
    ],
)
async def test_flags_are_true_or_false(shared_world: World, path: str) -> None:
    method = "POST" if "/commands/" in path else "GET"
    body = {"idTag": "X"} if method == "POST" else None
    await _expect(shared_world, Call(method, path, body), 422, "validation_failed")


async def test_a_bearer_token_that_is_not_text_is_simply_unknown(server: ServerHandle) -> None:
    host, port = server.http_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer \xff\xfe\xc3\x28token\r\n\r\n"
    )
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"401", status_line
