"""The charger's certificates (SEC certificate management: A02/A03, M03-M05), pure data and crypto.

* Its own key pair and TLS client certificate (security profile 3): a CSR is made with
  :meth:`CertificateStore.new_request` (subject CN = charger id, O = CpoName; SEC A02/A03),
  and the chain the CSMS returns in CertificateSigned is taken by :meth:`accept_chain` only if
  its leaf carries our public key, is valid now, and every certificate is signed by the next.
* Installed CA certificates (InstallCertificate, GetInstalledCertificateIds,
  DeleteCertificate; SEC M): CentralSystemRootCertificate (verifies the CSMS's TLS server) and
  ManufacturerRootCertificate (verifies a SignedUpdateFirmware signing certificate), named by
  their certificateHashData: hashes of the issuer's DER name and public key, and the serial.

Nothing here touches a file: the model asks the asyncio layer to keep copies (``--cert-dir``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import itertools
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

CA_TYPES = ("CentralSystemRootCertificate", "ManufacturerRootCertificate")
HASHES = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}
#: File names in the certificate directory.
CLIENT_CERT_FILE, CLIENT_KEY_FILE = "charge-point.pem", "charge-point.key"


class CertificateError(ValueError):
    """A certificate that cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class InstalledCertificate:
    """A CA certificate installed with InstallCertificate (or found in the certificate dir)."""

    certificate_type: str
    certificate: x509.Certificate

    @property
    def file_name(self) -> str:
        fingerprint = self.certificate.fingerprint(hashes.SHA256()).hex()[:16]
        return f"{self.certificate_type}-{fingerprint}.pem"

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def load_chain(text: str) -> list[x509.Certificate]:
    """The certificates of a PEM chain, leaf first; CertificateError if there are none."""
    try:
        chain = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise CertificateError("not a PEM certificate chain") from None
    if not chain:
        raise CertificateError("no certificate in it")
    return chain


def valid_at(certificate: x509.Certificate, now: datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Is ``certificate`` signed by ``issuer``'s key under ``issuer``'s name?"""
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def public_key_der(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo))


def key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's bytes (what OCSP's issuerKeyHash, and so SEC's
    certificateHashData, hash): read out of the DER SubjectPublicKeyInfo."""
    spki = public_key_der(certificate.public_key())
    body, _ = _der_item(spki, 0)  # SubjectPublicKeyInfo ::= SEQUENCE {
    _, after_algorithm = _der_item(body, 0)  #   algorithm AlgorithmIdentifier,
    bits, _ = _der_item(body, after_algorithm)  #   subjectPublicKey BIT STRING }
    return bits[1:]  # the first byte counts the unused bits (0)


def _der_item(data: bytes, offset: int) -> tuple[bytes, int]:
    """The contents of the DER item at ``offset`` and the offset after it."""
    length, offset = data[offset + 1], offset + 2
    if length & 0x80:
        size = length & 0x7F
        length, offset = int.from_bytes(data[offset:offset + size], "big"), offset + size
    return data[offset:offset + length], offset + length


def hash_data(
    certificate: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256"
) -> dict[str, str]:
    """SEC CertificateHashDataType: issuerNameHash, issuerKeyHash (lower-case hex) and the
    serial number in hex without leading zeroes."""
    digest = HASHES[algorithm]
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": digest(certificate.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": digest(key_bits(issuer)).hexdigest(),
        "serialNumber": format(certificate.serial_number, "x"),
    }


def same_hash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Compare two certificateHashData, case-insensitively, ignoring leading zeroes."""
    def key(data: dict[str, Any]) -> tuple[str, str, str]:
        return (str(data["issuerNameHash"]).lower(), str(data["issuerKeyHash"]).lower(),
                str(data["serialNumber"]).lower().lstrip("0"))

    return key(a) == key(b)


def verify_signature(certificate: x509.Certificate, data: bytes, signature: str) -> bool:
    """Does base64 ``signature`` sign SHA-256 of ``data`` with ``certificate``'s key (ECDSA,
    RSA PKCS#1 v1.5 or Ed25519; SEC "Secure firmware update")?"""
    try:
        raw = base64.b64decode(signature, validate=True)
        key = certificate.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(raw, data)
        else:
            return False
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


