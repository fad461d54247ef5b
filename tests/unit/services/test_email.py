"""Email transports: chosen by ``CSMS_EMAIL``; the file sink writes JSON lines, the log sink
never shows the code."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from csms.domain.notifications import email_message
from csms.errors import ConfigurationError
from csms.services.email import FileSink, LogSink, email_transport
from csms.settings import Settings


def test_the_setting_names_the_transport(tmp_path: Path) -> None:
    assert email_transport("off") is None
    assert isinstance(email_transport("log"), LogSink)
    sink = email_transport(f"file:{tmp_path / 'mail.jsonl'}")
    assert isinstance(sink, FileSink) and sink.path == tmp_path / "mail.jsonl"
    for wrong in ("smtp://example.com", "file:", "LOG"):
        with pytest.raises(ConfigurationError):
            email_transport(wrong)
        with pytest.raises(ConfigurationError):
            Settings.from_env({"CSMS_EMAIL": wrong})
    assert Settings.from_env({}).email == "log"


async def test_the_file_sink_appends_one_json_line_per_message(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "mail.jsonl"
    sink = FileSink(path)
    messages = [
        email_message(f"d{n}@example.com", "booked", n, {"charge_point_id": "CP-Ü"}, "123456")
        for n in range(20)
    ]
    await asyncio.gather(*(sink.send(m) for m in messages))
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["to"] for line in lines) == sorted(m.to for m in messages)
    assert all("CP-Ü" in line["body"] and "123456" in line["body"] for line in lines)


async def test_the_log_sink_redacts_the_code(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="csms.services.email")
    await LogSink().send(
        email_message("d@example.com", "booked", 3, {"charge_point_id": "CP-1"}, "987654")
    )
    assert "d@example.com" in caplog.text and "CP-1" in caplog.text
    assert "987654" not in caplog.text
