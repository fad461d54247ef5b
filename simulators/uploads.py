"""Diagnostics and log uploads: GetDiagnostics (S 5.9, 4.4) and GetLog (SEC use case N01).

The charger answers with the file's name, writes a small text file from its own state (the
charger, its connectors, its security log) and asks the asyncio layer to upload it
(:class:`~simulators.effects.Upload`: an HTTP PUT of ``location/fileName``; a multipart POST to
``location`` under the multipart-upload quirk), reporting DiagnosticsStatusNotification
Uploading → Uploaded / UploadFailed, or LogStatusNotification (with the requestId) Uploading →
Uploaded / UploadFailure. A failed upload is retried ``retries`` times in all, ``retryInterval``
seconds apart. A new GetLog cancels the log upload in progress (AcceptedCanceled). The files
made are kept in :attr:`Uploads.files` (the last few), so tests can compare them byte for byte.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from simulators.calls import OutgoingCall, Quirk
from simulators.effects import Upload
from simulators.events import EventKind
from simulators.firmware import DEFAULT_RETRY_INTERVAL, attempts_from
from simulators.protocol import Payload, format_time, parse_time

if TYPE_CHECKING:
    from simulators.core import ChargerCore

#: How many generated files :attr:`Uploads.files` keeps.
FILES_KEPT = 8
DIAGNOSTICS, LOG = "diagnostics", "log"


@dataclasses.dataclass(slots=True, eq=False)
class UploadJob:
    job_id: int
    kind: str  # DIAGNOSTICS or LOG
    location: str
    file_name: str
    data: bytes
    attempts_allowed: int
    retry_interval: int
    request_id: int | None = None
    attempts: int = 0
    next_at: datetime | None = None
    status: str = "Idle"


class Uploads:
    """The diagnostics upload and the log upload of one charger (one of each at a time)."""

    __slots__ = ("_ids", "files", "host", "jobs")

    def __init__(self, host: ChargerCore) -> None:
        self.host = host
        self.jobs: dict[str, UploadJob] = {}
        self.files: dict[str, bytes] = {}
        self._ids = 0

    def diagnostics(self, payload: Payload, now: datetime) -> str:
        """GetDiagnostics (S 5.9): start the upload, return the fileName; ValueError for a bad
        startTime/stopTime."""
        start, stop = _time(payload.get("startTime")), _time(payload.get("stopTime"))
        name = f"{_safe(self.host.cp_id)}-diagnostics-{now:%Y%m%dT%H%M%SZ}.txt"
        self._start(DIAGNOSTICS, payload, payload["location"], name,
                    self.diagnostics_file(start, stop, now), now)
        return name

    def log(self, payload: Payload, now: datetime) -> tuple[str, str]:
        """GetLog (SEC): (status, filename); a log upload in progress is cancelled."""
        params = payload["log"]
        start, stop = _time(params.get("oldestTimestamp")), _time(params.get("latestTimestamp"))
        security = payload["logType"] == "SecurityLog"
        name = (f"{_safe(self.host.cp_id)}-{'security' if security else 'diagnostics'}"
                f"-log-{now:%Y%m%dT%H%M%SZ}.txt")
        data = (self.security_file(start, stop, now) if security
                else self.diagnostics_file(start, stop, now))
        status = "AcceptedCanceled" if LOG in self.jobs else "Accepted"
        if LOG in self.jobs:
            self.host.emit(EventKind.FILE, f"log upload {self.jobs[LOG].request_id} cancelled",
                           status="cancelled")
        self._start(LOG, payload, params["remoteLocation"], name, data, now)
        return status, name

    def _start(self, kind: str, payload: Payload, location: str, name: str, data: bytes,
               now: datetime) -> None:
        self._ids += 1
        interval = payload.get("retryInterval")
        job = UploadJob(self._ids, kind, location, name, data,
                        attempts_from(payload.get("retries")),
                        interval if isinstance(interval, int) and interval >= 0
                        else DEFAULT_RETRY_INTERVAL, payload.get("requestId"))
        self.jobs[kind] = job
        self.files[name] = data
        while len(self.files) > FILES_KEPT:
            del self.files[next(iter(self.files))]
        self._attempt(job, now)

    def _attempt(self, job: UploadJob, now: datetime) -> None:
        job.attempts += 1
        job.next_at = None
        if job.attempts == 1:
            self._status(job, "Uploading", now)
        self.host.effects.append(Upload(job.job_id, job.location, job.file_name, job.data,
                                        self.host.has_quirk(Quirk.MULTIPART_UPLOAD)))

    # ---- time and results ----------------------------------------------------------------

    def deadline(self) -> datetime | None:
        due = [job.next_at for job in self.jobs.values() if job.next_at is not None]
        return min(due) if due else None

    def tick(self, now: datetime) -> None:
        for job in list(self.jobs.values()):
            if job.next_at is not None and job.next_at <= now:
                self._attempt(job, now)

    def upload_finished(self, job_id: int, error: str | None, now: datetime) -> None:
        """The asyncio layer's report on an :class:`Upload` (``error`` None: it worked)."""
        job = next((j for j in self.jobs.values() if j.job_id == job_id), None)
        if job is None:
            return  # cancelled or lost with a reboot meanwhile
        if error is None:
            self._finish(job, "Uploaded", now, f"{job.file_name}, {len(job.data)} bytes")
        elif job.attempts < job.attempts_allowed:
            job.next_at = now + timedelta(seconds=job.retry_interval)
            self.host.emit(EventKind.FILE, f"{job.kind} upload attempt {job.attempts} failed "
                           f"({error}); retrying in {job.retry_interval} s", status="retry")
        else:
            failed = "UploadFailed" if job.kind == DIAGNOSTICS else "UploadFailure"
            self._finish(job, failed, now, error)

    def on_reboot(self) -> None:
        for job in self.jobs.values():
            self.host.emit(EventKind.FILE, f"{job.kind} upload lost with the reboot",
                           status="cancelled")
        self.jobs.clear()

    def _finish(self, job: UploadJob, status: str, now: datetime, detail: str) -> None:
        self._status(job, status, now, detail)
        del self.jobs[job.kind]

    # ---- notifications -------------------------------------------------------------------

    def _status(self, job: UploadJob, status: str, now: datetime, detail: str | None = None
                ) -> None:
        job.status = status
        action, payload = self.notification(job.kind)
        self.host.queue(OutgoingCall(action, payload, keep=True))
        self.host.emit(EventKind.FILE, f"{job.kind} {status}" + (f" ({detail})" if detail else ""),
                       status=status)

    def notification(self, kind: str) -> tuple[str, Payload]:
        """The current DiagnosticsStatusNotification or LogStatusNotification (Idle when no
        upload runs), also for (Extended)TriggerMessage."""
        job = self.jobs.get(kind)
        status = job.status if job is not None else "Idle"
        if kind == DIAGNOSTICS:
            return "DiagnosticsStatusNotification", {"status": status}
        payload: Payload = {"status": status}
        if job is not None and job.request_id is not None:
            payload["requestId"] = job.request_id
        return "LogStatusNotification", payload

    # ---- the files -----------------------------------------------------------------------

    def diagnostics_file(self, start: datetime | None, stop: datetime | None, now: datetime
                         ) -> bytes:
        """A small, readable diagnostics file: the charger, its connectors, its security log."""
        host = self.host
        lines = [f"csms-sim diagnostics of {host.cp_id}",
                 f"vendor {host.vendor}, model {host.model_name}, "
                 f"firmware {host.firmware_version}",
                 f"made {format_time(now)}, covering {_when(start)} .. {_when(stop)}",
                 f"security profile {host.config.get('SecurityProfile')}, "
                 f"boot {host.registration or 'none'}, {'online' if host.online else 'offline'}"]
        lines += [host.status_text(connector) for connector in host.connectors]
        lines += ["security log:", *host.security.log_lines(start, stop)]
        return ("\n".join(lines) + "\n").encode()

    def security_file(self, start: datetime | None, stop: datetime | None, now: datetime
                      ) -> bytes:
        """The security log between ``start`` and ``stop`` (GetLog logType SecurityLog)."""
        head = [f"csms-sim security log of {self.host.cp_id}, made {format_time(now)}"]
        return ("\n".join(head + self.host.security.log_lines(start, stop)) + "\n").encode()


def _time(value: object) -> datetime | None:
    return parse_time(value) if value is not None else None


def _when(moment: datetime | None) -> str:
    return format_time(moment) if moment is not None else "-"


def _safe(text: str) -> str:
    """A charger id as part of a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:100]
