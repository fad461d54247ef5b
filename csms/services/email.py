"""Email transports behind one small interface, chosen by ``CSMS_EMAIL``.

Development sinks only, so nothing needs a mail server to run or test: ``log`` writes each
message to the log, ``file:PATH`` appends it to a file as one JSON object per line
(``{"to", "subject", "body", "sent_at"}``), ``off`` sends nothing (and no email delivery is
recorded). A real transport (SMTP, a provider's API) is one more class with :meth:`send`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from csms.domain.notifications import EmailMessage
from csms.errors import ConfigurationError

log = logging.getLogger(__name__)


class EmailTransport(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand the message on; raise (any exception) when it could not be, to be retried."""


class LogSink:
    """Each message as one INFO line of the log (newlines shown as ``|``), its secrets (the
    booking code) redacted: a log is read by more people than the addressee."""

    async def send(self, message: EmailMessage) -> None:
        body = message.redacted().replace("\n", " | ")
        log.info("email to %s: %s | %s", message.to, message.subject, body)


class FileSink:
    """Each message appended to ``path`` as a JSON line; the file's directory is created."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def send(self, message: EmailMessage) -> None:
        line = json.dumps(
            {
                "to": message.to,
                "subject": message.subject,
                "body": message.body,
                "sent_at": datetime.now(UTC).isoformat(),
            },
            ensure_ascii=False,
        )
        async with self._lock:  # Lines of concurrent sends never interleave.
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")


def email_transport(setting: str) -> EmailTransport | None:
    """The transport ``CSMS_EMAIL`` names (None for ``off``)."""
    if setting == "off":
        return None
    if setting == "log":
        return LogSink()
    if setting.startswith("file:") and len(setting) > len("file:"):
        return FileSink(Path(setting[len("file:"):]))
    raise ConfigurationError(f"CSMS_EMAIL must be off, log or file:PATH, not {setting!r}")
