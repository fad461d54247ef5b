"""OCPP-J 1.6 message frames, sans-I/O (J 4).

``[2, id, action, payload]`` CALL, ``[3, id, payload]`` CALLRESULT,
``[4, id, errorCode, errorDescription, errorDetails]`` CALLERROR.

:func:`parse_frame` turns raw text into one of the three frame types, returns ``None`` for what
J 4 says to drop (unparsable JSON, unknown message types), and raises :class:`FrameError` when a
CALL is malformed and must be answered with a CALLERROR.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any

import orjson

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
MAX_MESSAGE_ID_LENGTH = 36  # J 4.1.3: uniqueId is at most 36 characters.


class ErrorCode(StrEnum):
    """CALLERROR codes of OCPP-J 1.6 (J 4.2.3). The 1.6 spelling "Occurence" is intended."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class CallError:
    message_id: str
    error_code: str
    description: str
    details: dict[str, Any]


Frame = Call | CallResult | CallError


class FrameError(Exception):
    """A CALL that must be answered with a CALLERROR (``message_id`` is what to answer to)."""

    def __init__(self, message_id: str, error_code: ErrorCode, description: str) -> None:
        super().__init__(f"{error_code}: {description}")
        self.message_id = message_id
        self.error_code = error_code
        self.description = description


def parse_frame(data: str | bytes) -> Frame | None:
    """Parse one WebSocket text message. ``None`` means: log it and drop it (J 4.1.3, 4.2)."""
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, list) or len(message) < 3:
        return None
    message_type, message_id = message[0], message[1]
    if type(message_type) is not int or message_type not in (CALL, CALL_RESULT, CALL_ERROR):
        return None  # J 4.1.3: an unknown message type is ignored.
    if not isinstance(message_id, str):
        return None  # No id to answer to.
    if message_type == CALL:
        return _parse_call(message, message_id)
    if message_type == CALL_RESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            return None
        return CallResult(message_id, message[2])
    return _parse_call_error(message, message_id)


def _parse_call(message: list[Any], message_id: str) -> Call:
    if len(message) != 4:
        raise FrameError(message_id, ErrorCode.FORMATION_VIOLATION, "a CALL has 4 elements")
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise FrameError(message_id, ErrorCode.FORMATION_VIOLATION, "message id over 36 chars")
    if not message_id:
        # J 4.1.3: the id must identify the call, so that its answer can be matched.
        raise FrameError(message_id, ErrorCode.FORMATION_VIOLATION, "message id is empty")
    action, payload = message[2], message[3]
    if not isinstance(action, str):
        raise FrameError(message_id, ErrorCode.FORMATION_VIOLATION, "action must be a string")
    if not isinstance(payload, dict):
        raise FrameError(message_id, ErrorCode.FORMATION_VIOLATION, "payload must be an object")
    return Call(message_id, action, payload)


def _parse_call_error(message: list[Any], message_id: str) -> CallError | None:
    if len(message) not in (4, 5) or not isinstance(message[2], str):
        return None
    description = message[3] if isinstance(message[3], str) else ""
    details = message[4] if len(message) == 5 and isinstance(message[4], dict) else {}
    return CallError(message_id, message[2], description, details)


def encode_call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([CALL, message_id, action, payload]).decode()


def encode_call_result(message_id: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([CALL_RESULT, message_id, payload]).decode()


def encode_call_error(
    message_id: str, error_code: str, description: str, details: dict[str, Any] | None = None
) -> str:
    # J 4.2.3: errorDescription at most 255 characters; errorDetails an object.
    return orjson.dumps(
        [CALL_ERROR, message_id, error_code, description[:255], details or {}]
    ).decode()
