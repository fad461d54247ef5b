"""Firmware updates: UpdateFirmware (S 5.19, 4.5) and SignedUpdateFirmware (SEC use case L01).

A job waits for its retrieve date, then asks the asyncio layer to download the file
(:class:`~simulators.effects.Download`) and reports every step:

* UpdateFirmware → FirmwareStatusNotification Downloading, Downloaded, Installing; the charger
  reboots and, booted again with the new ``firmwareVersion`` (the file's name unless a version
  is configured), reports Installed (OCTT TC_044: Installed follows the new BootNotification;
  the installed-before-reboot quirk sends it first). A download that fails is retried
  ``retries`` times in all, ``retryInterval`` seconds apart (S 6, UpdateFirmware.req), then
  DownloadFailed; an empty file cannot be installed: InstallationFailed.
* SignedUpdateFirmware → its signing certificate must be valid and issued by an installed
  ManufacturerRootCertificate (else the answer is InvalidCertificate and the security event
  InvalidFirmwareSigningCertificate); SignedFirmwareStatusNotification (with the requestId)
  DownloadScheduled, Downloading, Downloaded, then the signature (base64, SHA-256 of the whole
  file with the signing key) is checked: SignatureVerified, or InvalidSignature and the security
  event InvalidFirmwareSignature. Then InstallScheduled (until installDateTime), Installing,
  InstallRebooting, the reboot, Installed and the security event FirmwareUpdated. A new request
  cancels the one in progress (AcceptedCanceled).

Installation waits until no transaction runs. Sans-I/O: times come in as ``now``.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509

from simulators.calls import OutgoingCall, Quirk
from simulators.certificates import CertificateError, verify_signature
from simulators.effects import Download
from simulators.events import EventKind
from simulators.protocol import Payload, format_clock, parse_time

if TYPE_CHECKING:
    from simulators.core import ChargerCore

#: How long installing takes before the charger reboots.
INSTALL_SECONDS = 1.0
#: While a transaction runs, check this often whether installing may begin.
TRANSACTION_POLL_SECONDS = 5.0
#: retryInterval when the CSMS gives none.
DEFAULT_RETRY_INTERVAL = 30
#: FirmwareStatus values of plain 1.6 (S 7.25); the signed ones are a superset (SEC).
PLAIN_STATUSES = frozenset({"Downloaded", "DownloadFailed", "Downloading", "Idle",
                            "InstallationFailed", "Installing", "Installed"})


@dataclasses.dataclass(slots=True, eq=False)
class FirmwareJob:
    """One firmware update in progress."""

    job_id: int
    location: str
    attempts_allowed: int
    retry_interval: int
    version: str
    next_at: datetime | None
    request_id: int | None = None  # SignedUpdateFirmware only
    signing: x509.Certificate | None = None
    signature: str = ""
    install_at: datetime | None = None
    stage: str = "scheduled"  # scheduled, downloading, retry, install-wait, installing, rebooting
    status: str = "Idle"
    attempts: int = 0
    data: bytes | None = None

    @property
    def signed(self) -> bool:
        return self.request_id is not None


def attempts_from(retries: object) -> int:
    """S 6 (UpdateFirmware.req, GetDiagnostics.req) ``retries``: "how many times Charge Point
    must try … before giving up" — tries in all; 1 when absent or 0."""
    return retries if isinstance(retries, int) and retries > 0 else 1


def file_name_of(location: str) -> str:
    """The last path segment of a URL: what a charger reports as its new firmware version."""
    path = urllib.parse.urlsplit(location).path
    return urllib.parse.unquote(path.rsplit("/", 1)[-1]) or location


