"""Chargers' certificates (security extension A02/A03): CSR checks, issuing, the chain, the CA.

Pure code, a fixed clock. The helpers at the top make real keys, CSRs and CAs with
``cryptography``; the gateway's tests use them too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.certificates import (
    CLOCK_SKEW,
    MAX_CERTIFICATE_CHAIN,
    CertificateAuthority,
    CsrRejected,
    Validity,
    certificate_chain,
    check_csr,
    issue,
    load_authority,
    validity,
)

NOW = datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
YEAR = timedelta(days=365)
CP = "CP-42"

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def _name(common_names: list[str], organization: str | None = "Test CPO") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in common_names]
    if organization is not None:  # white paper: the charger puts CpoName in O
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def make_csr(common_names: list[str] | str = CP, key: Key | None = None) -> x509.CertificateSigningRequest:
    names = [common_names] if isinstance(common_names, str) else common_names
    key = key or ec_key()
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return x509.CertificateSigningRequestBuilder().subject_name(_name(names)).sign(key, algorithm)


def csr_pem(common_names: list[str] | str = CP, key: Key | None = None) -> str:
    return make_csr(common_names, key).public_bytes(serialization.Encoding.PEM).decode()


def make_ca_certificate(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    start: datetime = NOW - timedelta(days=1),
    end: datetime = NOW + 10 * YEAR,
    ca: bool | None = True,
) -> x509.Certificate:
    name = _name(["csms test CSR CA"], organization=None)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    return builder.sign(key, hashes.SHA256())


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Key, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def make_authority(**certificate: object) -> CertificateAuthority:
    key = ec_key()
    return load_authority(pem(make_ca_certificate(key, **certificate)), key_pem(key))  # type: ignore[arg-type]


def authority_files(directory: Path, start: datetime, end: datetime) -> tuple[Path, Path, x509.Certificate]:
    """A CA written as CSMS_CSR_CA_CERT / CSMS_CSR_CA_KEY files; returns both paths and the
    CA certificate (to verify what was issued)."""
    key = ec_key()
    certificate = make_ca_certificate(key, start=start, end=end)
    cert_path, key_path = directory / "csr-ca.pem", directory / "csr-ca.key"
    cert_path.write_bytes(pem(certificate))
    key_path.write_bytes(key_pem(key))
    return cert_path, key_path, certificate


# --- check_csr ---------------------------------------------------------------------------


def test_a_csr_for_the_chargers_own_id_is_accepted() -> None:
    key = ec_key()
    csr = check_csr(csr_pem(CP, key), CP)
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CP
    assert csr.public_key() == key.public_key()


@pytest.mark.parametrize(
    "names",
    [["CP-43"], ["cp-42"], [CP + " "], [], [CP, CP], [CP, "CP-43"]],
    ids=["another id", "other case", "trailing space", "no CN", "CN twice", "two CNs"],
)
def test_a_csr_naming_anything_else_is_rejected(names: list[str]) -> None:
    with pytest.raises(CsrRejected, match="commonName"):
        check_csr(csr_pem(names), CP)


def _csr_with_organization(organization: str | None) -> str:
    key = ec_key()
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name([CP], organization))
    return csr.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_the_cpo_name_is_checked_only_when_configured() -> None:
    check_csr(_csr_with_organization("Test CPO"), CP, "Test CPO")
    check_csr(_csr_with_organization(None), CP)  # not configured: O is the charger's business
    for written in (None, "Other CPO", "test cpo"):
        with pytest.raises(CsrRejected, match="organizationName"):
            check_csr(_csr_with_organization(written), CP, "Test CPO")


@settings(max_examples=25, deadline=None)
@given(
    charge_point_id=st.from_regex(r"[A-Za-z0-9._~:-]{1,48}", fullmatch=True),
    common_name=st.from_regex(r"[A-Za-z0-9._~:-]{1,48}", fullmatch=True),
)
def test_only_the_exact_id_is_accepted(charge_point_id: str, common_name: str) -> None:
    pem_text = csr_pem(common_name)
    if common_name == charge_point_id:
        check_csr(pem_text, charge_point_id)
    else:
        with pytest.raises(CsrRejected):
            check_csr(pem_text, charge_point_id)


def _tampered_csr() -> str:
    der = bytearray(make_csr().public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature: the request still parses, its signature fails
    csr = x509.load_der_x509_csr(bytes(der))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_a_csr_whose_signature_does_not_match_its_key_is_rejected() -> None:
    with pytest.raises(CsrRejected, match="signature"):
        check_csr(_tampered_csr(), CP)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a csr",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        csr_pem()[:200],  # cut short
        pem(make_ca_certificate(ec_key())).decode(),  # a certificate, not a request
    ],
    ids=["empty", "text", "bad DER", "truncated", "certificate"],
)
def test_what_is_not_a_pem_request_is_rejected(text: str) -> None:
    with pytest.raises(CsrRejected, match="PKCS#10"):
        check_csr(text, CP)


@pytest.mark.parametrize(
    "key",
    [rsa.generate_private_key(65537, 1024), ec_key(ec.SECP192R1()), ed25519.Ed25519PrivateKey.generate()],
    ids=["RSA 1024", "P-192", "Ed25519"],
)
def test_keys_the_white_paper_does_not_allow_are_rejected(key: Key) -> None:
    with pytest.raises(CsrRejected):
        check_csr(csr_pem(CP, key), CP)


@pytest.mark.parametrize(
    "key",
    [rsa.generate_private_key(65537, 2048), ec_key(ec.SECP256R1()), ec_key(ec.SECP384R1())],
    ids=["RSA 2048", "P-256", "P-384"],
)
def test_keys_it_allows_are_accepted(key: Key) -> None:
    check_csr(csr_pem(CP, key), CP)


# --- validity ----------------------------------------------------------------------------


def test_validity_starts_a_little_early_and_lasts_the_lifetime() -> None:
    when = validity(make_authority(), NOW, YEAR)
    issued = NOW.replace(microsecond=0)
    assert when == Validity(issued - CLOCK_SKEW, issued + YEAR)


def test_validity_never_outlasts_the_ca_nor_precedes_it() -> None:
    start, end = NOW - timedelta(minutes=1), NOW + timedelta(days=30)
    when = validity(make_authority(start=start, end=end), NOW, YEAR)
    assert when == Validity(start.replace(microsecond=0), end.replace(microsecond=0))


@pytest.mark.parametrize(
    ("start", "end"),
    [(NOW - 2 * YEAR, NOW - YEAR), (NOW + timedelta(hours=1), NOW + YEAR)],
    ids=["expired", "not yet valid"],
)
def test_a_ca_that_is_not_valid_now_signs_nothing(start: datetime, end: datetime) -> None:
    with pytest.raises(CsrRejected, match="not valid now"):
        validity(make_authority(start=start, end=end), NOW, YEAR)


# --- issue and certificate_chain ----------------------------------------------------------


@pytest.mark.parametrize(
    "key", [ec_key(), rsa.generate_private_key(65537, 2048)], ids=["EC", "RSA"]
)
def test_the_issued_certificate_is_the_chargers_signed_by_the_ca(key: Key) -> None:
    authority = make_authority()
    csr = check_csr(csr_pem(CP, key), CP)
    when = validity(authority, NOW, YEAR)
    certificate = issue(csr, authority, when, serial_number=4242)
    certificate.verify_directly_issued_by(authority.certificate)
    assert certificate.subject == csr.subject
    assert certificate.public_key() == key.public_key()
    assert certificate.serial_number == 4242
    assert (certificate.not_valid_before_utc, certificate.not_valid_after_utc) == (
        when.not_before,
        when.not_after,
    )
    extensions = certificate.extensions
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    usage = extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment is isinstance(key, rsa.RSAPrivateKey)
    assert not usage.key_cert_sign


def test_extensions_the_csr_asks_for_are_not_copied() -> None:
    key = ec_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name([CP]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_text = csr.public_bytes(serialization.Encoding.PEM).decode()
    authority = make_authority()
    certificate = issue(check_csr(pem_text, CP), authority, validity(authority, NOW, YEAR), 1)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_the_chain_is_the_new_certificate_then_the_cas() -> None:
    authority = make_authority()
    certificate = issue(check_csr(csr_pem(), CP), authority, validity(authority, NOW, YEAR), 7)
    chain = certificate_chain(certificate, authority)
    assert x509.load_pem_x509_certificates(chain.encode()) == [certificate, authority.certificate]


def test_a_chain_longer_than_certificate_signed_carries_is_refused() -> None:
    key = ec_key()
    ca = make_ca_certificate(key)
    authority = load_authority(pem(ca) * 20, key_pem(key))  # ~600 characters each
    certificate = issue(check_csr(csr_pem(), CP), authority, validity(authority, NOW, YEAR), 7)
    with pytest.raises(CsrRejected, match=str(MAX_CERTIFICATE_CHAIN)):
        certificate_chain(certificate, authority)


# --- load_authority ----------------------------------------------------------------------


def test_the_ca_file_may_carry_its_chain() -> None:
    key, root_key = ec_key(), ec_key()
    ca, root = make_ca_certificate(key), make_ca_certificate(root_key)
    authority = load_authority(pem(ca) + pem(root), key_pem(key))
    assert authority.certificate == ca and authority.chain == (ca, root)


def test_an_rsa_ca_signs_too() -> None:
    key = rsa.generate_private_key(65537, 2048)
    authority = load_authority(pem(make_ca_certificate(key)), key_pem(key))
    certificate = issue(check_csr(csr_pem(), CP), authority, validity(authority, NOW, YEAR), 9)
    certificate.verify_directly_issued_by(authority.certificate)


@pytest.mark.parametrize(
    "case", ["no certificate", "garbage key", "encrypted key", "other key", "not a CA", "no constraints", "Ed25519 key"]
)
def test_a_ca_that_cannot_work_is_refused_with_the_reason(case: str) -> None:
    key = ec_key()
    certificate, private = pem(make_ca_certificate(key)), key_pem(key)
    if case == "no certificate":
        certificate = b"nothing here"
    elif case == "garbage key":
        private = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    elif case == "encrypted key":
        private = key_pem(key, b"secret")
    elif case == "other key":
        private = key_pem(ec_key())
    elif case == "not a CA":
        certificate = pem(make_ca_certificate(key, ca=False))
    elif case == "no constraints":
        certificate = pem(make_ca_certificate(key, ca=None))
    else:
        private = key_pem(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(ValueError) as caught:
        load_authority(certificate, private)
    assert "CA" in str(caught.value)
