"""Abuse limits as a client sees them: 429 with Retry-After on sign-in, sign-up, booking and
event streams; sign-out and an operator's revocation; expired tokens purged.

Clients come from different loopback addresses (127.0.0.x: Linux routes all of 127/8 to lo), so
the server sees them as different TCP peers, as it would different people.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from multidict import CIMultiDictProxy

from csms.services import accounts as account_service
from csms.store import users
from tests.conftest import ServerHandle, ShiftableClock, serving, test_settings
from tests.openapi_contract import check_exchange
from tests.world import make_world

PASSWORD = "the right password"
_emails = itertools.count()


async def call(
    server: ServerHandle,
    method: str,
    path: str,
    *,
    source: str = "127.0.0.1",
    token: str | None = None,
    json: Any = None,
) -> tuple[int, CIMultiDictProxy[str], Any]:
    """One request from the loopback address ``source``, checked against the OpenAPI document."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0))) as http,
        http.request(method, server.http_url + path, json=json, headers=headers) as response,
    ):
        raw = await response.read()
        body = orjson.loads(raw) if raw else None
        if response.content_type == "application/json":
            check_exchange(method, path, response.status, json, body)
        return response.status, response.headers, body


async def sign_up(server: ServerHandle, source: str = "127.0.0.1") -> str:
    email = f"abuse{next(_emails)}@example.com"
    status, _, body = await call(
        server, "POST", "/api/v1/users", source=source, json={"email": email, "password": PASSWORD}
    )
    assert status == 201, body
    return email


async def sign_in(
    server: ServerHandle, email: str, password: str = PASSWORD, source: str = "127.0.0.1"
) -> tuple[int, CIMultiDictProxy[str], Any]:
    body = {"email": email, "password": password}
    return await call(server, "POST", "/api/v1/tokens", source=source, json=body)


async def token_for(server: ServerHandle, email: str, source: str = "127.0.0.1") -> str:
    status, _, body = await sign_in(server, email, source=source)
    assert status == 201, body
    return str(body["token"])


def assert_rate_limited(answer: tuple[int, CIMultiDictProxy[str], Any], retry_after: int) -> None:
    status, headers, body = answer
    assert status == 429, body
    assert body["error"]["code"] == "rate_limited" and body["error"]["message"]
    # Whole seconds left, counted from when the limit was hit: a second may tick meanwhile.
    assert int(headers["Retry-After"]) in (retry_after - 1, retry_after), headers["Retry-After"]


