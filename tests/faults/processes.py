"""``csms serve`` as a real process for fault injection: its data directory, its embedded
PostgreSQL, an operator signed in."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ServerHandle, csms_env, free_port, start_csms_process

OPERATOR = ("ops@example.com", "ops-password")


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "csms", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # A zombie (exited, not yet reaped) is not alive.
        return b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()
    return True


async def wait_until(condition: Any, timeout: float) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < timeout, "condition never held"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def ready(http_url: str) -> bool:
    with contextlib.suppress(aiohttp.ClientError, OSError):
        async with aiohttp.ClientSession() as http, http.get(f"{http_url}/readyz") as response:
            return response.status == 200
    return False


@dataclass
class Serve:
    """``csms serve`` on the embedded PostgreSQL of ``data_dir``, with an operator signed in."""

    tmp_path: Path
    http_port: int = field(default_factory=free_port)
    ocpp_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.tmp_path / "data"

    extra: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return csms_env(
            data_dir=str(self.data_dir),
            http_port=str(self.http_port),
            ocpp_port=str(self.ocpp_port),
            live_state_flush_interval="0.05",
            scheduler_poll_seconds="0.1",
            bookings_per_hour="100000",
            local_lists="false",  # the bare test charger answers only what the test expects
            log_level="INFO",
            **self.extra,
        )

    def start(self) -> None:
        self.process = start_csms_process(self.env, self.http_port, self.tmp_path / "csms.log")

    async def handle(self) -> ServerHandle:
        server = ServerHandle(
            http_url=f"http://127.0.0.1:{self.http_port}",
            ocpp_base=f"ws://127.0.0.1:{self.ocpp_port}/ocpp",
        )
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{server.http_url}/api/v1/tokens",
                json={"email": OPERATOR[0], "password": OPERATOR[1]},
            ) as response,
        ):
            assert response.status == 201
            server.token = (await response.json())["token"]
        return server

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return (self.tmp_path / "csms.log").read_text(errors="replace")


@contextlib.contextmanager
def serving_process(tmp_path: Path, **extra: str) -> Iterator[Serve]:
    """``csms serve`` started with an operator account; stopped (or reaped) at the end."""
    serve = Serve(tmp_path, extra=extra)
    cli(serve.env, "operator", "add", "--email", OPERATOR[0], "--password", OPERATOR[1])
    serve.start()
    try:
        yield serve
    finally:
        if serve.process is not None and serve.process.poll() is None:
            serve.process.terminate()
            serve.process.wait(30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    with serving_process(tmp_path) as serve:
        yield serve
