"""Certificates (SEC A02/A03, M03-M05): the charger's CSR and CertificateSigned, its certificate
directory, and InstallCertificate / GetInstalledCertificateIds / DeleteCertificate."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from simulators import SimulatedChargePoint
from simulators.certificates import public_key_der
from simulators.charge_point import Backoff
from simulators.protocol import CallResult
from tests.simulators.fake_csms import FakeCsms
from tests.simulators.helpers import sent
from tests.simulators.pki import Ca, name, pem
from tests.simulators.sim_bench import T0, Bench

FAST = Backoff(0.05, 0.3)
ROOT = "CentralSystemRootCertificate"


def _csr(bench: Bench) -> x509.CertificateSigningRequest:
    answer = bench.ask("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    assert answer == {"status": "Accepted"}
    return x509.load_pem_x509_csr(bench.calls("SignCertificate")[-1]["csr"].encode())


def _attribute(subject: x509.Name, oid: x509.ObjectIdentifier) -> object:
    return subject.get_attributes_for_oid(oid)[0].value


def test_csr_names_the_charger_and_its_cpo_and_the_signed_chain_is_accepted() -> None:
    bench = Bench(config={"CpoName": "ACME Charging"})
    csr = _csr(bench)
    assert csr.is_signature_valid
    assert _attribute(csr.subject, NameOID.COMMON_NAME) == "CP-T"
    assert _attribute(csr.subject, NameOID.ORGANIZATION_NAME) == "ACME Charging"
    ca = Ca(around=T0)
    chain = pem(ca.sign_csr(csr.public_bytes(Encoding.PEM).decode())) + ca.pem
    assert bench.ask("CertificateSigned", {"certificateChain": chain}) == {"status": "Accepted"}
    certs = bench.model.certs
    assert certs.has_client_certificate and certs.client_chain is not None
    assert public_key_der(certs.client_chain[0].public_key()) == public_key_der(csr.public_key())
    assert "client certificate installed: O=ACME Charging,CN=CP-T" in " ".join(bench.texts())


def test_a_chain_for_another_key_or_not_valid_now_is_rejected() -> None:
    bench = Bench()
    csr = _csr(bench)
    ca = Ca(around=T0)
    stranger = ca.issue(name("CP-T"), ec.generate_private_key(ec.SECP256R1()).public_key())
    later = ca.sign_csr(csr.public_bytes(Encoding.PEM).decode(), valid_from=T0 + timedelta(hours=1))
    for chain in (pem(stranger), pem(later), "not a certificate"):
        assert bench.ask("CertificateSigned", {"certificateChain": chain}) == {
            "status": "Rejected"}
    events = bench.calls("SecurityEventNotification")[1:]
    assert [e["type"] for e in events] == ["InvalidChargePointCertificate"] * 3
    assert events[0]["techInfo"] == "its public key is not ours"
    assert events[1]["techInfo"] == "it is not valid now"
    assert not bench.model.certs.has_client_certificate


def test_install_list_and_delete_ca_certificates() -> None:
    bench = Bench(config={"CertificateStoreMaxLength": "1"})
    ca, other = Ca("root one", around=T0), Ca("root two", around=T0)
    ids = {"certificateType": ROOT}
    assert bench.ask("GetInstalledCertificateIds", ids) == {"status": "NotFound"}
    install = {"certificateType": ROOT, "certificate": ca.pem}
    assert bench.ask("InstallCertificate", {**install, "certificate": "junk"}) == {
        "status": "Rejected"}
    assert bench.ask("InstallCertificate", install) == {"status": "Accepted"}
    assert bench.ask("InstallCertificate", {**install, "certificate": other.pem}) == {
        "status": "Failed"}  # CertificateStoreMaxLength
    assert bench.ask("GetInstalledCertificateIds", ids) == {
        "status": "Accepted", "certificateHashData": [ca.hash_data()]}
    assert bench.ask("GetInstalledCertificateIds", {
        "certificateType": "ManufacturerRootCertificate"}) == {"status": "NotFound"}
    unknown = {**ca.hash_data(), "serialNumber": "1234"}
    assert bench.ask("DeleteCertificate", {"certificateHashData": unknown}) == {
        "status": "NotFound"}
    upper = {**ca.hash_data(), "issuerNameHash": ca.hash_data()["issuerNameHash"].upper()}
    assert bench.ask("DeleteCertificate", {"certificateHashData": upper}) == {
        "status": "Accepted"}
    assert bench.ask("GetInstalledCertificateIds", ids) == {"status": "NotFound"}


def test_the_charge_point_certificate_cannot_be_deleted() -> None:
    bench = Bench()
    ca = Ca(around=T0)
    chain = pem(ca.sign_csr(_csr(bench).public_bytes(Encoding.PEM).decode())) + ca.pem
    bench.ask("CertificateSigned", {"certificateChain": chain})
    own = ca.hash_data() | {"serialNumber": format(
        x509.load_pem_x509_certificate(chain.encode()).serial_number, "x")}
    assert bench.ask("DeleteCertificate", {"certificateHashData": own}) == {"status": "Failed"}


async def test_the_certificate_is_kept_in_the_cert_dir_and_loaded_again(tmp_path: Path) -> None:
    directory = tmp_path / "certs"
    async with FakeCsms() as csms:
        async with SimulatedChargePoint(csms.url, "CP-CD", backoff=FAST, strict=True,
                                        cert_dir=directory) as cp:
            await cp.request_certificate()
            event = await cp.wait_for(sent("SignCertificate"))
            ca = Ca()
            assert event.payload is not None
            chain = pem(ca.sign_csr(event.payload["csr"])) + ca.pem
            answer = await csms.call("CP-CD", "CertificateSigned", {"certificateChain": chain})
            assert isinstance(answer, CallResult) and answer.payload == {"status": "Accepted"}
            assert (await csms.call("CP-CD", "InstallCertificate", {
                "certificateType": ROOT, "certificate": ca.pem})).payload == {  # type: ignore[union-attr]
                "status": "Accepted"}
        assert (directory / "charge-point.pem").read_text() == chain
        assert stat.S_IMODE((directory / "charge-point.key").stat().st_mode) == 0o600
        assert len(list(directory.glob(f"{ROOT}-*.pem"))) == 1
        again = SimulatedChargePoint(csms.url, "CP-CD", cert_dir=directory)
        assert again.model.certs.has_client_certificate
        assert again.model.certs.client_chain is not None
        assert pem(again.model.certs.client_chain[0]) + ca.pem == chain
        assert [e.certificate_type for e in again.model.certs.installed] == [ROOT]
