"""Validation of OCPP 1.6 payloads against the official JSON schemas (shipped by ``ocpp``).

The schemas are compiled to Python code once, at import, with ``fastjsonschema``: a check costs
microseconds, where the ``ocpp`` library's ``jsonschema`` route costs ~30 % of a call. Unlike
that route, date-time formats are checked too (J 4: wrong date formats must be refused).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp.v16

from csms.gateway.frames import ErrorCode

SCHEMA_DIR = Path(ocpp.v16.__file__).parent / "schemas"

#: Actions a charge point sends to the CSMS (S 4), answered by our handlers.
CHARGE_POINT_ACTIONS = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        # The security extension ("Improved security for OCPP 1.6-J", section 5).
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
    }
)
#: Actions the CSMS sends to a charge point (S 5); see :func:`is_central_system_action`.
CENTRAL_SYSTEM_ACTIONS = frozenset(
    {
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DataTransfer",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetLocalListVersion",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
        # The security extension ("Improved security for OCPP 1.6-J", section 5).
        "CertificateSigned",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "GetInstalledCertificateIds",
        "GetLog",
        "InstallCertificate",
        "SignedUpdateFirmware",
    }
)

_RULE_TO_ERROR = {
    "required": ErrorCode.PROTOCOL_ERROR,  # J 4.2.3: "Payload for Action is incomplete".
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorCode.FORMATION_VIOLATION,
    "minItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
}


class PayloadError(Exception):
    """A payload breaks its schema; ``error_code`` is the CALLERROR code to answer with."""

    def __init__(self, error_code: ErrorCode, description: str) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description


Validator = Callable[[dict[str, Any]], None]


def is_known_action(action: str) -> bool:
    return action in CHARGE_POINT_ACTIONS or action in CENTRAL_SYSTEM_ACTIONS


@cache
def request_validator(action: str) -> Validator:
    """The check for a CALL payload of ``action``; raises :class:`PayloadError`."""
    return _compile(action)


@cache
def response_validator(action: str) -> Validator:
    """The check for the CALLRESULT payload answering ``action``."""
    return _compile(f"{action}Response")


def _compile(name: str) -> Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    _drop_multiple_of(schema)
    compiled = fastjsonschema.compile(schema)

    def validate(payload: dict[str, Any]) -> None:
        try:
            compiled(payload)
        except fastjsonschema.JsonSchemaValueException as error:
            if _beyond_64_bits(error):
                raise PayloadError(
                    ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    f"{error.name} is beyond the 64-bit integer range",
                ) from None
            code = _RULE_TO_ERROR.get(error.rule or "", ErrorCode.PROPERTY_CONSTRAINT_VIOLATION)
            raise PayloadError(code, error.message) from None

    return validate


def _beyond_64_bits(error: fastjsonschema.JsonSchemaValueException) -> bool:
    """An integer written beyond 64 bits: the parser hands it over as a float, so the schema
    says "not an integer" — but it is one, out of any range (a property, not a type, error)."""
    value = error.value
    return (
        error.rule == "type"
        and error.rule_definition == "integer"
        and isinstance(value, float)
        and value.is_integer()
        and abs(value) >= 2**63
    )


def _drop_multiple_of(node: Any) -> None:
    # The 1.6 schemas put ``multipleOf: 0.1`` on some decimals; binary floats make valid values
    # such as 21.4 fail that test (21.4 / 0.1 == 213.99999999999997), so it is not checked.
    if isinstance(node, dict):
        node.pop("multipleOf", None)
        for value in node.values():
            _drop_multiple_of(value)
    elif isinstance(node, list):
        for value in node:
            _drop_multiple_of(value)


def warm_up() -> None:
    """Compile every validator now, so the first message of each kind is not slow."""
    for action in CHARGE_POINT_ACTIONS:
        request_validator(action)
        response_validator(action)
    for action in CENTRAL_SYSTEM_ACTIONS:
        request_validator(action)
        response_validator(action)
