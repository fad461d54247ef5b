"""``csms serve --workers N`` as real processes: one port pair served by several workers, a
crashed worker replaced while the parent's embedded PostgreSQL stays up, a clean stop, and no
process left behind when the parent dies."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import asyncpg
import pytest

from tests.conftest import (
    ServerHandle,
    clone_database,
    csms_env,
    free_port,
    sign_in_operator,
    start_csms_process,
    stop_csms_process,
)
from tests.e2e.test_serve_process import cli, token_for
from tests.ocpp_client import BOOT, OcppTestClient
from tests.waiting import eventually

NODE = "multi"
OPERATOR = ("op@example.com", "op-password")


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``, with their command lines (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = command
    return found


def workers_of(pid: int) -> set[int]:
    return {child for child, command in children(pid).items() if "--as-worker" in command}


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])


class Workers(NamedTuple):
    parent: subprocess.Popen[bytes]
    http_url: str
    ocpp_url: str
    log: Path


@contextmanager
def workers_serving(tmp_path: Path, **settings: str) -> Iterator[Workers]:
    """``csms serve`` with ``CSMS_WORKERS=2`` (``settings`` on top) until every worker serves;
    stopped at the end unless the test stopped it."""
    http_port, ocpp_port = free_port(), free_port()
    env = csms_env(
        data_dir=str(tmp_path / "data"), http_port=str(http_port), ocpp_port=str(ocpp_port),
        workers="2", node_id=NODE, **settings,
    )
    log = tmp_path / "csms.log"
    process = start_csms_process(env, http_port, log)
    try:
        wait_for(lambda: "csms is ready" in log.read_text(), 60, "every worker serves")
        yield Workers(
            process, f"http://127.0.0.1:{http_port}", f"ws://127.0.0.1:{ocpp_port}/ocpp", log
        )
    finally:
        if process.poll() is None:
            stop_csms_process(process)


async def node_ids(http_url: str, connections: int = 40) -> set[str]:
    """The node ids /metrics names over ``connections`` new connections."""
    found = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(connections):
            async with http.get(f"{http_url}/metrics") as response:
                found |= set(re.findall(r'node="([^"]+)"', await response.text()))
    return found


async def test_two_workers_serve_one_port_pair(
    postgres_uri: str, template_uri: str, tmp_path: Path
) -> None:
    url = await clone_database(postgres_uri)
    with workers_serving(tmp_path, database_url=url) as (parent, http_url, ocpp_url, log):
        server = ServerHandle(http_url, ocpp_url)
        # Connections reach both workers, each a node of its own; with a configured database
        # the parent runs no PostgreSQL: its only children are the two workers.
        assert await node_ids(server.http_url) == {f"{NODE}-w0", f"{NODE}-w1"}
        assert len(workers_of(parent.pid)) == 2 and len(children(parent.pid)) == 2
        assert log.read_text().count("csms is ready") == 1
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        try:
            server.token = await sign_in_operator(pool, server.http_url)
        finally:
            await pool.close()
        cp_id = await server.register_charge_point("MULTI-1")
        async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as charger:
            assert (await charger.result("BootNotification", BOOT))["status"] == "Accepted"

            async def detail() -> dict[str, Any]:
                status, body = await server.request("GET", f"/api/v1/charge-points/{cp_id}")
                assert status == 200, body
                return dict(body)

            held = await eventually(detail, lambda cp: cp["online"], timeout=10)
            assert held["connected_node"] in {f"{NODE}-w0", f"{NODE}-w1"}
            # Commands reach the charger whichever worker takes the request (each request is
            # a new connection): the workers are nodes of one CSMS.
            for _ in range(4):
                answer = charger.serve_one(lambda action, payload: {"configurationKey": []})
                command = server.request(
                    "POST", f"/api/v1/charge-points/{cp_id}/commands/GetConfiguration", json={}
                )
                (status, _), _ = await asyncio.gather(command, answer)
                assert status == 200
        assert stop_csms_process(parent) == 0


async def test_a_killed_worker_is_replaced_and_the_embedded_database_stays(
    tmp_path: Path,
) -> None:
    with workers_serving(tmp_path) as (parent, http_url, _, log):
        # A csms command beside them joins the parent's server.
        env = csms_env(data_dir=str(tmp_path / "data"))
        cli(env, "operator", "add", "--email", OPERATOR[0], "--password", OPERATOR[1])
        token = await token_for(http_url, *OPERATOR)
        database = postmaster_pid(tmp_path / "data")
        victim, survivor = sorted(workers_of(parent.pid))

        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: not running(victim), 10, "the killed worker is gone")
        # The other worker answers alone, from the database: every new connection reaches it.
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True), headers=headers
        ) as http:
            for _ in range(20):
                async with http.get(f"{http_url}/api/v1/charge-points") as response:
                    assert response.status == 200

        wait_for(lambda: len(workers_of(parent.pid) - {survivor}) == 1, 15, "a new worker")
        wait_for(lambda: log.read_text().count(" serves\n") == 3, 30, "the new worker serves")
        assert survivor in workers_of(parent.pid)
        assert "exited with code -9" in log.read_text()
        assert await node_ids(http_url) == {f"{NODE}-w0", f"{NODE}-w1"}
        assert postmaster_pid(tmp_path / "data") == database and running(database)
        assert "embedded PostgreSQL is gone" not in log.read_text()


def test_sigterm_stops_every_worker_and_the_database(tmp_path: Path) -> None:
    with workers_serving(tmp_path) as (parent, _, _, log):
        pids = workers_of(parent.pid) | {postmaster_pid(tmp_path / "data")}
        assert len(pids) == 3
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=40) == 0
    text = log.read_text()
    assert [pid for pid in pids if running(pid)] == []
    assert text.count("stopped (exit code 0)") == 2  # Both workers stopped cleanly.
    assert "embedded PostgreSQL stopped" in text


async def test_workers_die_with_their_parent(
    postgres_uri: str, template_uri: str, tmp_path: Path
) -> None:
    url = await clone_database(postgres_uri)
    with workers_serving(tmp_path, database_url=url) as (parent, _, _, _):
        workers = workers_of(parent.pid)
        parent.kill()
        parent.wait(timeout=10)
        wait_for(lambda: not any(running(pid) for pid in workers), 20, "the workers exit")


@pytest.mark.parametrize("problem", ["no workers", "port taken"])
def test_what_cannot_work_is_refused_with_a_clear_message(tmp_path: Path, problem: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        workers, expected = ("0", "CSMS_WORKERS") if problem == "no workers" else ("2", str(port))
        env = csms_env(
            data_dir=str(tmp_path / "data"), http_port=str(port), ocpp_port=str(free_port())
        )
        done = subprocess.run(
            [sys.executable, "-m", "csms", "serve", "--workers", workers],
            env=env, capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert not (tmp_path / "data" / "pgdata").exists()  # Refused before any database start.