@contextlib.asynccontextmanager
async def limited_server(
    database_url: str, tmp_path: Path, clock: ShiftableClock, **limits: int
) -> AsyncIterator[ServerHandle]:
    async with serving(test_settings(database_url, tmp_path, **limits), clock) as server:
        yield server


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash or check the account service runs (the cost a flood imposes)."""
    calls: list[str] = []

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            calls.append(name)
            return real(*args)

        return run

    for name in ("hash_secret", "verify_secret"):
        real = getattr(account_service, name)
        monkeypatch.setattr(account_service, name, counted(name, real))
    return calls


async def test_sign_in_from_one_address_is_limited_before_any_hashing(
    database_url: str, tmp_path: Path, clock: ShiftableClock, hashes: list[str]
) -> None:
    async with limited_server(database_url, tmp_path, clock, sign_in_per_minute=3) as server:
        email = await sign_up(server)
        for _ in range(3):
            assert (await sign_in(server, email, "wrong guess", source="127.0.0.2"))[0] == 401
        hashed = len(hashes)
        for _ in range(20):
            assert_rate_limited(await sign_in(server, email, "wrong", source="127.0.0.2"), 20)
        # Even the right password waits: the address is judged before the password is.
        assert_rate_limited(await sign_in(server, email, source="127.0.0.2"), 20)
        assert len(hashes) == hashed  # refused attempts cost no scrypt
        # Other addresses are unaffected; the limited one is let in once a token has refilled.
        assert (await sign_in(server, email, source="127.0.0.3"))[0] == 201
        clock.advance(seconds=20)
        assert (await sign_in(server, email, source="127.0.0.2"))[0] == 201


async def test_a_guesser_does_not_lock_the_owner_out(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> None:
    async with limited_server(
        database_url,
        tmp_path,
        clock,
        sign_in_failures_per_hour=3,
        sign_in_account_failures_per_hour=6,
    ) as server:
        email = await sign_up(server)
        await token_for(server, email, source="127.0.0.1")  # her usual address
        for _ in range(3):
            assert (await sign_in(server, email.upper(), "guess", source="127.0.0.2"))[0] == 401
        assert_rate_limited(await sign_in(server, email, "guess", source="127.0.0.2"), 1200)
        # The owner signs in from her usual address, and from one she never used.
        await token_for(server, email, source="127.0.0.1")
        await token_for(server, email, source="127.0.0.3")
        # Guesses from many addresses: new addresses must now wait, hers never.
        for n in range(10, 13):
            assert (await sign_in(server, email, "guess", source=f"127.0.0.{n}"))[0] == 401
        assert_rate_limited(await sign_in(server, email, source="127.0.0.50"), 600)
        await token_for(server, email, source="127.0.0.1")
        await token_for(server, email, source="127.0.0.3")


async def test_sign_up_is_limited_per_address(
    database_url: str, tmp_path: Path, clock: ShiftableClock, hashes: list[str]
) -> None:
    async with limited_server(database_url, tmp_path, clock, sign_up_per_hour=2) as server:
        bad = {"email": "not-an-email", "password": PASSWORD}
        for _ in range(5):  # typos cost nothing
            assert (await call(server, "POST", "/api/v1/users", source="127.0.0.2", json=bad))[
                0
            ] == 422
        email = await sign_up(server, source="127.0.0.2")
        again = {"email": email, "password": PASSWORD}
        status, _, body = await call(
            server, "POST", "/api/v1/users", source="127.0.0.2", json=again
        )
        assert status == 409 and body["error"]["code"] == "already_exists"
        # Probing which emails are registered is bounded by the same limit.
        hashed = len(hashes)
        probe = {"email": "someone@example.com", "password": PASSWORD}
        answer = await call(server, "POST", "/api/v1/users", source="127.0.0.2", json=probe)
        assert_rate_limited(answer, 1800)
        assert len(hashes) == hashed
        await sign_up(server, source="127.0.0.3")
        clock.advance(seconds=1800)
        await sign_up(server, source="127.0.0.2")


async def test_booking_creation_is_limited_per_driver(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> None:
    async with limited_server(database_url, tmp_path, clock, bookings_per_hour=2) as server:
        world = await make_world(server, clock)
        assert (await world.book(1, world.window(120)))[0] == 201
        assert (await world.book(1, world.window(120)))[0] == 409  # a refused attempt counts too
        status, body = await world.book(2, world.window(120))
        assert status == 429 and body["error"]["code"] == "rate_limited"
        other = await world.new_driver()
        assert (await world.book(2, world.window(120), token=other))[0] == 201
        clock.advance(seconds=1800)
        assert (await world.book(1, world.window(300)))[0] == 201


async def test_the_booking_429_carries_retry_after(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> None:
    async with limited_server(database_url, tmp_path, clock, bookings_per_hour=1) as server:
        world = await make_world(server, clock)
        body = {"charge_point_id": world.cp_id, "connector_id": 1, "start": "x", "end": "y"}
        assert (await call(server, "POST", "/api/v1/reservations", token=world.driver, json=body))[
            0
        ] == 422
        answer = await call(server, "POST", "/api/v1/reservations", token=world.driver, json=body)
        assert_rate_limited(answer, 3600)


@contextlib.asynccontextmanager
async def stream(server: ServerHandle, token: str) -> AsyncIterator[aiohttp.ClientResponse]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.http_url}/api/v1/events", params={"access_token": token}) as response,
    ):
        if response.content_type == "application/json":
            body = await response.json()
            check_exchange("GET", "/api/v1/events", response.status, None, body)
        else:
            assert await response.content.readline() == b": connected\n"
        yield response


async def test_streams_per_token_are_capped_and_freed_when_one_closes(
    database_url: str, tmp_path: Path, clock: ShiftableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("csms.api.events.KEEPALIVE_SECONDS", 0.2)  # a closed stream is seen soon
    async with limited_server(database_url, tmp_path, clock, streams_per_token=2) as server:
        email = await sign_up(server)
        token, second_token = await token_for(server, email), await token_for(server, email)
        async with stream(server, token) as first, stream(server, token) as other:
            assert first.status == other.status == 200
            async with stream(server, token) as refused:
                assert refused.status == 429
                assert refused.headers["Retry-After"] == "1"
            async with stream(server, second_token) as elsewhere:
                assert elsewhere.status == 200  # the cap is per token
        for _ in range(50):  # the server notices the closed streams at its next write
            async with stream(server, token) as again:
                if again.status == 200:
                    break
            await asyncio.sleep(0.1)
        assert again.status == 200


async def test_sign_out_revokes_only_the_calling_token(server: ServerHandle) -> None:
    email = await sign_up(server)
    token, other = await token_for(server, email), await token_for(server, email)
    assert (await call(server, "DELETE", "/api/v1/tokens/current", token=token))[0] == 204
    status, headers, body = await call(server, "GET", "/api/v1/me", token=token)
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert (await call(server, "DELETE", "/api/v1/tokens/current", token=token))[0] == 401
    assert (await call(server, "GET", "/api/v1/me", token=other))[0] == 200


async def test_an_operator_revokes_all_tokens_of_a_user_and_their_streams_end(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("csms.api.events.KEEPALIVE_SECONDS", 0.2)
    email = await sign_up(server)
    tokens = [await token_for(server, email) for _ in range(3)]
    _, _, me = await call(server, "GET", "/api/v1/me", token=tokens[0])
    path = f"/api/v1/users/{me['id']}/tokens"
    status, _, body = await call(server, "DELETE", path, token=tokens[0])
    assert status == 403 and body["error"]["code"] == "forbidden"
    async with stream(server, tokens[1]) as live:
        assert live.status == 200
        assert (await call(server, "DELETE", path, token=server.token))[0] == 204
        await asyncio.wait_for(live.content.read(), 5)  # the stream ends: EOF
    for token in tokens:
        assert (await call(server, "GET", "/api/v1/me", token=token))[0] == 401
    assert (await call(server, "GET", "/api/v1/me", token=server.token))[0] == 200
    # The user signs in again with their password; an unknown user is 404.
    await token_for(server, email)
    for unknown in ("999999", "not-a-number"):
        status, _, body = await call(
            server, "DELETE", f"/api/v1/users/{unknown}/tokens", token=server.token
        )
        assert status == 404 and body["error"]["code"] == "not_found"


async def test_purge_deletes_expired_tokens_only(pool: asyncpg.Pool) -> None:
    now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    user = await users.create(pool, "purge@example.com", "not a real hash", "driver")
    expiries = {
        **{f"old-{n}": now - timedelta(days=n + 1) for n in range(5)},
        "just-now": now,  # a token is good only while expires_at > now
        "soon": now + timedelta(seconds=1),
        "tomorrow": now + timedelta(days=1),
    }
    for token, expires_at in expiries.items():
        await users.store_token(pool, token, user.id, expires_at)
    assert await users.purge_expired_tokens(pool, now, batch=2) == 6
    assert await pool.fetchval("SELECT count(*) FROM api_tokens") == 2
    for token in ("soon", "tomorrow"):
        assert await users.user_for_token(pool, token, now) == user
    assert await users.purge_expired_tokens(pool, now) == 0
    assert await users.purge_expired_tokens(pool, now + timedelta(days=2)) == 2
