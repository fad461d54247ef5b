"""OCTT 1.6 central-system cases of the security extension (TC_077–TC_081_CSMS) that no other
test runs step by step: certificate and security-log flows, secure firmware update."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from csms.store.security import latest_status_report
from tests.certificates import TestPki
from tests.charger_stub import ChargerStub
from tests.conftest import ServerHandle, ShiftableClock, serving, test_settings
from tests.ocpp_client import BOOT, OcppTestClient
from tests.octt.steps import boot, command, connect, now, sent_and_answered, shows, status
from tests.unit.domain.test_certificates import authority_files, csr_pem, ec_key, make_csr

ROOT_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
async def ca_server(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> AsyncIterator[tuple[ServerHandle, x509.Certificate]]:
    start = clock()
    cert, key, ca = authority_files(
        tmp_path, start - timedelta(hours=1), start + timedelta(days=3650)
    )
    settings = test_settings(database_url, tmp_path, csr_ca_cert=cert, csr_ca_key=key)
    async with serving(settings, clock) as handle:
        yield handle, ca


async def security_event_listed(server: ServerHandle, cp_id: str, kind: str) -> None:
    code, page = await server.request("GET", f"/api/v1/charge-points/{cp_id}/security-events")
    assert code == 200, page
    assert page["items"][0]["type"] == kind


async def test_tc_077_csms_invalid_charge_point_certificate_security_event(
    ca_server: tuple[ServerHandle, x509.Certificate],
) -> None:
    server, ca = ca_server
    cp_id = await server.register_charge_point()
    async with await connect(
        server, cp_id, CertificateSigned=lambda p: {"status": "Rejected"}
    ) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "ExtendedTriggerMessage",
            {"requestedMessage": "SignChargePointCertificate"},  # connectorId omitted
            {"status": "Accepted"},
        )
        assert await charger.result("SignCertificate", {"csr": csr_pem(cp_id)}) == {
            "status": "Accepted"
        }
        signed = await charger.wait_call("CertificateSigned")
        issued = x509.load_pem_x509_certificates(signed["certificateChain"].encode())[0]
        issued.verify_directly_issued_by(ca)
        event = {"type": "InvalidChargePointCertificate", "timestamp": now()}
        assert await charger.result("SecurityEventNotification", event) == {}
        await security_event_listed(server, cp_id, "InvalidChargePointCertificate")


async def test_tc_078_csms_invalid_central_system_certificate_security_event(
    server: ServerHandle,
) -> None:
    cp_id = await server.register_charge_point()
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "InstallCertificate",
            {"certificateType": "CentralSystemRootCertificate", "certificate": ROOT_PEM},
            {"status": "Rejected"},
        )
        event = {"type": "InvalidCentralSystemCertificate", "timestamp": now()}
        assert await charger.result("SecurityEventNotification", event) == {}
        await security_event_listed(server, cp_id, "InvalidCentralSystemCertificate")


async def test_tc_079_csms_get_security_log(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "GetLog",
            {
                "logType": "SecurityLog",
                "requestId": 79,
                "log": {"remoteLocation": "https://logs.example.com/octt"},
            },
            {"status": "Accepted", "filename": "security.log"},
        )
        for state in ("Uploading", "Uploaded"):
            answer = await charger.result(
                "LogStatusNotification", {"status": state, "requestId": 79}
            )
            assert answer == {}
    assert server.pool is not None
    report = await latest_status_report(server.pool, cp_id, "log")
    assert report is not None and (report.status, report.request_id) == ("Uploaded", 79)


def signed_update(request_id: int, signature: str) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "retries": 1,
        "firmware": {
            "location": "https://firmware.example.com/octt.bin",
            "retrieveDateTime": now(),
            "signingCertificate": ROOT_PEM,
            "signature": signature,
        },
    }


async def signed_status(charger: ChargerStub, state: str, request_id: int) -> None:
    answer = await charger.result(
        "SignedFirmwareStatusNotification", {"status": state, "requestId": request_id}
    )
    assert answer == {}


async def test_tc_080_csms_secure_firmware_update(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point(connectors=2)
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "SignedUpdateFirmware",
            signed_update(80, "c2lnbmF0dXJl"),
            {"status": "Accepted"},
        )
        await signed_status(charger, "Downloading", 80)
        for connector_id in (1, 2):  # MAY, before installing
            assert await status(charger, connector_id, "Unavailable") == {}
        await signed_status(charger, "Downloaded", 80)
        await signed_status(charger, "SignatureVerified", 80)
        await signed_status(charger, "Installing", 80)
        await signed_status(charger, "InstallRebooting", 80)
    async with await connect(server, cp_id) as charger:
        await boot(charger, connectors=0)
        event = {"type": "FirmwareUpdated", "timestamp": now()}
        assert await charger.result("SecurityEventNotification", event) == {}
        for connector_id in (1, 2):
            assert await status(charger, connector_id, "Available") == {}
        await signed_status(charger, "Installed", 80)
        await shows(server, cp_id, 2, "Available")
    await security_event_listed(server, cp_id, "FirmwareUpdated")
    assert server.pool is not None
    report = await latest_status_report(server.pool, cp_id, "signed_firmware")
    assert report is not None and (report.status, report.request_id) == ("Installed", 80)


async def test_tc_081_csms_secure_firmware_update_invalid_signature(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server,
            charger,
            cp_id,
            "SignedUpdateFirmware",
            signed_update(81, "aW52YWxpZA=="),
            {"status": "Accepted"},
        )
        for state in ("Downloading", "Downloaded", "InvalidSignature"):
            await signed_status(charger, state, 81)
        event = {"type": "InvalidFirmwareSignature", "timestamp": now()}
        assert await charger.result("SecurityEventNotification", event) == {}
    assert server.pool is not None
    report = await latest_status_report(server.pool, cp_id, "signed_firmware")
    assert report is not None and (report.status, report.request_id) == ("InvalidSignature", 81)


async def test_tc_074_csms_update_charge_point_certificate_and_reconnect_with_it(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> None:
    """TC_074 to its step 7, which the A02 test elsewhere stops short of: the charger at
    profile 3 reconnects over mutual TLS with the certificate csms just signed for it."""
    pki = TestPki(tmp_path)
    server_cert, server_key = pki.issue("server", "127.0.0.1", server=True)
    settings = test_settings(
        database_url,
        tmp_path,
        tls_cert=server_cert,
        tls_key=server_key,
        tls_client_ca=pki.ca_path,
        csr_ca_cert=pki.ca_path,
        csr_ca_key=pki.ca_key_path(),
    )
    async with serving(settings, clock) as plain_handle:
        server = ServerHandle(
            plain_handle.http_url,
            f"wss://127.0.0.1:{settings.ocpp_port}/ocpp",
            token=plain_handle.token,
            pool=plain_handle.pool,
        )
        cp_id = await server.register_charge_point()
        code, _ = await server.request(
            "PUT",
            f"/api/v1/charge-points/{cp_id}/security-profile?offline=true",
            json={"profile": 3},
        )
        assert code == 200
        url = f"{server.ocpp_url}/{cp_id}"

        def tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
            context = ssl.create_default_context(cafile=str(pki.ca_path))
            context.load_cert_chain(*cert)
            return context

        first = pki.issue("first", cp_id, server=False)
        key = ec_key()
        async with await OcppTestClient.open(url, ssl=tls(first)) as client:
            assert (await client.result("BootNotification", BOOT))["status"] == "Accepted"
            pending = command(
                server,
                cp_id,
                "ExtendedTriggerMessage",
                {"requestedMessage": "SignChargePointCertificate"},
            )
            action, payload = await client.serve_one(lambda a, p: {"status": "Accepted"})
            assert (action, payload) == (
                "ExtendedTriggerMessage",
                {"requestedMessage": "SignChargePointCertificate"},
            )
            assert await pending == (200, {"status": "Accepted"})
            csr = make_csr(cp_id, key).public_bytes(serialization.Encoding.PEM).decode()
            assert await client.result("SignCertificate", {"csr": csr}) == {"status": "Accepted"}
            action, payload = await client.serve_one(lambda a, p: {"status": "Accepted"})
            assert action == "CertificateSigned"
        renewed = (tmp_path / "renewed.pem", tmp_path / "renewed.key")
        renewed[0].write_text(payload["certificateChain"])
        renewed[1].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        async with await OcppTestClient.open(url, ssl=tls(renewed)) as client:
            assert (await client.result("BootNotification", BOOT))["status"] == "Accepted"
            assert (await client.result("Heartbeat", {}))["currentTime"].endswith("Z")
