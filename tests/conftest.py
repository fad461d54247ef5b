"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database per test
cloned from a migrated template, the app served in-process on free ports, and a real
``csms serve`` process for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from csms.settings import Settings
from csms.store.embedded import EmbeddedPostgres
from csms.store.migrations import migrate

pytest_plugins = ["tests.world"]

TEMPLATE = "csms_template"
OPERATOR_EMAIL = "operator@example.com"
OPERATOR_PASSWORD = "operator-password"
_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_uri(server_uri: str, name: str) -> str:
    """The URI of database ``name`` on the server whose default-database URI is given."""
    base, _, query = server_uri.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}?{query}"


@pytest.fixture(scope="session")
def postgres_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the whole test session: ``CSMS_TEST_DATABASE_URL`` or embedded."""
    configured = os.environ.get("CSMS_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"))
    uri = asyncio.run(embedded.start())
    yield uri
    embedded.stop()


@pytest.fixture(scope="session")
async def template_uri(postgres_uri: str) -> str:
    admin = await asyncpg.connect(postgres_uri)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    uri = database_uri(postgres_uri, TEMPLATE)
    connection = await asyncpg.connect(uri)
    try:
        await migrate(connection)
    finally:
        await connection.close()
    return uri


async def clone_database(postgres_uri: str) -> str:
    """A new database cloned from the migrated template; returns its URI."""
    name = f"test_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(postgres_uri)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    finally:
        await admin.close()
    return database_uri(postgres_uri, name)


@pytest.fixture
async def database_url(postgres_uri: str, template_uri: str) -> str:
    return await clone_database(postgres_uri)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    from csms.store.database import create_pool

    pool = await create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


def test_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "host": "127.0.0.1",
        "http_port": free_port(),
        "ocpp_port": free_port(),
        "live_state_flush_interval": 0.05,
        "message_log_flush_interval": 0.05,
        "call_timeout": 5.0,
        "scheduler_poll_seconds": 0.05,
        "dispatch_retry_seconds": 2.0,
        "node_id": f"test-node-{next(_counter)}",
        # One test may book far faster than a driver (500 attempts by 5 drivers at once);
        # tests/integration/api/test_abuse_limits.py sets its own limits.
        "bookings_per_hour": 1000,
        # Bare test chargers answer only what a test expects; local lists have their own tests.
        "local_lists": False,
    }
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]


@dataclass
class ServerHandle:
    """A csms serving on loopback, with an operator signed in."""

    http_url: str
    ocpp_base: str
    token: str = ""
    pool: asyncpg.Pool | None = None
    _seq: Any = field(default_factory=itertools.count)

    @property
    def ocpp_url(self) -> str:
        return self.ocpp_base

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        """Call the API; every JSON answer is checked against ``schemas/openapi.json``."""
        from tests.openapi_contract import check_exchange

        all_headers = {**self.headers(token), **(headers or {})}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.http_url + path, headers=all_headers, **kwargs) as response,
        ):
            body = await response.json(content_type=None) if await response.read() else None
            if response.content_type == "application/json":
                check_exchange(
                    method,
                    path,
                    response.status,
                    kwargs.get("json"),
                    body,
                    response_content_type=response.content_type,
                )
            return response.status, body

    async def register_charge_point(
        self,
        cp_id: str | None = None,
        *,
        connectors: int = 2,
        power_kw: float = 22,
        key: str | None = None,
        site_id: int | None = None,
        connector_type: str = "Type2",
        security_profile: int | None = None,
    ) -> str:
        cp_id = cp_id or f"CP-{os.getpid()}-{next(self._seq)}-{time.monotonic_ns() % 100000}"
        body: dict[str, Any] = {
            "id": cp_id,
            "connectors": [
                {"connector_id": n, "connector_type": connector_type, "max_power_kw": power_kw}
                for n in range(1, connectors + 1)
            ],
        }
        if key is not None:
            body["authorization_key"] = key
        if site_id is not None:
            body["site_id"] = site_id
        if security_profile is not None:
            body["security_profile"] = security_profile
        status, answer = await self.request("POST", "/api/v1/charge-points", json=body)
        assert status == 201, answer
        return cp_id

    async def add_id_tag(self, id_tag: str, **fields: Any) -> None:
        status, answer = await self.request(
            "POST", "/api/v1/id-tags", json={"id_tag": id_tag, **fields}
        )
        assert status == 201, answer


async def sign_in_operator(pool: asyncpg.Pool, http_url: str) -> str:
    from csms.services import accounts

    with contextlib.suppress(Exception):
        await accounts.sign_up(pool, OPERATOR_EMAIL, OPERATOR_PASSWORD, role="operator")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            http_url + "/api/v1/tokens",
            json={"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD},
        ) as response,
    ):
        assert response.status == 201
        return str((await response.json())["token"])


class ShiftableClock:
    """Real time plus an offset that a test can move forward (``advance``)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock() -> ShiftableClock:
    return ShiftableClock()


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: ShiftableClock) -> AsyncIterator[ServerHandle]:
    """The whole app served in this process with ``settings``, an operator signed in."""
    from csms.api.context import POOL
    from csms.server import running

    async with running(settings, clock) as runner:
        pool = runner.app[POOL]
        handle = ServerHandle(
            http_url=f"http://127.0.0.1:{settings.http_port}",
            ocpp_base=f"ws://127.0.0.1:{settings.ocpp_port}/ocpp",
            pool=pool,
        )
        handle.token = await sign_in_operator(pool, handle.http_url)
        yield handle


