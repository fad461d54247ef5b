"""TLS on the OCPP port: profile 2 (server certificate + Basic auth) and profile 3 (a client
certificate, required for a charger registered at profile 3)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from websockets.exceptions import InvalidMessage, InvalidStatus

from csms.server import running
from tests.certificates import TestPki
from tests.conftest import ServerHandle, sign_in_operator, test_settings
from tests.ocpp_client import BOOT, OcppTestClient

KEY = "tls-key-0123456789ab"


def client_context(pki: TestPki, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_path))
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


async def start(database_url: str, tmp_path: Path, pki: TestPki, *, mutual: bool):  # type: ignore[no-untyped-def]
    cert, key = pki.issue("server", "127.0.0.1", server=True)
    settings = test_settings(
        database_url,
        tmp_path,
        tls_cert=cert,
        tls_key=key,
        tls_client_ca=pki.ca_path if mutual else None,
    )
    return settings, running(settings)


async def test_profile_2_tls_with_basic_auth(database_url: str, tmp_path: Path) -> None:
    pki = TestPki(tmp_path)
    settings, server = await start(database_url, tmp_path, pki, mutual=False)
    async with server as runner:
        from csms.api.context import POOL

        handle = ServerHandle(
            f"http://127.0.0.1:{settings.http_port}", f"wss://127.0.0.1:{settings.ocpp_port}/ocpp"
        )
        handle.token = await sign_in_operator(runner.app[POOL], handle.http_url)
        cp_id = await handle.register_charge_point(key=KEY)
        url = f"{handle.ocpp_url}/{cp_id}"
        async with await OcppTestClient.open(url, key=KEY, ssl=client_context(pki)) as client:
            assert (await client.result("BootNotification", BOOT))["status"] == "Accepted"
        with pytest.raises(ssl.SSLCertVerificationError):
            await OcppTestClient.open(
                url, key=KEY, ssl=ssl.create_default_context()
            )  # untrusted server


async def test_profile_3_needs_a_client_certificate(database_url: str, tmp_path: Path) -> None:
    pki = TestPki(tmp_path)
    settings, server = await start(database_url, tmp_path, pki, mutual=True)
    async with server as runner:
        from csms.api.context import POOL

        handle = ServerHandle(
            f"http://127.0.0.1:{settings.http_port}", f"wss://127.0.0.1:{settings.ocpp_port}/ocpp"
        )
        handle.token = await sign_in_operator(runner.app[POOL], handle.http_url)
        cp_id = await handle.register_charge_point()
        status, _ = await handle.request(
            "PUT", f"/api/v1/charge-points/{cp_id}/security-profile?offline=true",
            json={"profile": 3},
        )
        assert status == 200
        url = f"{handle.ocpp_url}/{cp_id}"
        client_cert = pki.issue("client", cp_id, server=False)
        async with await OcppTestClient.open(url, ssl=client_context(pki, client_cert)) as client:
            assert (await client.result("Heartbeat", {}))["currentTime"]
        # A certificate is optional at the TLS layer (one port serves profiles 2 and 3); the
        # handshake refuses this charger without one.
        with pytest.raises(InvalidStatus) as refused:
            await OcppTestClient.open(url, ssl=client_context(pki))
        assert refused.value.response.status_code == 403
        # A certificate csms's CA did not sign is refused by TLS itself.
        (tmp_path / "stranger").mkdir()
        stranger = TestPki(tmp_path / "stranger")
        with pytest.raises((ssl.SSLError, ConnectionError, InvalidMessage)):
            await OcppTestClient.open(url, ssl=client_context(pki, stranger.issue("x", cp_id, server=False)))
