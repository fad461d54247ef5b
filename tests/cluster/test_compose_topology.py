"""docker-compose.yml's topology, run as processes (no Docker here): its own init script and
fleet command from the file, two csms nodes with the file's settings on one PostgreSQL, and a
balancer in front of the OCPP and HTTP ports. What a user checks after ``docker compose up``:
the first operator signs in through the balancer, and the fleet's chargers are online, spread
over both nodes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.cluster.nodes import Balancer
from tests.conftest import clone_database, free_port, start_csms_process, stop_csms_process
from tests.unit.test_deployment_files import environment, service_argv
from tests.waiting import eventually

FLEET = 3


def on_this_machine(argv_env: dict[str, str], url: str, workdir: Path) -> dict[str, str]:
    """The service's environment with the database, addresses and paths of this machine."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
    return {**env, **argv_env, "CSMS_DATABASE_URL": url, "CSMS_DATA_DIR": str(workdir / "data"),
            "FLEET_SIZE": str(FLEET), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}


async def test_the_compose_topology_runs_as_processes(
    postgres_uri: str, template_uri: str, tmp_path: Path
) -> None:
    url = await clone_database(postgres_uri)
    init_env = on_this_machine(environment("init"), url, tmp_path)
    for _ in range(2):  # init may run again: what exists is kept
        done = await asyncio.to_thread(
            subprocess.run, service_argv("init"), env=init_env, capture_output=True, text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    nodes, ocpp_ports, http_ports = [], [], []
    try:
        for name in ("csms-1", "csms-2"):
            http_port, ocpp_port = free_port(), free_port()
            env = on_this_machine(environment(name), url, tmp_path / name)
            env.update(CSMS_HOST="127.0.0.1", CSMS_HTTP_PORT=str(http_port),
                       CSMS_OCPP_PORT=str(ocpp_port))
            nodes.append(await asyncio.to_thread(
                start_csms_process, env, http_port, tmp_path / f"{name}.log"))
            http_ports.append(http_port)
            ocpp_ports.append(ocpp_port)
        async with Balancer(ocpp_ports) as ocpp_lb, Balancer(http_ports) as http_lb:
            await _fleet_online(url, tmp_path, ocpp_lb.url, f"http://127.0.0.1:{http_lb.port}")
    finally:
        for process in nodes:
            await asyncio.to_thread(stop_csms_process, process)


async def _fleet_online(url: str, tmp_path: Path, ocpp_url: str, http_url: str) -> None:
    argv = [word.replace("ws://lb:9000/ocpp", ocpp_url) for word in service_argv("simulator")]
    env = on_this_machine(environment("simulator"), url, tmp_path)
    with (tmp_path / "fleet.log").open("wb") as log:
        fleet = await asyncio.to_thread(
            subprocess.Popen, argv, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        init = environment("init")
        async with aiohttp.ClientSession(base_url=http_url) as http:
            credentials = {"email": init["OPERATOR_EMAIL"], "password": init["OPERATOR_PASSWORD"]}
            async with http.post("/api/v1/tokens", json=credentials) as response:
                assert response.status == 201, await response.text()
                token = (await response.json())["token"]
            headers = {"Authorization": f"Bearer {token}"}

            async def chargers() -> list[dict[str, Any]]:
                async with http.get("/api/v1/charge-points", headers=headers) as response:
                    assert response.status == 200
                    return list((await response.json())["items"])

            found = await eventually(
                chargers, lambda items: sum(c["online"] for c in items) == FLEET, timeout=60
            )
        assert {c["id"] for c in found} == {f"FLEET-{n:05d}" for n in range(1, FLEET + 1)}
        pool = await asyncpg.connect(url)
        try:
            holders = await pool.fetch("SELECT DISTINCT connected_node FROM charge_points")
        finally:
            await pool.close()
        assert {row["connected_node"] for row in holders} == {"csms-1", "csms-2"}
    finally:
        fleet.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(fleet.wait, 30)
        except subprocess.TimeoutExpired:
            fleet.kill()