class FirmwareUpdates:
    """The firmware update of one charger (at most one at a time)."""

    __slots__ = ("_ids", "host", "job", "new_version")

    def __init__(self, host: ChargerCore, new_version: str | None = None) -> None:
        self.host, self.new_version = host, new_version
        self.job: FirmwareJob | None = None
        self._ids = 0

    def _new_job(self, location: str, retrieve: datetime, payload: Payload) -> FirmwareJob:
        self._ids += 1
        interval = payload.get("retryInterval")
        version = (self.new_version or file_name_of(location))[:50]
        return FirmwareJob(self._ids, location, attempts_from(payload.get("retries")),
                           interval if isinstance(interval, int) and interval >= 0
                           else DEFAULT_RETRY_INTERVAL, version, retrieve)

    def update(self, payload: Payload, now: datetime) -> None:
        """UpdateFirmware (S 5.19); raises ValueError for a bad retrieveDate."""
        retrieve = parse_time(payload["retrieveDate"])
        if self.job is not None and self.job.stage == "rebooting":  # too late to change it
            self.host.emit(EventKind.REFUSED, "UpdateFirmware ignored: an installed update is "
                           "rebooting")
            return
        self._cancel("replaced by a new UpdateFirmware")
        self.job = self._new_job(payload["location"], retrieve, payload)
        self.host.emit(EventKind.FILE, f"firmware update from {payload['location']} at "
                       f"{format_clock(retrieve)}", status="scheduled")
        self.tick(now)

    def signed_update(self, payload: Payload, now: datetime) -> str:
        """SignedUpdateFirmware (SEC L01): Accepted / AcceptedCanceled / InvalidCertificate /
        Rejected (an installed update is rebooting); raises ValueError for a bad date."""
        firmware: dict[str, Any] = payload["firmware"]
        retrieve = parse_time(firmware["retrieveDateTime"])
        install = firmware.get("installDateTime")
        install_at = parse_time(install) if install is not None else None
        if self.job is not None and self.job.stage == "rebooting":
            return "Rejected"
        try:
            signing = self.host.certs.check_signing_certificate(
                firmware["signingCertificate"], now)
        except CertificateError as exc:
            self.host.emit(EventKind.REFUSED, f"firmware update {payload['requestId']}: {exc}")
            self.host.security.report("InvalidFirmwareSigningCertificate", now, str(exc))
            return "InvalidCertificate"
        status = "AcceptedCanceled" if self.job is not None else "Accepted"
        self._cancel("cancelled by a new SignedUpdateFirmware")
        job = self._new_job(firmware["location"], retrieve, payload)
        job.request_id, job.signing = payload["requestId"], signing
        job.signature, job.install_at = firmware["signature"], install_at
        self.job = job
        if retrieve > now:
            self._status(job, "DownloadScheduled", now)
        self.tick(now)
        return status

    def _cancel(self, why: str) -> None:
        if self.job is not None:
            self.host.emit(EventKind.FILE, f"firmware update from {self.job.location} {why}",
                           status="cancelled")
            self.job = None

    # ---- time and results ----------------------------------------------------------------

    def deadline(self) -> datetime | None:
        return self.job.next_at if self.job is not None else None

    def tick(self, now: datetime) -> None:
        """Start what is due: a download (or its retry), an installation, the reboot."""
        job = self.job
        if job is None or job.next_at is None or job.next_at > now:
            return
        job.next_at = None
        if job.stage in ("scheduled", "retry"):
            job.attempts += 1
            job.stage = "downloading"
            if job.attempts == 1:
                self._status(job, "Downloading", now)
            self.host.effects.append(Download(job.job_id, job.location))
        elif job.stage == "install-wait":
            self._install(job, now)
        elif job.stage == "installing":
            self._reboot_into(job, now)

    def download_finished(
        self, job_id: int, data: bytes | None, error: str | None, now: datetime
    ) -> None:
        """The asyncio layer's report on a :class:`Download`: the file, or an error."""
        job = self.job
        if job is None or job.job_id != job_id or job.stage != "downloading":
            return  # cancelled or lost with a reboot meanwhile
        if data is None:
            if job.attempts < job.attempts_allowed:
                job.stage, job.next_at = "retry", now + timedelta(seconds=job.retry_interval)
                self.host.emit(EventKind.FILE, f"firmware download attempt {job.attempts} "
                               f"failed ({error}); retrying in {job.retry_interval} s",
                               status="retry")
                return
            self._finish(job, "DownloadFailed", now, error)
            return
        job.data = data
        self._status(job, "Downloaded", now, f"{len(data)} bytes")
        if job.signing is not None and not verify_signature(job.signing, data, job.signature):
            self.host.security.report("InvalidFirmwareSignature", now,
                                      f"firmware from {job.location}")
            self._finish(job, "InvalidSignature", now)
            return
        if job.signed:
            self._status(job, "SignatureVerified", now)
        if job.install_at is not None and job.install_at > now:
            job.stage, job.next_at = "install-wait", job.install_at
            if job.signed:
                self._status(job, "InstallScheduled", now)
            return
        self._install(job, now)

    def _install(self, job: FirmwareJob, now: datetime) -> None:
        if any(c.transaction is not None for c in self.host.connectors[1:]):
            job.stage = "install-wait"  # not while someone charges
            job.next_at = now + timedelta(seconds=TRANSACTION_POLL_SECONDS)
            return
        if not job.data:
            self._finish(job, "InstallationFailed", now, "the file is empty")
            return
        self._status(job, "Installing", now)
        job.stage, job.next_at = "installing", now + timedelta(seconds=INSTALL_SECONDS)

    def _reboot_into(self, job: FirmwareJob, now: datetime) -> None:
        """Installed: reboot with the new version (the session waits for the statuses)."""
        self.host.firmware_version = job.version
        if job.signed:
            self._status(job, "InstallRebooting", now)
        if self.host.has_quirk(Quirk.INSTALLED_BEFORE_REBOOT):
            self._status(job, "Installed", now)
        job.stage = "rebooting"
        self.host.emit(EventKind.INFO, f"firmware {job.version} installed: rebooting")
        self.host.reboot_pending = "Firmware"

    def on_reboot(self, cause: str | None) -> None:
        """A reboot: the update survives only the reboot it asked for."""
        job = self.job
        if job is not None and not (cause == "Firmware" and job.stage == "rebooting"):
            self._cancel("lost with the reboot")

    def on_booted(self, now: datetime) -> None:
        """Booted after installing: Installed (unless the quirk sent it before the reboot)."""
        job = self.job
        if job is None or job.stage != "rebooting":
            return
        if not self.host.has_quirk(Quirk.INSTALLED_BEFORE_REBOOT):
            self._status(job, "Installed", now, f"firmware {job.version}")
        self.job = None

    def _finish(self, job: FirmwareJob, status: str, now: datetime, why: str | None = None
                ) -> None:
        self._status(job, status, now, why)
        self.job = None

    # ---- notifications -------------------------------------------------------------------

    def _status(self, job: FirmwareJob, status: str, now: datetime, detail: str | None = None
                ) -> None:
        job.status = status
        action, payload = self.notification(job)
        self.host.queue(OutgoingCall(action, payload, keep=True))
        self.host.emit(EventKind.FILE, f"firmware {status}" + (f" ({detail})" if detail else ""),
                       status=status)

    def notification(self, job: FirmwareJob | None, *, signed: bool | None = None
                     ) -> tuple[str, Payload]:
        """The (Signed)FirmwareStatusNotification for ``job`` (None: Idle), e.g. for a
        TriggerMessage (``signed`` False) or an ExtendedTriggerMessage (True)."""
        use_signed = job.signed if signed is None and job is not None else bool(signed)
        status = job.status if job is not None else "Idle"
        if not use_signed:
            return "FirmwareStatusNotification", {
                "status": status if status in PLAIN_STATUSES else "Idle"}
        payload: Payload = {"status": status}
        if job is not None and job.request_id is not None:
            payload["requestId"] = job.request_id
        return "SignedFirmwareStatusNotification", payload
