"""Charger certificates of the OCPP 1.6 security extension, pure: no I/O, the clock passed in.

A charger asks for a new client certificate with ``SignCertificate.req``: a PEM-encoded PKCS#10
certificate signing request (RFC 2986) whose private key never leaves the charger ("Improved
security for OCPP 1.6-J", use cases A02 and A03). The central system answers whether it will
process the request and later delivers the certificate with ``CertificateSigned.req``.

What is checked before a CSR is accepted (:func:`check_csr`):

- it parses as one PEM PKCS#10 request and its self-signature is valid (the charger holds the
  private key of the public key it asks us to certify);
- its subject has exactly one commonName, and that is the charger's identity — the white
  paper's certificate properties put the Charge Point's identity in the CN, and the CSMS
  must not certify one charger under another's name;
- when csms is configured with the operator's name (``CSMS_CSR_ORGANIZATION``), its subject has
  exactly that organizationName: the white paper's certificate properties put the CPO's name in
  O, and the charger takes it from its ``CpoName`` configuration key;
- its key is one a 1.6 TLS connection can use, of a size the white paper allows (RSA of at
  least 2048 bits, elliptic curves of at least 224 bits).

What is certified (:func:`issue`): the subject as the charger wrote it, its public key, a TLS
client certificate (profile 3) — not a CA; extensions the CSR asks for are not copied, the CA
decides what it vouches for.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: White paper, CertificateSigned.req: certificateChain is string[0..10000].
MAX_CERTIFICATE_CHAIN = 10_000
#: White paper, certificate properties: minimum key sizes.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
#: A certificate is valid from a little before it is issued: chargers' clocks drift, and a
#: charger discards a certificate that it finds not yet valid (A02: it checks the validity).
CLOCK_SKEW = timedelta(minutes=5)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class CsrRejected(ValueError):
    """The request cannot be signed; the message says why (logged, never sent to the charger:
    SignCertificate.conf has a status only)."""


@dataclasses.dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """The CA csms signs chargers' certificates with."""

    certificate: x509.Certificate
    key: PrivateKey
    #: Sent after the new certificate in certificateChain: the CA itself first, then whatever
    #: further certificates its file holds (sub-CAs up to the root a charger trusts).
    chain: tuple[x509.Certificate, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Validity:
    not_before: datetime
    not_after: datetime


def load_authority(certificate_pem: bytes, key_pem: bytes) -> CertificateAuthority:
    """The CA from its PEM certificate(s) and unencrypted PEM private key.

    Raises :class:`ValueError` naming what is wrong: an operator reads it at start-up.
    """
    try:
        chain = tuple(x509.load_pem_x509_certificates(certificate_pem))
    except ValueError:
        raise ValueError("the CA certificate file holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(f"the CA key is not an unencrypted PEM private key: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key must be RSA or elliptic-curve (what 1.6 chargers verify)")
    certificate = chain[0]
    if _public_der(key.public_key()) != _public_der(certificate.public_key()):
        raise ValueError("the CA key does not belong to the first certificate of its file")
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.value.ca:
        raise ValueError("the CA certificate is not a CA (basicConstraints CA:TRUE)")
    return CertificateAuthority(certificate, key, chain)


def _public_der(key: object) -> bytes:
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_csr(
    pem: str, charge_point_id: str, organization: str | None = None
) -> x509.CertificateSigningRequest:
    """The charger's request, if it may be signed for ``charge_point_id`` (and, when given, the
    CPO ``organization``); else :class:`CsrRejected`."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
        valid = csr.is_signature_valid
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        organizations = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as error:
        raise CsrRejected(f"not a PEM PKCS#10 request: {error}") from None
    if not valid:
        raise CsrRejected("the request's signature does not match its key")
    common_names = [name.value for name in names]
    if common_names != [charge_point_id]:
        raise CsrRejected(f"the subject's commonName is {common_names!r}, not the charger's id")
    written = [name.value for name in organizations]
    if organization is not None and written != [organization]:
        raise CsrRejected(f"the subject's organizationName is {written!r}, not {organization!r}")
    _check_key(key)
    return csr


def _check_key(key: object) -> None:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrRejected(f"an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS}")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < MIN_EC_BITS:
            raise CsrRejected(f"a {key.curve.name} key; curves of at least {MIN_EC_BITS} bits")
    else:
        raise CsrRejected(f"a {type(key).__name__}; RSA or elliptic-curve keys only")


def validity(authority: CertificateAuthority, now: datetime, lifetime: timedelta) -> Validity:
    """When a certificate issued at ``now`` is valid: ``lifetime`` long, never beyond the CA's
    own end (a chain is valid only while each certificate in it is)."""
    issued = now.replace(microsecond=0)  # X.509 times are whole seconds.
    ca_start = authority.certificate.not_valid_before_utc
    ca_end = authority.certificate.not_valid_after_utc
    if not ca_start <= now < ca_end:
        raise CsrRejected("the CA certificate is not valid now")
    return Validity(max(issued - CLOCK_SKEW, ca_start), min(issued + lifetime, ca_end))


def issue(
    csr: x509.CertificateSigningRequest,
    authority: CertificateAuthority,
    when: Validity,
    serial_number: int,
) -> x509.Certificate:
    """The charger's client certificate, signed by ``authority``.

    ``serial_number`` comes from the caller (RFC 5280: positive, unique per CA, at most 20
    bytes; :func:`cryptography.x509.random_serial_number` gives one), so this stays pure.
    """
    key = csr.public_key()
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)  # check_csr said so
    ca_public = authority.key.public_key()
    rsa_key = isinstance(key, rsa.RSAPublicKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(authority.certificate.subject)
        .public_key(key)
        .serial_number(serial_number)
        .not_valid_before(when.not_before)
        .not_valid_after(when.not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(rsa_key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
        )
    )
    return builder.sign(authority.key, hashes.SHA256())


def _key_usage(rsa_key: bool) -> x509.KeyUsage:
    # TLS client authentication signs the handshake; RSA key exchange also encrypts with it.
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def certificate_chain(certificate: x509.Certificate, authority: CertificateAuthority) -> str:
    """certificateChain of CertificateSigned.req: the new certificate first, then its CA chain,
    PEM (white paper: "the signed PEM encoded X.509 certificates", sub-CAs included)."""
    pems = [c.public_bytes(serialization.Encoding.PEM) for c in (certificate, *authority.chain)]
    chain = b"".join(pems).decode()
    if len(chain) > MAX_CERTIFICATE_CHAIN:
        raise CsrRejected(
            f"the certificate chain is {len(chain)} characters; CertificateSigned carries "
            f"{MAX_CERTIFICATE_CHAIN} at most (fewer certificates in the CA file)"
        )
    return chain
