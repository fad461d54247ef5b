"""The command path: CSMS-initiated calls through the operator API, over a real socket."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.exceptions import InvalidStatus

from tests.conftest import ServerHandle
from tests.ocpp_client import OcppTestClient

KEY = "0123456789abcdef0123"
NEW_KEY = "fedcba9876543210fedc"


def command(server: ServerHandle, cp_id: str, action: str, payload: dict, query: str = ""):  # type: ignore[no-untyped-def,type-arg]
    return asyncio.create_task(
        server.request(
            "POST", f"/api/v1/charge-points/{cp_id}/commands/{action}{query}", json=payload
        )
    )


async def test_call_reaches_charger_and_returns_its_answer(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        payload = {
            "connectorId": 1,
            "expiryDate": "2026-03-01T11:00:00Z",
            "idTag": "123456",
            "reservationId": 7,
        }
        pending = command(server, cp_id, "ReserveNow", payload)
        action, received = await client.serve_one(lambda a, p: {"status": "Accepted"})
        assert (action, received) == ("ReserveNow", payload)
        assert await pending == (200, {"status": "Accepted"})


async def test_silent_charger_times_out_with_504(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        pending = command(server, cp_id, "Reset", {"type": "Soft"}, "?timeout=0.3")
        await client.serve_one(lambda a, p: None)
        status, body = await pending
        assert status == 504 and body["error"]["code"] == "charge_point_timeout"
        # The connection still works afterwards, for the next call.
        pending = command(server, cp_id, "Reset", {"type": "Hard"})
        await client.serve_one(lambda a, p: {"status": "Rejected"})
        assert await pending == (200, {"status": "Rejected"})


async def test_call_error_from_charger_gives_502(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        pending = command(
            server,
            cp_id,
            "ReserveNow",
            {
                "connectorId": 1,
                "expiryDate": "2026-03-01T11:00:00Z",
                "idTag": "1",
                "reservationId": 1,
            },
        )
        await client.serve_one(lambda a, p: ("error", "NotSupported"))
        status, body = await pending
    assert status == 502
    assert body["error"]["ocpp_error_code"] == "NotSupported"


async def test_invalid_answer_from_charger_gives_502(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        pending = command(server, cp_id, "ClearCache", {})
        await client.serve_one(lambda a, p: {"status": "Maybe"})
        status, body = await pending
    assert status == 502 and body["error"]["ocpp_error_code"] == "PropertyConstraintViolation"


async def test_not_connected_gives_409(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    status, body = await command(server, cp_id, "ClearCache", {})
    assert status == 409 and body["error"]["code"] == "not_connected"


async def test_disconnect_during_call_gives_409(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    client = await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}")
    pending = command(server, cp_id, "ClearCache", {})
    await client.recv()
    await client.close()
    status, body = await pending
    assert status == 409 and body["error"]["code"] == "not_connected"


async def test_unknown_charger_gives_404(server: ServerHandle) -> None:
    status, _body = await command(server, "NO-SUCH-CP", "ClearCache", {})
    assert status == 404


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        (
            "BootNotification",
            {"chargePointVendor": "x", "chargePointModel": "y"},
        ),  # wrong direction
        ("Explode", {}),
        ("Reset", {"type": "Gentle"}),
        ("ReserveNow", {"connectorId": 1}),
    ],
)
async def test_invalid_commands_are_refused_before_sending(
    server: ServerHandle, action: str, payload: dict
) -> None:  # type: ignore[type-arg]
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        status, body = await command(server, cp_id, action, payload)
        assert status == 422, body
        with pytest.raises(TimeoutError):
            await client.recv(timeout=0.2)


async def test_one_outstanding_call_at_a_time(server: ServerHandle) -> None:
    """J 4.1.1: the second command waits until the first is answered."""
    cp_id = await server.register_charge_point()
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        first = command(server, cp_id, "ClearCache", {})
        frame = await client.recv()
        assert frame[2] == "ClearCache"
        second = command(server, cp_id, "GetLocalListVersion", {})
        with pytest.raises(TimeoutError):
            await client.recv(timeout=0.3)  # Nothing else while the first is unanswered.
        await client.send_raw(
            orjson.dumps(
                [
                    3,
                    frame[1],
                    {"status": "Accepted"} if frame[2] == "ClearCache" else {"listVersion": 3},
                ]
            ).decode()
        )
        await client.serve_one(lambda a, p: {"listVersion": 3})
        assert [await first, await second] == [
            (200, {"status": "Accepted"}),
            (200, {"listVersion": 3}),
        ]


async def test_accepted_new_authorization_key_replaces_the_old(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=KEY)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=KEY) as client:
        pending = command(
            server, cp_id, "ChangeConfiguration", {"key": "AuthorizationKey", "value": NEW_KEY}
        )
        await client.serve_one(lambda a, p: {"status": "Accepted"})
        assert await pending == (200, {"status": "Accepted"})
    with pytest.raises(InvalidStatus):
        await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=KEY)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=NEW_KEY) as client:
        assert await client.result("Heartbeat", {})


async def test_rejected_new_authorization_key_keeps_the_old(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=KEY)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=KEY) as client:
        pending = command(
            server, cp_id, "ChangeConfiguration", {"key": "AuthorizationKey", "value": NEW_KEY}
        )
        await client.serve_one(lambda a, p: {"status": "Rejected"})
        await pending
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=KEY) as client:
        assert await client.result("Heartbeat", {})
