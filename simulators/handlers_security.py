"""The charger's answers to the security extension's certificate CALLs (SEC A02/A03, M03-M05).

CertificateSigned (SEC A02/A03), InstallCertificate (M05), GetInstalledCertificateIds (M03) and
DeleteCertificate (M04); the certificate logic itself is :mod:`simulators.certificates`. Copies
go to the certificate directory through :class:`~simulators.effects.SaveFile` effects.
"""

from __future__ import annotations

from datetime import datetime

from simulators.calls import Answer
from simulators.certificates import (
    CLIENT_CERT_FILE,
    CLIENT_KEY_FILE,
    CertificateError,
    describe,
)
from simulators.effects import DeleteFile, SaveFile
from simulators.events import EventKind
from simulators.model import ChargePointModel
from simulators.protocol import Payload


def _status(status: str) -> Answer:
    return Answer(payload={"status": status})


def certificate_signed(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """SEC A02/A03: Accepted when the chain's leaf carries the key of our CSR (or our current
    key), is valid now and the chain holds together; else Rejected and the security event
    InvalidChargePointCertificate. The new certificate is used from the next connection on."""
    chain = payload["certificateChain"]
    limit = model.config.get_int("CertificateSignedMaxChainSize")
    try:
        if len(chain) > limit:
            raise CertificateError(f"longer than CertificateSignedMaxChainSize ({limit})")
        leaf = model.certs.accept_chain(chain, now)
    except CertificateError as exc:
        model.emit(EventKind.CERTIFICATE, f"certificate refused: {exc}", status="rejected")
        model.security.report("InvalidChargePointCertificate", now, str(exc))
        return _status("Rejected")
    model.emit(EventKind.CERTIFICATE, f"client certificate installed: {describe(leaf)}",
               status="installed")
    pems = model.certs.client_pems()
    if pems is not None:
        model.effects += [SaveFile(CLIENT_CERT_FILE, pems[0]), SaveFile(CLIENT_KEY_FILE, pems[1])]
    return _status("Accepted")


def install_certificate(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """SEC M05: Accepted; Rejected (not a CA certificate valid now); Failed (store full,
    CertificateStoreMaxLength)."""
    kind, text = payload["certificateType"], payload["certificate"]
    status, entry = model.certs.install(kind, text, now, model.config.get_int(
        "CertificateStoreMaxLength"))
    if entry is not None:
        model.effects.append(SaveFile(entry.file_name, entry.pem))
        model.emit(EventKind.CERTIFICATE, f"{kind} installed: {describe(entry.certificate)}",
                   status="installed")
    else:
        model.emit(EventKind.CERTIFICATE, f"{kind} not installed ({status})", status=status)
    return _status(status)


def get_installed_certificate_ids(
    model: ChargePointModel, payload: Payload, now: datetime
) -> Answer:
    """SEC M03: the certificateHashData of every installed certificate of the type, or
    NotFound when there is none."""
    entries = model.certs.of_type(payload["certificateType"])
    if not entries:
        return _status("NotFound")
    return Answer(payload={"status": "Accepted",
                           "certificateHashData": [model.certs.hash_of(e) for e in entries]})


def delete_certificate(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """SEC M04: Accepted, NotFound, or Failed for the charger's own client certificate (which
    only CertificateSigned replaces)."""
    wanted = payload["certificateHashData"]
    if model.certs.is_client_certificate(wanted):
        model.emit(EventKind.CERTIFICATE, "refused to delete the charge point certificate",
                   status="Failed")
        return _status("Failed")
    entry = model.certs.find(wanted)
    if entry is None:
        return _status("NotFound")
    model.certs.remove(entry)
    model.effects.append(DeleteFile(entry.file_name))
    model.emit(EventKind.CERTIFICATE, f"{entry.certificate_type} deleted: "
               f"{describe(entry.certificate)}", status="deleted")
    return _status("Accepted")


HANDLERS = {
    "CertificateSigned": certificate_signed,
    "InstallCertificate": install_certificate,
    "GetInstalledCertificateIds": get_installed_certificate_ids,
    "DeleteCertificate": delete_certificate,
}
