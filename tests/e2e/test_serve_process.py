"""``csms serve`` as an operator runs it: embedded PostgreSQL in a data directory, the CLI to
register things, a clean stop on SIGTERM, and everything still there after a restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.conftest import csms_env, free_port, start_csms_process, stop_csms_process
from tests.ocpp_client import BOOT, OcppTestClient

KEY = "restart-key-0123456"


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "csms", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def token_for(http_url: str, email: str, password: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{http_url}/api/v1/tokens", json={"email": email, "password": password}
        ) as response,
    ):
        assert response.status == 201
        return str((await response.json())["token"])


async def transactions(http_url: str, token: str) -> list[dict]:  # type: ignore[type-arg]
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.get(f"{http_url}/api/v1/transactions") as response,
    ):
        assert response.status == 200
        return list((await response.json())["items"])


async def test_data_survives_a_restart_on_the_embedded_database(tmp_path: Path) -> None:
    http_port, ocpp_port = free_port(), free_port()
    env = csms_env(
        data_dir=str(tmp_path / "data"), http_port=str(http_port), ocpp_port=str(ocpp_port)
    )
    http_url, ocpp_url = f"http://127.0.0.1:{http_port}", f"ws://127.0.0.1:{ocpp_port}/ocpp"

    assert "up to date" in cli(env, "migrate")
    cli(env, "operator", "add", "--email", "op@example.com", "--password", "op-password")
    site_id = cli(env, "site", "add", "--name", "Yard", "--timezone", "Europe/Berlin").strip()
    cli(
        env,
        "charge-point",
        "add",
        "--id",
        "YARD-1",
        "--site-id",
        site_id,
        "--key",
        KEY,
        "--connector",
        "1:Type2:22",
        "--connector",
        "2:Type2:22",
    )
    cli(env, "id-tag", "add", "--id-tag", "YARD-CARD")

    process = start_csms_process(env, http_port, tmp_path / "first.log")
    try:
        async with await OcppTestClient.open(f"{ocpp_url}/YARD-1", key=KEY) as client:
            assert (await client.result("BootNotification", BOOT))["status"] == "Accepted"
            await client.result(
                "StatusNotification",
                {"connectorId": 1, "status": "Charging", "errorCode": "NoError"},
            )
            tx = (
                await client.result(
                    "StartTransaction",
                    {
                        "connectorId": 1,
                        "idTag": "YARD-CARD",
                        "meterStart": 0,
                        "timestamp": "2026-03-01T10:00:00Z",
                    },
                )
            )["transactionId"]
            token = await token_for(http_url, "op@example.com", "op-password")
    finally:
        assert stop_csms_process(process) == 0
    assert "embedded PostgreSQL stopped" in (tmp_path / "first.log").read_text()

    process = start_csms_process(env, http_port, tmp_path / "second.log")
    try:
        # The token, the charger with its key, its last status and the open transaction all survived.
        [row] = await transactions(http_url, token)
        assert (row["id"], row["stopped_at"]) == (tx, None)
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
            http.get(f"{http_url}/api/v1/charge-points/YARD-1") as response,
        ):
            detail = await response.json()
        assert detail["connectors"][0]["status"] == "Charging"
        assert detail["vendor"] == "TestVendor"
        async with await OcppTestClient.open(f"{ocpp_url}/YARD-1", key=KEY) as client:
            assert (
                await client.result(
                    "StopTransaction",
                    {"transactionId": tx, "meterStop": 4200, "timestamp": "2026-03-01T11:00:00Z"},
                )
                == {}
            )
        [row] = await transactions(http_url, token)
        assert row["energy_wh"] == 4200
    finally:
        assert stop_csms_process(process) == 0


def test_two_processes_starting_at_once_on_a_fresh_data_dir(tmp_path: Path) -> None:
    env = csms_env(data_dir=str(tmp_path / "data"))
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "csms", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.wait(timeout=120) == 0, run.stderr.read() if run.stderr else ""


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    env = csms_env(data_dir=str(tmp_path / "data"), http_port="eighty")
    done = subprocess.run(
        [sys.executable, "-m", "csms", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "CSMS_HTTP_PORT" in done.stderr
