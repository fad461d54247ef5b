"""``CSMS_LOG_FORMAT=json``: ``csms serve`` (its supervising parent and every worker of
``--workers``) writes one JSON object per line on stderr; a format csms does not know is
refused before anything starts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.conftest import clone_database, csms_env, free_port, stop_csms_process
from tests.ocpp_client import OcppTestClient


async def wait_ready(process: subprocess.Popen[bytes], http_url: str, stderr: Path) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, stderr.read_text()[-3000:]  # noqa: ASYNC240
            try:
                async with http.get(f"{http_url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"csms serve did not become ready: {stderr.read_text()[-3000:]}")  # noqa: ASYNC240


async def test_serve_with_workers_logs_one_json_object_per_line(
    postgres_uri: str, template_uri: str, tmp_path: Path
) -> None:
    http_port, ocpp_port = free_port(), free_port()
    env = csms_env(
        database_url=await clone_database(postgres_uri), data_dir=str(tmp_path / "data"),
        http_port=str(http_port), ocpp_port=str(ocpp_port), log_format="json", workers="2",
        node_id="json-node",
    )
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "csms", "serve"], env=env,
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
    try:
        await wait_ready(process, f"http://127.0.0.1:{http_port}", stderr_path)
        # An unknown charger is refused: a worker logs a warning about it.
        with contextlib.suppress(Exception):  # Refused at the handshake, as expected.
            await OcppTestClient.open(f"ws://127.0.0.1:{ocpp_port}/ocpp/NOBODY-HERE")
    finally:
        assert stop_csms_process(process) == 0
    lines = stderr_path.read_text().splitlines()
    assert lines
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line, not only some
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message"} <= set(entry), line
        entries.append(entry)
    loggers = {entry["logger"] for entry in entries}
    # The parent supervises; each worker serves and logs the same way.
    assert "csms.serve_processes" in loggers, loggers
    assert any(logger not in ("csms.serve_processes", "__main__") for logger in loggers), loggers
    assert any("w1" in entry["message"] for entry in entries)


def test_an_unknown_log_format_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "csms", "migrate"], env=csms_env(log_format="xml"),
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "CSMS_LOG_FORMAT must be text or json" in done.stderr
