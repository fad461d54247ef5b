"""Certificates for the simulator's security tests, made with ``cryptography``: a CA that signs
the charger's CSRs, CA certificates to install, firmware signing certificates and signatures,
and server certificates for 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class Ca:
    """A throwaway certificate authority."""

    def __init__(self, common_name: str = "sim test CA", *, around: datetime | None = None,
                 days: float = 1) -> None:
        """A CA valid from 5 minutes before ``around`` (default: now) for ``days``."""
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.around = around or datetime.now(UTC)
        start = self.around - timedelta(minutes=5)
        self.certificate = (
            x509.CertificateBuilder().subject_name(name(common_name))
            .issuer_name(name(common_name)).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> str:
        return pem(self.certificate)

    def issue(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, *,
              valid_from: datetime | None = None, days: float = 1, server: bool = False
              ) -> x509.Certificate:
        start = valid_from or self.around - timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.certificate.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=days)))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def sign_csr(self, csr_pem: str, **options: object) -> x509.Certificate:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        key = csr.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return self.issue(csr.subject, key, **options)  # type: ignore[arg-type]

    def hash_data(self) -> dict[str, str]:
        """SEC certificateHashData of this (self-signed) CA certificate, computed here on its
        own: SHA-256 of the DER issuer name and of the uncompressed EC point."""
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"hashAlgorithm": "SHA256",
                "issuerNameHash": hashlib.sha256(self.certificate.issuer.public_bytes()).hexdigest(),
                "issuerKeyHash": hashlib.sha256(point).hexdigest(),
                "serialNumber": format(self.certificate.serial_number, "x")}

    def server_context(self, directory: Path, stem: str, *, client_ca: Ca | None = None
                       ) -> ssl.SSLContext:
        """A server TLS context for 127.0.0.1; with ``client_ca``, client certificates signed
        by it are required (security profile 3)."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self.issue(name("127.0.0.1"), key.public_key(), server=True)
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert_path.write_text(pem(certificate))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        if client_ca is not None:
            context.load_verify_locations(cadata=client_ca.pem)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def write(self, path: Path) -> str:
        path.write_text(self.pem)
        return str(path)


class Signer:
    """A firmware signing certificate issued by ``ca`` and its key (SEC secure firmware update)."""

    def __init__(self, ca: Ca) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = ca.issue(name("firmware signer"), self.key.public_key())

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