class CertificateStore:
    """The charger's key pairs, its client certificate chain and its installed CA certificates."""

    __slots__ = ("client_chain", "client_key", "external_client", "installed", "pending_key",
                 "version")

    def __init__(self) -> None:
        self.installed: list[InstalledCertificate] = []
        self.client_chain: list[x509.Certificate] | None = None
        self.client_key: PrivateKeyTypes | None = None
        self.pending_key: ec.EllipticCurvePrivateKey | None = None  # waiting for its chain
        self.external_client = False  # a client certificate given on the command line
        self.version = 0  # bumped on every change (the TLS layer rebuilds its context)

    @property
    def has_client_certificate(self) -> bool:
        return self.client_chain is not None or self.external_client

    def new_request(self, common_name: str, organisation: str) -> str:
        """A new P-256 key pair and a PEM CSR for it (RFC 2986), CN = the charger id and
        O = CpoName (SEC: SignCertificate.req)."""
        self.pending_key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]
        if organisation:
            names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]))
        csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
               .sign(self.pending_key, hashes.SHA256()))
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def accept_chain(self, text: str, now: datetime) -> x509.Certificate:
        """Take a CertificateSigned chain as our client certificate and return its leaf, or
        raise CertificateError (SEC: Rejected when it does not match our key or is invalid)."""
        chain = load_chain(text)
        leaf = public_key_der(chain[0].public_key())
        keys = [k for k in (self.pending_key, self.client_key) if k is not None]
        key = next((k for k in keys if public_key_der(k.public_key()) == leaf), None)
        if key is None:
            raise CertificateError("its public key is not ours")
        if not all(valid_at(certificate, now) for certificate in chain):
            raise CertificateError("it is not valid now")
        if not all(issued_by(a, b) for a, b in itertools.pairwise(chain)):
            raise CertificateError("the chain is broken (a certificate not signed by the next)")
        self.client_chain, self.client_key = chain, key
        if key is self.pending_key:
            self.pending_key = None
        self.version += 1
        return chain[0]

    def client_pems(self) -> tuple[bytes, bytes] | None:
        """(chain PEM, PKCS#8 key PEM) of the client certificate from CertificateSigned."""
        if self.client_chain is None or self.client_key is None:
            return None
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.client_chain)
        key = self.client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        return chain, key

    def load_client(self, chain_pem: bytes, key_pem: bytes) -> None:
        """Restore a client certificate kept in the certificate directory."""
        self.client_chain = load_chain(chain_pem.decode())
        self.client_key = serialization.load_pem_private_key(key_pem, password=None)
        self.version += 1

    def install(self, certificate_type: str, text: str, now: datetime, limit: int
                ) -> tuple[str, InstalledCertificate | None]:
        """InstallCertificate (SEC M05): (Accepted, the entry), Rejected (not a valid CA
        certificate now) or Failed (the store holds ``limit`` certificates already)."""
        try:
            certificate = x509.load_pem_x509_certificate(text.encode())
        except ValueError:
            return "Rejected", None
        if not valid_at(certificate, now) or not _is_ca(certificate):
            return "Rejected", None
        entry = InstalledCertificate(certificate_type, certificate)
        if entry in self.installed:
            return "Accepted", entry
        if len(self.installed) >= limit:
            return "Failed", None
        self.installed.append(entry)
        self.version += 1
        return "Accepted", entry

    def of_type(self, certificate_type: str) -> list[InstalledCertificate]:
        return [e for e in self.installed if e.certificate_type == certificate_type]

    def hash_of(self, entry: InstalledCertificate, algorithm: str = "SHA256") -> dict[str, str]:
        """``entry``'s certificateHashData. The issuer is the certificate itself for a root; for
        another CA, an installed certificate that signed it, else (no issuer known) itself."""
        certificate = entry.certificate
        issuer = next((e.certificate for e in self.installed
                       if e.certificate.subject == certificate.issuer
                       and issued_by(certificate, e.certificate)), certificate)
        return hash_data(certificate, issuer, algorithm)

    def find(self, wanted: dict[str, Any]) -> InstalledCertificate | None:
        algorithm = str(wanted.get("hashAlgorithm", "SHA256"))
        for entry in self.installed:
            if same_hash(self.hash_of(entry, algorithm), wanted):
                return entry
        return None

    def is_client_certificate(self, wanted: dict[str, Any]) -> bool:
        """Does ``wanted`` name our own client certificate (which DeleteCertificate may not
        remove: it is replaced by CertificateSigned only)?"""
        if not self.client_chain:
            return False
        chain = self.client_chain
        issuer = chain[1] if len(chain) > 1 else chain[0]
        algorithm = str(wanted.get("hashAlgorithm", "SHA256"))
        return same_hash(hash_data(chain[0], issuer, algorithm), wanted)

    def remove(self, entry: InstalledCertificate) -> None:
        self.installed.remove(entry)
        self.version += 1

    def trusted_pem(self, certificate_type: str) -> str:
        """The installed certificates of a type as one PEM text (for a TLS trust store)."""
        return "".join(e.pem.decode() for e in self.of_type(certificate_type))

    def check_signing_certificate(self, text: str, now: datetime) -> x509.Certificate:
        """The SignedUpdateFirmware signing certificate if valid now and issued by an installed
        ManufacturerRootCertificate (SEC: else InvalidCertificate); else CertificateError."""
        certificate = load_chain(text)[0]
        if not valid_at(certificate, now):
            raise CertificateError("the signing certificate is not valid now")
        roots = [e.certificate for e in self.of_type("ManufacturerRootCertificate")]
        if not any(root == certificate or issued_by(certificate, root) for root in roots):
            raise CertificateError("no installed ManufacturerRootCertificate issued it")
        return certificate


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return True  # old roots carry no extensions at all
    return bool(constraints.value.ca)


def describe(certificate: x509.Certificate) -> str:
    """One line for people: ``O=ACME,CN=CP-1 (until 2027-01-01T00:00:00Z)``."""
    until = f"{certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%S}Z"
    return f"{certificate.subject.rfc4514_string()} (until {until})"
