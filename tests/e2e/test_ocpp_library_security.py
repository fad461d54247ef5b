"""The security flow with a charger written on the ``ocpp`` library's own ChargePoint (not our
code), against ``csms serve`` with TLS: it asks for a certificate (SignCertificate), gets one
signed by the configured CA (CertificateSigned), is raised to security profile 3 and reconnects
with that certificate; a profile-1 charger keeps working on the same deployment."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, RegistrationStatus
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.certificates import TestPki
from tests.conftest import (
    CsmsProcess,
    csms_env,
    free_port,
    sign_in_operator,
    start_csms_process,
    stop_csms_process,
)

KEY = "library-key-0123456789"


class SecureCharger(ChargePoint):  # type: ignore[misc]
    """Keeps the certificate csms signs for it, and accepts a new security profile."""

    def __init__(self, cp_id: str, ws: ClientConnection, private_key: ec.EllipticCurvePrivateKey) -> None:
        super().__init__(cp_id, ws)
        self.private_key = private_key
        self.certificate: x509.Certificate | None = None
        self.got_certificate = asyncio.Event()
        self.new_profile: str | None = None

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str, **_: Any) -> call_result.CertificateSigned:
        leaf = x509.load_pem_x509_certificates(certificate_chain.encode())[0]
        ours = leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        mine = self.private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.certificate = leaf if ours == mine else None
        self.got_certificate.set()
        return call_result.CertificateSigned(status="Accepted" if ours == mine else "Rejected")

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> call_result.ChangeConfiguration:
        if key == "SecurityProfile" and self.certificate is not None:
            self.new_profile = value
            return call_result.ChangeConfiguration(status="Accepted")
        return call_result.ChangeConfiguration(status="Rejected")


@pytest.fixture
async def tls_csms(postgres_uri: str, template_uri: str, tmp_path: Path) -> AsyncIterator[tuple[CsmsProcess, TestPki, int]]:
    from tests.conftest import clone_database

    pki = TestPki(tmp_path)
    cert, key = pki.issue("server", "127.0.0.1", server=True)
    url = await clone_database(postgres_uri)
    http_port, ocpp_port, plain_port = free_port(), free_port(), free_port()
    env = csms_env(
        database_url=url, data_dir=str(tmp_path / "data"), http_port=str(http_port),
        ocpp_port=str(ocpp_port), ocpp_plain_port=str(plain_port), tls_cert=str(cert),
        tls_key=str(key), tls_client_ca=str(pki.ca_path), csr_ca_cert=str(pki.ca_path),
        csr_ca_key=str(pki.ca_key_path()), local_lists="false",
    )
    process = start_csms_process(env, http_port, tmp_path / "csms.log")
    import asyncpg

    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    handle = CsmsProcess(http_url=f"http://127.0.0.1:{http_port}", ocpp_base=f"wss://127.0.0.1:{ocpp_port}/ocpp",
                         pool=pool, process=process, env=env)
    handle.token = await sign_in_operator(pool, handle.http_url)
    yield handle, pki, plain_port
    await pool.close()
    await asyncio.to_thread(stop_csms_process, process)


def basic(cp_id: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{cp_id}:{KEY}".encode()).decode()}


def csr_for(cp_id: str, private_key: ec.EllipticCurvePrivateKey) -> str:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cp_id),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test CPO")]))
        .sign(private_key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


async def profile(csms: CsmsProcess, cp_id: str) -> dict[str, Any]:
    status, body = await csms.request("GET", f"/api/v1/charge-points/{cp_id}/security-profile")
    assert status == 200, body
    return dict(body)


async def test_certificate_then_profile_3_beside_a_profile_1_charger(
    tls_csms: tuple[CsmsProcess, TestPki, int], tmp_path: Path
) -> None:
    csms, pki, plain_port = tls_csms
    cp_id = await csms.register_charge_point(key=KEY)
    assert (await csms.request("PUT", f"/api/v1/charge-points/{cp_id}/security-profile?offline=true",
                               json={"profile": 2}))[0] == 200
    trust = ssl.create_default_context(cafile=str(pki.ca_path))
    private_key = ec.generate_private_key(ec.SECP256R1())
    url = f"{csms.ocpp_url}/{cp_id}"
    async with connect(url, subprotocols=["ocpp1.6"], additional_headers=basic(cp_id), ssl=trust) as ws:  # type: ignore[list-item]
        charger = SecureCharger(cp_id, ws, private_key)
        listener = asyncio.create_task(charger.start())
        try:
            boot = await charger.call(call.BootNotification(charge_point_model="Lib", charge_point_vendor="OCA"))
            assert boot.status == RegistrationStatus.accepted
            signed = await charger.call(call.SignCertificate(csr=csr_for(cp_id, private_key)))
            assert signed.status == "Accepted"
            await asyncio.wait_for(charger.got_certificate.wait(), 10)
            assert charger.certificate is not None
            status, body = await csms.request("PUT", f"/api/v1/charge-points/{cp_id}/security-profile",
                                              json={"profile": 3})
            assert status == 200 and body["pending"] == 3, body
            assert charger.new_profile == "3"
        finally:
            listener.cancel()
    # Reconnect under profile 3: the client certificate it was given, no password.
    assert charger.certificate is not None
    cert_path, key_path = tmp_path / "charger.pem", tmp_path / "charger.key"
    cert_path.write_bytes(charger.certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with_cert = ssl.create_default_context(cafile=str(pki.ca_path))
    with_cert.load_cert_chain(cert_path, key_path)
    async with connect(url, subprotocols=["ocpp1.6"], ssl=with_cert) as ws:  # type: ignore[list-item]
        charger = SecureCharger(cp_id, ws, private_key)
        listener = asyncio.create_task(charger.start())
        try:
            await charger.call(call.Heartbeat())
        finally:
            listener.cancel()
    assert await profile(csms, cp_id) == {"charge_point_id": cp_id, "profile": 3, "pending": None}
    with pytest.raises(InvalidStatus) as refused:  # the password alone is no longer enough
        await connect(url, subprotocols=["ocpp1.6"], additional_headers=basic(cp_id), ssl=trust)  # type: ignore[list-item]
    assert refused.value.response.status_code == 403

    # A profile-1 charger on the same deployment: Basic auth over plain WebSocket.
    other = await csms.register_charge_point(key=KEY)
    async with connect(f"ws://127.0.0.1:{plain_port}/ocpp/{other}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       additional_headers=basic(other)) as ws:
        charger = ChargePoint(other, ws)
        listener = asyncio.create_task(charger.start())
        try:
            boot = await charger.call(call.BootNotification(charge_point_model="Lib", charge_point_vendor="OCA"))
            assert boot.status == RegistrationStatus.accepted
        finally:
            listener.cancel()
