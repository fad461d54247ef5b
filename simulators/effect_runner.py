"""Performs the model's effects (:mod:`simulators.effects`) for a :class:`SimulatedChargePoint`.

Downloads and uploads run as tasks (HTTP with :mod:`simulators.transfers`) and report back to
the model with the time they finished; certificate files go to ``--cert-dir``; a Reconnect
closes the connection once the pending answers are written (the charge point then connects
again at once, with its new security profile); a Disconnect drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from simulators.certificates import (
    CA_TYPES,
    CLIENT_CERT_FILE,
    CLIENT_KEY_FILE,
    CertificateStore,
    InstalledCertificate,
)
from simulators.effects import (
    DeleteFile,
    Disconnect,
    Download,
    Effect,
    Reconnect,
    SaveFile,
    Upload,
)
from simulators.events import EventKind
from simulators.transfers import TransferError, download, upload

if TYPE_CHECKING:
    from simulators.charge_point import SimulatedChargePoint

#: Seconds a single download or upload may take.
TRANSFER_TIMEOUT = 60.0


def load_cert_dir(directory: Path, store: CertificateStore) -> None:
    """Restore what an earlier run kept: the client certificate and the installed CAs."""
    chain, key = directory / CLIENT_CERT_FILE, directory / CLIENT_KEY_FILE
    if chain.is_file() and key.is_file():
        store.load_client(chain.read_bytes(), key.read_bytes())
    for path in sorted(directory.glob("*.pem")):
        kind = path.name.split("-", 1)[0]
        if kind in CA_TYPES:
            certificate = x509.load_pem_x509_certificate(path.read_bytes())
            store.installed.append(InstalledCertificate(kind, certificate))
    store.version += 1


class EffectRunner:
    """The effects of one charger: tasks in flight, and where certificate files go."""

    __slots__ = ("cert_dir", "cp", "reconnect", "tasks")

    def __init__(self, cp: SimulatedChargePoint, cert_dir: Path | None) -> None:
        self.cp, self.cert_dir = cp, cert_dir
        self.tasks: set[asyncio.Task[None]] = set()
        self.reconnect = False  # set by Reconnect: connect again without waiting

    async def run(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Download | Upload):
                task = asyncio.get_running_loop().create_task(self._transfer(effect))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif isinstance(effect, SaveFile | DeleteFile):
                self._file(effect)
            else:
                await self._close(effect)

    async def _close(self, effect: Reconnect | Disconnect) -> None:
        ws = self.cp.websocket
        if isinstance(effect, Reconnect):
            self.reconnect = True
        if ws is not None:
            code = 1000 if isinstance(effect, Reconnect) else 1008
            await ws.close(code, effect.reason[:100])

    def _file(self, effect: SaveFile | DeleteFile) -> None:
        if self.cert_dir is None:
            return
        path = self.cert_dir / effect.name
        try:
            if isinstance(effect, DeleteFile):
                path.unlink(missing_ok=True)
                return
            self.cert_dir.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".key":  # a private key: for the owner's eyes only
                path.touch(mode=0o600)
                os.chmod(path, 0o600)
            path.write_bytes(effect.data)
        except OSError as exc:
            self.cp.model.emit(EventKind.ERROR, f"cannot write {path}: {exc}")

    async def _transfer(self, effect: Download | Upload) -> None:
        context = self.cp.transport.verifying_context(self.cp.model)
        error: str | None = None
        data: bytes | None = None
        try:
            if isinstance(effect, Download):
                data = await download(effect.url, context, TRANSFER_TIMEOUT)
            else:
                await upload(effect.url, effect.file_name, effect.data,
                             multipart=effect.multipart, context=context,
                             timeout=TRANSFER_TIMEOUT)
        except TransferError as exc:
            error = str(exc)
        except Exception as exc:  # anything else still ends the job, as a failed transfer
            error = f"{type(exc).__name__}: {exc}"
        now = datetime.now(UTC)
        if isinstance(effect, Download):
            self.cp.model.firmware.download_finished(effect.job_id, data, error, now)
        else:
            self.cp.model.uploads.upload_finished(effect.job_id, error, now)
        await self.cp.flush()

    async def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
