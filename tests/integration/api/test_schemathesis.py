"""Schemathesis over the whole ``schemas/openapi.json``: once as a driver, once as an operator.

The real app serves on a loopback port against the suite's PostgreSQL, with a world to find (a
site with a tariff, a charger that is not connected, a booking). Schemathesis sends what the
document describes and what it does not (negative cases, boundary values); every answer must be
no server error and conform to the document: its status documented, its content type and
body as described, its documented headers present and valid.

Bounded and reproducible: few examples per operation, a fixed seed and derandomized generation,
no shrinking, no example database (nothing is written to the tree). The app runs on its own
event loop in a thread, since schemathesis calls it synchronously (``requests``).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import schemathesis
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from csms.domain.timestamps import TimestampError, parse_timestamp
from csms.settings import Settings
from csms.store import users
from tests.conftest import OPERATOR_EMAIL, ShiftableClock, clone_database, serving, test_settings
from tests.openapi_contract import DOCUMENT_PATH
from tests.world import World, make_world

T = TypeVar("T")

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260501,
        "generation": {
            # Per operation and phase: the whole file takes about 75 s on two cores.
            "max-examples": 60,
            "deterministic": True,  # the same cases on every run
            "no-shrink": True,  # a failure is reported as found, not minimised for minutes
            "database": "none",  # no .hypothesis directory in the tree
            # Authorization is ours (a token per case, see below), not a generated one.
            "with-security-parameters": False,
        },
        # The document has no links between operations for a stateful phase to follow.
        "phases": {"stateful": {"enabled": False}},
    }
)

SCHEMA = schemathesis.openapi.from_path(DOCUMENT_PATH, config=CONFIG).exclude(
    # A never-ending stream of server-sent events: a request would wait for its end forever.
    path="/api/v1/events"
)

#: Schemathesis' own checks of what the document promises (see the module docstring).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@dataclass
class Api:
    """The app serving in a thread; ``run`` runs a coroutine on its loop."""

    base_url: str
    loop: asyncio.AbstractEventLoop
    world: World
    user_ids: dict[str, int] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def token(self, role: str) -> str:
        """A new token of the driver or the operator for each case: the run signs out and
        revokes users' tokens too, and must not lose its own by that."""
        token = secrets.token_urlsafe(32)
        pool = self.world.server.pool
        assert pool is not None
        expires_at = self.world.clock() + timedelta(hours=1)
        self.run(users.store_token(pool, token, self.user_ids[role], expires_at))
        return token


class _Serving(threading.Thread):
    """Serves the app on an event loop of its own until :meth:`stop`."""

    def __init__(self, postgres_uri: str, tmp: Path) -> None:
        super().__init__(name="schemathesis-app", daemon=True)
        self._postgres_uri, self._tmp = postgres_uri, tmp
        self.ready = threading.Event()
        self.api: Api | None = None
        self.error: BaseException | None = None
        self._done: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # handed to the test thread, which raises it
            self.error = error
            self.ready.set()

    async def _serve(self) -> None:
        self._done = asyncio.Event()
        url = await clone_database(self._postgres_uri)
        clock = ShiftableClock()
        async with serving(_settings(url, self._tmp), clock) as server:
            world = await make_world(server, clock)
            await _book(world)
            self.api = Api(server.http_url, asyncio.get_running_loop(), world)
            assert server.pool is not None
            for role, email in [("operator", OPERATOR_EMAIL), ("driver", None)]:
                self.api.user_ids[role] = await _user_id(server.pool, role, email)
            self.ready.set()
            await self._done.wait()

    def stop(self) -> None:
        if self.api is not None and self._done is not None:
            self.api.loop.call_soon_threadsafe(self._done.set)
        self.join(timeout=60)


#: Abuse limits high enough that every case reaches the input checks, not only the first 30
#: bookings or 10 sign-ins (429 and its Retry-After are tested where the limits are).
GENEROUS_LIMITS = {"bookings_per_hour": 1_000_000, "sign_in_per_minute": 1_000_000}


def _settings(database_url: str, tmp: Path) -> Settings:
    # Commands to chargers fail fast (none is connected): 409, not a wait for an answer.
    return test_settings(database_url, tmp, call_timeout=2.0, **GENEROUS_LIMITS)


async def _book(world: World) -> None:
    """A booking of the driver's, so reservation reads find one (ids start at 1)."""
    status, body = await world.book(window=world.window(starts_in=120))
    assert status == 201, body


async def _user_id(pool: Any, role: str, email: str | None) -> int:
    if email is not None:
        return int(await pool.fetchval("SELECT id FROM users WHERE email = $1", email))
    return int(await pool.fetchval("SELECT min(id) FROM users WHERE role = $1", role))


@pytest.fixture(scope="module")
def api(
    postgres_uri: str, template_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    serving_thread = _Serving(postgres_uri, Path(tmp_path_factory.mktemp("schemathesis")))
    serving_thread.start()
    serving_thread.ready.wait(timeout=120)
    if serving_thread.error is not None:
        raise serving_thread.error
    assert serving_thread.api is not None, "the app did not start within 120 s"
    yield serving_thread.api
    serving_thread.api.session.close()
    serving_thread.stop()


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value, require_offset=True)
    except TimestampError:
        return None


def _bookable(case: Case[Any], world: World) -> None:
    """Move a generated window of two valid times into the next hours, where it can be booked.

    The document cannot name such a time (it depends on now), and a window in the past stops
    every request at the window check, before the connector, site or power it names is read.
    Reversed windows and invalid times stay as generated: they test the window check itself.
    """
    for fields in (case.query, case.body):
        if not isinstance(fields, dict):
            continue
        start, end = _time(fields.get("start")), _time(fields.get("end"))
        if start is not None and end is not None and start <= end:
            fields["start"], fields["end"] = world.window(starts_in=60)


def _call(case: Case[Any], api: Api, role: str) -> None:
    _bookable(case, api.world)
    headers = {"Authorization": f"Bearer {api.token(role)}"}
    case.call_and_validate(
        base_url=api.base_url, session=api.session, headers=headers, checks=CHECKS, timeout=30
    )


@SCHEMA.parametrize()
def test_as_a_driver(case: Case[Any], api: Api) -> None:
    _call(case, api, "driver")


@SCHEMA.parametrize()
def test_as_an_operator(case: Case[Any], api: Api) -> None:
    _call(case, api, "operator")
