"""OCPP-J 1.6 frames and timestamps (J 4).

A frame is a JSON array: CALL ``[2, id, action, payload]``, CALLRESULT ``[3, id, payload]``,
CALLERROR ``[4, id, code, description, details]``. :func:`decode` turns text into one of the
three frame classes, or raises :class:`FrameError` for text that is not a frame at all (J 4.1.3:
such text is logged and dropped, never answered). Times are written as UTC with a ``Z`` suffix,
because several central systems and chargers break on ``+00:00``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, Final

import orjson

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4

#: J 4.1.4: message ids are at most 36 characters.
MAX_MESSAGE_ID = 36

Payload = dict[str, Any]


class FrameError(ValueError):
    """The text is not an OCPP-J frame (bad JSON, not an array, unknown message type)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """A request: ``[2, message_id, action, payload]``."""

    message_id: str
    action: str
    payload: Payload


@dataclasses.dataclass(frozen=True, slots=True)
class CallResult:
    """A successful answer: ``[3, message_id, payload]``."""

    message_id: str
    payload: Payload


@dataclasses.dataclass(frozen=True, slots=True)
class CallError:
    """A failed answer: ``[4, message_id, error_code, description, details]`` (J 4.2.3)."""

    message_id: str
    error_code: str
    description: str = ""
    details: Payload = dataclasses.field(default_factory=dict)


Frame = Call | CallResult | CallError


def decode(text: str | bytes) -> Frame:
    """Parse one frame; raise :class:`FrameError` when ``text`` is not a well-formed frame.

    A CALL whose payload is not an object still decodes (with an empty payload replaced by the
    raw value under ``"_"``) so that the caller can answer it with a FormationViolation.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"not JSON: {exc}") from None
    if not isinstance(value, list) or len(value) < 3:
        raise FrameError("not an OCPP-J array")
    kind, message_id = value[0], value[1]
    if not isinstance(message_id, str) or not message_id:
        raise FrameError("message id is not a string")
    if kind == CALL and len(value) == 4 and isinstance(value[2], str):
        payload = value[3] if isinstance(value[3], dict) else {"_": value[3]}
        return Call(message_id, value[2], payload)
    if kind == CALLRESULT and len(value) == 3:
        payload = value[2] if isinstance(value[2], dict) else {}
        return CallResult(message_id, payload)
    if kind == CALLERROR and len(value) >= 4:
        details = value[4] if len(value) > 4 and isinstance(value[4], dict) else {}
        return CallError(message_id, str(value[2]), str(value[3]), details)
    raise FrameError(f"unknown or malformed message type {kind!r}")


def encode(frame: Frame) -> str:
    """Serialise ``frame`` as compact JSON text."""
    if isinstance(frame, Call):
        array: list[Any] = [CALL, frame.message_id, frame.action, frame.payload]
    elif isinstance(frame, CallResult):
        array = [CALLRESULT, frame.message_id, frame.payload]
    else:
        array = [CALLERROR, frame.message_id, frame.error_code, frame.description, frame.details]
    return orjson.dumps(array).decode()


def dumps(payload: Payload) -> str:
    """Compact JSON for a payload, as printed in human-readable event lines."""
    return orjson.dumps(payload).decode()


def format_time(moment: datetime, *, whole_seconds: bool = False) -> str:
    """Write ``moment`` as UTC with milliseconds and a ``Z``: ``2026-01-02T03:04:05.678Z``.

    ``whole_seconds`` truncates the fraction away, as many chargers do: ``2026-01-02T03:04:05Z``.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware one")
    utc = moment.astimezone(UTC)
    if whole_seconds:
        return f"{utc:%Y-%m-%dT%H:%M:%S}Z"
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def format_clock(moment: datetime) -> str:
    """The time of day in UTC for people: ``10:30:00Z``."""
    return f"{moment.astimezone(UTC):%H:%M:%S}Z"


def parse_time(text: object) -> datetime:
    """Read an RFC 3339 date-time with any offset (naive means UTC); raise ValueError if not one.

    >>> parse_time("2026-01-02T03:04:05.1+01:00").isoformat()
    '2026-01-02T02:04:05.100000+00:00'
    """
    if not isinstance(text, str) or len(text) < 19 or text[10] not in "Tt ":
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
