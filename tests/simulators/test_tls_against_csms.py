"""``wss://`` against a real ``csms serve`` process with mutual TLS (security profile 3) and
Basic auth on top: the simulator's ``ca_file`` / client certificate options."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from simulators import SimulatedChargePoint
from simulators.charge_point import Backoff
from tests.certificates import TestPki
from tests.conftest import (
    CsmsProcess,
    clone_database,
    csms_env,
    free_port,
    sign_in_operator,
    start_csms_process,
    stop_csms_process,
)

KEY = "tls-sim-key-0123456789"
FAST = Backoff(0.05, 0.3)


@pytest.fixture(scope="module")
async def tls_csms(
    postgres_uri: str, template_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[CsmsProcess, TestPki]]:
    workdir = tmp_path_factory.mktemp("csms-tls")
    pki = TestPki(workdir)
    cert, key = pki.issue("server", "127.0.0.1", server=True)
    url = await clone_database(postgres_uri)
    http_port, ocpp_port = free_port(), free_port()
    env = csms_env(database_url=url, data_dir=str(workdir / "data"), http_port=str(http_port),
                   ocpp_port=str(ocpp_port), tls_cert=str(cert), tls_key=str(key),
                   tls_client_ca=str(pki.ca_path))
    process = start_csms_process(env, http_port, workdir / "csms.log")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    handle = CsmsProcess(http_url=f"http://127.0.0.1:{http_port}",
                         ocpp_base=f"wss://127.0.0.1:{ocpp_port}/ocpp", pool=pool,
                         process=process, env=env)
    handle.token = await sign_in_operator(pool, handle.http_url)
    yield handle, pki
    await pool.close()
    await asyncio.to_thread(stop_csms_process, process)


async def test_wss_with_a_client_certificate_and_basic_auth(
    tls_csms: tuple[CsmsProcess, TestPki]
) -> None:
    csms, pki = tls_csms
    cp_id = await csms.register_charge_point(key=KEY)
    client_cert, client_key = pki.issue(f"client-{cp_id}", cp_id, server=False)
    async with SimulatedChargePoint(csms.ocpp_url, cp_id, key=KEY, ca_file=str(pki.ca_path),
                                    cert_file=str(client_cert), key_file=str(client_key),
                                    backoff=FAST) as cp:
        assert cp.model.booted and cp.connected


async def test_wss_without_a_client_certificate_is_refused(
    tls_csms: tuple[CsmsProcess, TestPki]
) -> None:
    csms, pki = tls_csms
    cp_id = await csms.register_charge_point(key=KEY)
    # Registered at profile 3: its connections must show a client certificate.
    status, _ = await csms.request(
        "PUT", f"/api/v1/charge-points/{cp_id}/security-profile?offline=true", json={"profile": 3}
    )
    assert status == 200
    cp = SimulatedChargePoint(csms.ocpp_url, cp_id, key=KEY, ca_file=str(pki.ca_path),
                              backoff=FAST)
    with pytest.raises(TimeoutError):
        await cp.start(timeout=1.5)
    assert cp.last_error is not None
    await cp.close()


async def test_wss_to_an_untrusted_server_is_refused(
    tls_csms: tuple[CsmsProcess, TestPki], tmp_path: Path
) -> None:
    csms, _ = tls_csms
    cp_id = await csms.register_charge_point(key=KEY)
    other = TestPki(tmp_path)  # a CA that did not sign the server's certificate
    cp = SimulatedChargePoint(csms.ocpp_url, cp_id, key=KEY, ca_file=str(other.ca_path),
                              backoff=FAST)
    with pytest.raises(TimeoutError, match="CERTIFICATE_VERIFY_FAILED"):
        await cp.start(timeout=1.5)
    await cp.close()
