"""The JSON log format: one object per line, with the record's extras and its traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from csms.logs import configure


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_extras_and_the_traceback(restore_logging: None) -> None:
    stream = io.StringIO()
    configure("INFO", "json", stream)
    log = logging.getLogger("csms.test")
    log.info("charger %s said\nhello", "CP-1", extra={"charge_point_id": "CP-1", "odd": object()})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    log.debug("not at INFO")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "charger CP-1 said\nhello" and first["level"] == "INFO"
    assert first["logger"] == "csms.test" and first["charge_point_id"] == "CP-1"
    assert first["odd"].startswith("<object object")
    assert first["time"].endswith("+00:00") and "exception" not in first
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_text_stays_the_default(restore_logging: None) -> None:
    stream = io.StringIO()
    configure("WARNING", stream=stream)
    logging.getLogger("csms.test").warning("plain %d", 1)
    assert stream.getvalue().rstrip().endswith("WARNING csms.test: plain 1")
