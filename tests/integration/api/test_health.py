"""``/healthz`` fails only when csms cannot recover by itself; ``/readyz`` follows the database;
``/metrics`` counts the background workers."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from csms.api.context import WORKERS
from csms.server import running
from tests.conftest import ShiftableClock, test_settings


async def get(url: str) -> tuple[int, object]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body


async def test_healthz_fails_when_a_worker_keeps_failing_and_lists_the_workers(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> None:
    settings = test_settings(database_url, tmp_path)
    base = f"http://127.0.0.1:{settings.http_port}"
    async with running(settings, clock) as runner:
        status, health = await get(f"{base}/healthz")
        assert status == 200, health
        assert isinstance(health, dict)
        assert {"scheduler", "live-state", "live-feed", "idle-connections", "token-purge"} <= set(health["workers"])
        assert all(worker["running"] for worker in health["workers"].values()), health
        assert (await get(f"{base}/readyz"))[0] == 200

        supervisor = runner.app[WORKERS]
        supervisor.delay = lambda failures, *, database_away: 0.01

        async def broken_worker() -> None:
            raise RuntimeError("cannot work")

        supervisor.start("broken", broken_worker)
        for _ in range(500):
            if supervisor.broken:
                break
            await asyncio.sleep(0.01)
        status, health = await get(f"{base}/healthz")
        assert status == 503
        assert isinstance(health, dict) and health["broken"] == ["broken"]
        assert health["workers"]["broken"]["last_error"] == "RuntimeError: cannot work"
        # Ready still: the database answers; only the process needs a restart.
        assert (await get(f"{base}/readyz"))[0] == 200
        status, metrics = await get(f"{base}/metrics")
        assert status == 200 and isinstance(metrics, str)
        failures = re.findall(r'^csms_worker_failures_total\{node="[^"]+",worker="broken"\} (\d+)$',
                              metrics, re.MULTILINE)
        assert failures and int(failures[0]) >= 5
        assert re.search(r'^csms_worker_up\{node="[^"]+",worker="scheduler"\} 1$', metrics,
                         re.MULTILINE)
