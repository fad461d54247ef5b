"""The OCPP 1.6 security extension's rules with the reads and writes around them ("Improved
security for OCPP 1.6-J"): security events (A04) and chargers' certificates (A02, A03).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import asyncpg
from cryptography import x509

from csms.clock import Clock
from csms.commands import CommandRouter
from csms.domain import certificates
from csms.domain.certificates import CertificateAuthority, CsrRejected, Validity
from csms.errors import ConfigurationError, CsmsError
from csms.store import events, security
from csms.store.errors import is_unavailable
from csms.store.security import SecurityEvent

log = logging.getLogger(__name__)

#: The security events the white paper's table (appendix "Security events") marks critical: a
#: charger must deliver them (queued while offline), and an operator should look at them now.
CRITICAL_EVENT_TYPES = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    }
)


def is_critical(event_type: str) -> bool:
    """Types are compared as written: 1.6 security events are case-sensitive names, and one
    the table does not list (a vendor's own) is not critical."""
    return event_type in CRITICAL_EVENT_TYPES


async def record_security_event(
    pool: asyncpg.Pool, charge_point_id: str, event: SecurityEvent
) -> None:
    """Store a SecurityEventNotification; a critical one is also a warning in the log (the
    live feed shows it to operators once it is stored)."""
    await security.record_security_event(pool, charge_point_id, event)
    if event.critical:
        log.warning(
            "%s: critical security event %s at %s: %s",
            charge_point_id, event.type, event.occurred_at.isoformat(), event.tech_info or "-",
        )
    else:
        log.info("%s: security event %s: %s", charge_point_id, event.type, event.tech_info or "-")


def load_authority(cert_path: Path | None, key_path: Path | None) -> CertificateAuthority | None:
    """The CA of ``CSMS_CSR_CA_CERT``/``CSMS_CSR_CA_KEY``, or None when they are not set."""
    if cert_path is None or key_path is None:
        return None
    try:
        return certificates.load_authority(cert_path.read_bytes(), key_path.read_bytes())
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"CSMS_CSR_CA_CERT / CSMS_CSR_CA_KEY: {error}") from None


class CertificateSigning:
    """Answers SignCertificate.req and delivers the certificate with CertificateSigned.req.

    The answer says only whether the request will be processed (white paper, SignCertificate
    .conf); the certificate follows as a call of ours once the answer has gone out. At most one
    request per charger is in progress: a charger that asks again meanwhile is refused, so a
    loop in its firmware cannot queue unbounded signing work.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        router: CommandRouter,
        clock: Clock,
        authority: CertificateAuthority | None,
        lifetime: timedelta,
        organization: str | None = None,
    ) -> None:
        self._pool = pool
        self._organization = organization
        self._router = router
        self._clock = clock
        self._authority = authority
        self._lifetime = lifetime
        self._in_progress: dict[str, asyncio.Task[None]] = {}

    def request(self, charge_point_id: str, csr_pem: str) -> bool:
        """Whether to accept the charger's request; when True, the certificate is on its way."""
        authority = self._authority
        if authority is None:
            log.warning("%s: SignCertificate rejected: no CA configured", charge_point_id)
            return False
        if charge_point_id in self._in_progress:
            log.warning("%s: SignCertificate rejected: one is in progress", charge_point_id)
            return False
        try:
            csr = certificates.check_csr(csr_pem, charge_point_id, self._organization)
            when = certificates.validity(authority, self._clock(), self._lifetime)
        except CsrRejected as error:
            log.warning("%s: SignCertificate rejected: %s", charge_point_id, error)
            return False
        # A task starts only when the handler's task next waits, and the session writes the
        # CALLRESULT before that: the charger hears "Accepted" before CertificateSigned.
        task = asyncio.create_task(self._deliver(charge_point_id, csr, authority, when))
        self._in_progress[charge_point_id] = task
        task.add_done_callback(lambda _: self._in_progress.pop(charge_point_id, None))
        return True

    async def _deliver(
        self,
        charge_point_id: str,
        csr: x509.CertificateSigningRequest,
        authority: CertificateAuthority,
        when: Validity,
    ) -> None:
        try:
            await self._sign_and_send(charge_point_id, csr, authority, when)
        except Exception:  # Beside the connection: logged, never left unretrieved.
            log.exception("%s: certificate delivery failed", charge_point_id)

    async def _sign_and_send(
        self,
        charge_point_id: str,
        csr: x509.CertificateSigningRequest,
        authority: CertificateAuthority,
        when: Validity,
    ) -> None:
        try:
            # Signing is CPU work (milliseconds for an RSA CA): not on the gateway's loop.
            certificate, chain = await asyncio.to_thread(_sign, csr, authority, when)
            answer = await self._router.call(
                charge_point_id, "CertificateSigned", {"certificateChain": chain}
            )
        except CsmsError as error:  # not connected, no answer, a CALLERROR, an invalid call
            log.warning("%s: CertificateSigned not delivered: %s", charge_point_id, error)
            return
        except CsrRejected as error:
            log.error("%s: certificate not issued: %s", charge_point_id, error)
            return
        serial = format(certificate.serial_number, "x")
        log.info("%s: CertificateSigned (serial %s): %s", charge_point_id, serial, answer["status"])
        await self._note(charge_point_id, {"serialNumber": serial, "status": answer["status"]})

    async def _note(self, charge_point_id: str, outcome: dict[str, str]) -> None:
        """The charger's answer, in its event history for support (A02: a charger that finds
        the certificate invalid answers Rejected and raises InvalidChargePointCertificate)."""
        try:
            await events.record(self._pool, charge_point_id, "CertificateSigned", outcome)
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning("%s: CertificateSigned outcome not stored: %r", charge_point_id, error)

    async def close(self) -> None:
        """Stop the deliveries still in progress (the server is shutting down)."""
        tasks = list(self._in_progress.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _sign(
    csr: x509.CertificateSigningRequest, authority: CertificateAuthority, when: Validity
) -> tuple[x509.Certificate, str]:
    certificate = certificates.issue(csr, authority, when, x509.random_serial_number())
    return certificate, certificates.certificate_chain(certificate, authority)
