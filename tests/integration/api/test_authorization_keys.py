"""Setting, rotating and removing a charger's AuthorizationKey (the HTTP Basic password of
security profiles 1 and 2, "Improved security for OCPP 1.6-J" use case A01), with the charger
on a real WebSocket and the handshake checked by the real gateway against real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from websockets.exceptions import InvalidStatus

from tests.conftest import ServerHandle
from tests.ocpp_client import OcppTestClient
from tests.world import sign_up_driver

OLD = "old-key-0123456789ab"
NEW = "new-key-zyxwvutsrq-9"
OTHER = "third-key-klmnopqrst"


def key_path(cp_id: str, query: str = "") -> str:
    return f"/api/v1/charge-points/{cp_id}/authorization-key{query}"


def put_key(
    server: ServerHandle, cp_id: str, body: dict[str, Any], query: str = ""
) -> asyncio.Task[tuple[int, Any]]:
    """The PUT, running while the test plays the charger."""
    return asyncio.create_task(server.request("PUT", key_path(cp_id, query), json=body))


async def admitted(server: ServerHandle, cp_id: str, key: str | None) -> bool:
    """Whether a handshake with ``key`` (None: no Basic auth) is let in; False only for 401."""
    try:
        client = await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=key)
    except InvalidStatus as refused:
        assert refused.response.status_code == 401
        return False
    async with client:
        assert await client.result("Heartbeat", {})
    return True


async def stored_hash(server: ServerHandle, cp_id: str) -> str | None:
    assert server.pool is not None
    value = await server.pool.fetchval(
        "SELECT authorization_key_hash FROM charge_points WHERE id = $1", cp_id
    )
    return None if value is None else str(value)


async def rotate(
    server: ServerHandle, client: OcppTestClient, cp_id: str, answer: dict[str, Any], **body: Any
) -> tuple[tuple[int, Any], dict[str, Any]]:
    """PUT a key while ``client`` answers the ChangeConfiguration; (the answer, what was sent)."""
    pending = put_key(server, cp_id, body)
    action, payload = await client.serve_one(lambda a, p: answer)
    assert action == "ChangeConfiguration"
    return await pending, payload


async def test_an_accepted_key_replaces_the_old_one_at_the_next_handshake(
    server: ServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    caplog.set_level(logging.DEBUG)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=OLD) as client:
        answer, sent = await rotate(
            server, client, cp_id, {"status": "Accepted"}, authorization_key=NEW
        )
        assert sent == {"key": "AuthorizationKey", "value": NEW}
        assert answer == (
            200,
            {"charge_point_id": cp_id, "sent_to_charger": True, "status": "Accepted"},
        )
        # The connection made with the old key goes on until the charger reconnects.
        assert await client.result("Heartbeat", {})
    # The old key was verified (and cached by the gateway) just before: still refused now.
    assert not await admitted(server, cp_id, OLD)
    assert await admitted(server, cp_id, NEW)
    assert not await admitted(server, cp_id, None)
    _, detail = await server.request("GET", f"/api/v1/charge-points/{cp_id}")
    assert detail["has_authorization_key"] is True
    assert NEW not in str(detail)
    # The server's own logs (the test's websockets client logs its frames: not csms's).
    server_logs = [r.getMessage() for r in caplog.records if r.name.startswith(("csms", "aiohttp"))]
    assert server_logs and not any(NEW in line or OLD in line for line in server_logs)


async def test_a_key_sent_as_hex_is_presented_as_itself(server: ServerHandle) -> None:
    """SEC writes AuthorizationKey as the hex form of its bytes; the charger decodes it and
    presents the key itself (OCTT TC_085_CS), so that is what csms stores."""
    cp_id = await server.register_charge_point(key=OLD)
    key = "0123456789abcdef0123"  # hex digits only: fine as hex (20 bytes, 40 digits)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=OLD) as client:
        answer, sent = await rotate(
            server, client, cp_id, {"status": "Accepted"}, authorization_key=key, send_as="hex"
        )
    assert sent["value"] == key.encode().hex() and len(sent["value"]) == 40
    assert answer[0] == 200
    assert await admitted(server, cp_id, key)
    assert not await admitted(server, cp_id, sent["value"])
    assert not await admitted(server, cp_id, OLD)


@pytest.mark.parametrize("status", ["Rejected", "NotSupported"])
async def test_a_refused_key_is_409_and_the_old_one_stays(server: ServerHandle, status: str) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    before = await stored_hash(server, cp_id)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=OLD) as client:
        (code, body), _ = await rotate(
            server, client, cp_id, {"status": status}, authorization_key=NEW
        )
    assert code == 409
    assert body["error"]["code"] == "key_rejected" and body["error"]["answer"] == {"status": status}
    assert await stored_hash(server, cp_id) == before
    assert await admitted(server, cp_id, OLD)
    assert not await admitted(server, cp_id, NEW)


async def test_reboot_required_stores_the_key_the_charger_took(server: ServerHandle) -> None:
    """RebootRequired: the charger has the key and uses it after its next start."""
    cp_id = await server.register_charge_point(key=OLD)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=OLD) as client:
        (code, body), _ = await rotate(
            server, client, cp_id, {"status": "RebootRequired"}, authorization_key=NEW
        )
    assert (code, body["status"]) == (200, "RebootRequired")
    assert await admitted(server, cp_id, NEW)
    assert not await admitted(server, cp_id, OLD)


async def test_no_answer_or_a_call_error_leaves_the_key_as_it_was(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    before = await stored_hash(server, cp_id)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=OLD) as client:
        pending = put_key(server, cp_id, {"authorization_key": NEW}, "?timeout=0.3")
        await client.serve_one(lambda a, p: None)
        code, body = await pending
        assert (code, body["error"]["code"]) == (504, "charge_point_timeout")
        pending = put_key(server, cp_id, {"authorization_key": NEW})
        await client.serve_one(lambda a, p: ("error", "InternalError"))
        code, body = await pending
        assert (code, body["error"]["code"]) == (502, "charge_point_call_error")
    assert await stored_hash(server, cp_id) == before
    assert await admitted(server, cp_id, OLD)


async def test_a_charger_that_is_not_connected_needs_offline(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    code, body = await server.request("PUT", key_path(cp_id), json={"authorization_key": NEW})
    assert (code, body["error"]["code"]) == (409, "not_connected")
    assert await admitted(server, cp_id, OLD)
    code, body = await server.request(
        "PUT", key_path(cp_id, "?offline=true"), json={"authorization_key": NEW}
    )
    assert (code, body) == (
        200,
        {"charge_point_id": cp_id, "sent_to_charger": False, "status": None},
    )
    assert await admitted(server, cp_id, NEW)
    assert not await admitted(server, cp_id, OLD)


async def test_offline_sends_nothing_even_to_a_connected_charger(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()  # no key yet: the charger is being provisioned
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as client:
        code, body = await server.request(
            "PUT", key_path(cp_id, "?offline=true"), json={"authorization_key": NEW}
        )
        assert (code, body["sent_to_charger"]) == (200, False)
        with pytest.raises(TimeoutError):
            await client.recv(timeout=0.3)  # no ChangeConfiguration
        assert await client.result("Heartbeat", {})  # its connection goes on
    assert not await admitted(server, cp_id, None)
    assert await admitted(server, cp_id, NEW)


async def test_the_gateway_cache_never_admits_a_replaced_key(server: ServerHandle) -> None:
    """The gateway remembers the last key it verified per charger, keyed by the stored hash.
    Every change stores a hash with a new salt, even for the same key, so a remembered key
    never matches a newer hash: A, then B, then A again, then none, then A. (Profile 0: a key
    may be removed; at profile 1 it is the charger's authentication.)"""
    cp_id = await server.register_charge_point(key=OLD, security_profile=0)
    assert await admitted(server, cp_id, OLD) and await admitted(server, cp_id, OLD)
    hashes = [await stored_hash(server, cp_id)]
    for key in [NEW, OLD, OLD]:
        code, _ = await server.request(
            "PUT", key_path(cp_id, "?offline=true"), json={"authorization_key": key}
        )
        assert code == 200
        hashes.append(await stored_hash(server, cp_id))
        other = OLD if key == NEW else NEW
        assert not await admitted(server, cp_id, other)
        assert await admitted(server, cp_id, key)
    assert len(set(hashes)) == len(hashes), "a change kept the stored hash"
    assert (await server.request("DELETE", key_path(cp_id)))[0] == 200
    assert await admitted(server, cp_id, None)
    code, _ = await server.request(
        "PUT", key_path(cp_id, "?offline=true"), json={"authorization_key": NEW}
    )
    assert code == 200
    assert not await admitted(server, cp_id, OLD)
    assert not await admitted(server, cp_id, None)
    assert await admitted(server, cp_id, NEW)


async def test_delete_removes_the_key(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=OLD, security_profile=0)
    code, body = await server.request("DELETE", key_path(cp_id))
    assert (code, body["id"], body["has_authorization_key"]) == (200, cp_id, False)
    assert await stored_hash(server, cp_id) is None
    assert await admitted(server, cp_id, None)
    assert await admitted(server, cp_id, OLD)  # a charger still sending its key is let in too
    assert (await server.request("DELETE", key_path(cp_id)))[0] == 200  # nothing left: no error
    assert (await server.request("DELETE", key_path("NO-SUCH-CP")))[0] == 404


async def test_a_charger_registered_with_a_key_keeps_it_until_its_profile_is_lowered(
    server: ServerHandle,
) -> None:
    cp_id = await server.register_charge_point(key=OLD)  # profile 1 by default
    code, body = await server.request("DELETE", key_path(cp_id))
    assert code == 409 and "security profile 1" in body["error"]["message"], body
    assert not await admitted(server, cp_id, None)
    status, _ = await server.request(
        "PUT", f"/api/v1/charge-points/{cp_id}/security-profile", json={"profile": 0}
    )
    assert status == 200
    assert (await server.request("DELETE", key_path(cp_id)))[0] == 200
    assert await admitted(server, cp_id, None)


async def test_drivers_may_not_touch_keys(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    driver = await sign_up_driver(server)
    for method, query in [("PUT", ""), ("PUT", "?offline=true"), ("DELETE", "")]:
        code, body = await server.request(
            method, key_path(cp_id, query), token=driver, json={"authorization_key": NEW}
        )
        assert (code, body["error"]["code"]) == (403, "forbidden")
    assert await admitted(server, cp_id, OLD)


#: Refused whether sent or stored offline.
BAD_KEYS: list[dict[str, Any]] = [
    {"authorization_key": "k" * 15},  # SEC: at least 16 bytes
    {"authorization_key": "k" * 41},
    {"authorization_key": "with:colon-0123456"},
    {"authorization_key": "ümlaut-not-ascii-key"},
    {"authorization_key": "tab\tinside-the-key-0"},
    {"authorization_key": "nul\u0000inside-the-key"},
    {"authorization_key": 12345678901234567890},
    {"authorization_key": None},
    {"authorization_key": NEW, "send_as": "base64"},
    {"authorization_key": NEW, "send_as": None},
    {"authorization_key": NEW, "value": NEW},
    {},
]
#: Refused only when sent (offline, nothing travels).
BAD_TO_SEND: list[dict[str, Any]] = [
    {"authorization_key": "k" * 21, "send_as": "hex"},  # SEC: 20 bytes (40 hex digits) at most
    {"authorization_key": "0123456789abcdef0123"},  # hex digits only, sent as text
]


@pytest.mark.parametrize(
    ("body", "queries"),
    [(body, ["", "?offline=true"]) for body in BAD_KEYS] + [(body, [""]) for body in BAD_TO_SEND],
)
async def test_bad_keys_are_422(
    server: ServerHandle, body: dict[str, Any], queries: list[str]
) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=OLD):
        for query in queries:
            code, answer = await server.request("PUT", key_path(cp_id, query), json=body)
            assert (code, answer["error"]["code"]) == (422, "validation_failed"), query
    assert await admitted(server, cp_id, OLD)


async def test_keys_only_sending_refuses_can_be_stored_offline(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    for body in BAD_TO_SEND:
        code, _ = await server.request("PUT", key_path(cp_id, "?offline=true"), json=body)
        assert code == 200
        assert await admitted(server, cp_id, body["authorization_key"])


async def test_bad_query_and_unknown_charger(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    body = {"authorization_key": NEW}
    for query in ["?offline=yes", "?timeout=0", "?timeout=301", "?timeout=soon"]:
        assert (await server.request("PUT", key_path(cp_id, query), json=body))[0] == 422
    for query in ["", "?offline=true"]:
        code, answer = await server.request("PUT", key_path("NO-SUCH-CP", query), json=body)
        assert (code, answer["error"]["code"]) == (404, "not_found")


async def test_one_change_at_a_time_per_charger(server: ServerHandle) -> None:
    """Two rotations stored in the other order than the charger took them would leave it
    with a key csms does not know: a second change waits for no one, it is refused."""
    cp_id = await server.register_charge_point(key=OLD)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=OLD) as client:
        first = put_key(server, cp_id, {"authorization_key": NEW})
        frame = await client.recv()  # the ChangeConfiguration, left unanswered for now
        assert frame[2] == "ChangeConfiguration"
        for method, query in [("PUT", ""), ("PUT", "?offline=true"), ("DELETE", "")]:
            code, body = await server.request(
                method, key_path(cp_id, query), json={"authorization_key": OTHER}
            )
            assert (code, body["error"]["code"]) == (409, "key_change_in_progress")
        await client.send_raw(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
        assert (await first)[0] == 200
    assert await admitted(server, cp_id, NEW)
    assert not await admitted(server, cp_id, OTHER)


async def test_the_commands_endpoint_changes_the_key_the_same_way(server: ServerHandle) -> None:
    """ChangeConfiguration through the generic commands endpoint: the value is the key as it is;
    the key name is a CiString (any case); RebootRequired stores it too."""
    cp_id = await server.register_charge_point(key=OLD)
    async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=OLD) as client:
        pending = asyncio.create_task(
            server.request(
                "POST",
                f"/api/v1/charge-points/{cp_id}/commands/ChangeConfiguration",
                json={"key": "authorizationkey", "value": NEW},
            )
        )
        await client.serve_one(lambda a, p: {"status": "RebootRequired"})
        assert await pending == (200, {"status": "RebootRequired"})
    assert await admitted(server, cp_id, NEW)
    assert not await admitted(server, cp_id, OLD)
