"""What the pure charger model asks the asyncio layer to do in the world (sans-I/O).

The model never opens a socket or a file: when a firmware download is due, a diagnostics file
is ready, a certificate should be kept on disk or the connection must be renewed for a new
security profile, it appends one of these to :attr:`simulators.core.ChargerCore.effects`.
:mod:`simulators.effect_runner` performs them and reports back through the model's entry points
(``download_finished``, ``upload_finished``), passing the time as every other entry point does.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Download:
    """GET ``url``; report with ``FileJobs.download_finished(job_id, …)``."""

    job_id: int
    url: str


@dataclasses.dataclass(frozen=True, slots=True)
class Upload:
    """Send ``data`` as ``file_name`` to ``url`` (a directory): PUT ``url/file_name``, or with
    ``multipart`` a multipart/form-data POST to ``url``; report with ``upload_finished``."""

    job_id: int
    url: str
    file_name: str
    data: bytes
    multipart: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class SaveFile:
    """Keep ``data`` as ``name`` in the certificate directory (``--cert-dir``), if there is one."""

    name: str
    data: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteFile:
    """Remove ``name`` from the certificate directory, if there is one."""

    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class Reconnect:
    """Close the connection once the answers queued so far are written, then connect again at
    once (with the security profile the model now wants): SEC, security profile change."""

    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Disconnect:
    """Drop the connection (then reconnect with the usual backoff), e.g. the
    stop-after-not-implemented quirk."""

    reason: str


Effect = Download | Upload | SaveFile | DeleteFile | Reconnect | Disconnect