@pytest.fixture
async def server(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> AsyncIterator[ServerHandle]:
    """The whole app served in this process on free loopback ports, fresh database."""
    async with serving(test_settings(database_url, tmp_path), clock) as handle:
        yield handle


@dataclass
class CsmsProcess(ServerHandle):
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)


def start_csms_process(
    env: dict[str, str], http_port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``csms serve`` and wait until it answers ``/readyz`` (or fail with its log)."""
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "csms", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"csms serve exited: {log_path.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", http_port), timeout=0.2) as sock:
                sock.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
                if b" 200 " in sock.recv(100):
                    return process
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"csms serve did not become ready: {log_path.read_text()[-3000:]}")


def stop_csms_process(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def csms_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
    env.update({f"CSMS_{k.upper()}": v for k, v in values.items()})
    return env


@contextlib.asynccontextmanager
async def csms_serving(
    postgres_uri: str, workdir: Path, **settings: str
) -> AsyncIterator[CsmsProcess]:
    """A real ``csms serve`` process on a database of its own, an operator signed in;
    ``settings`` are ``CSMS_*`` values over the fast ones tests use."""
    url = await clone_database(postgres_uri)
    http_port, ocpp_port = free_port(), free_port()
    values = {
        "database_url": url,
        "data_dir": str(workdir / "data"),
        "http_port": str(http_port),
        "ocpp_port": str(ocpp_port),
        "live_state_flush_interval": "0.05",
        "call_timeout": "5",
        "scheduler_poll_seconds": "0.05",
        "dispatch_retry_seconds": "2",
        "log_level": "INFO",
        # One process serves many tests' sign-ups and sign-ins, all from 127.0.0.1.
        "sign_up_per_hour": "1000",
        "sign_in_per_minute": "1000",
    }
    env = csms_env(**{**values, **settings})
    process = start_csms_process(env, http_port, workdir / "csms.log")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    handle = CsmsProcess(
        http_url=f"http://127.0.0.1:{http_port}",
        ocpp_base=f"ws://127.0.0.1:{ocpp_port}/ocpp",
        pool=pool,
        process=process,
        env=env,
    )
    try:
        handle.token = await sign_in_operator(pool, handle.http_url)
        yield handle
    finally:
        await pool.close()
        await asyncio.to_thread(stop_csms_process, process)


@pytest.fixture(scope="session")
async def csms(
    postgres_uri: str, template_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CsmsProcess]:
    """A real ``csms serve`` process shared by a test session (tests use their own charger ids)."""
    async with csms_serving(postgres_uri, tmp_path_factory.mktemp("csms-serve")) as handle:
        yield handle
