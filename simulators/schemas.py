"""Checks payloads against the official OCPP 1.6 JSON schemas shipped with the ``ocpp`` library.

The charger validates every CALL it receives (J 4.2.3: a payload that does not fit its schema is
answered with a CALLERROR naming the violation). Validators are compiled with ``fastjsonschema``
on first use and cached. Date-times are checked leniently (any RFC 3339 form with or without an
offset), because central systems in the field send all of them.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Callable
from typing import Any

import fastjsonschema
import orjson

from simulators.protocol import Payload, parse_time

Validator = Callable[[Any], Any]


class SchemaViolation(ValueError):
    """A payload does not fit its schema; ``error_code`` is the OCPP-J CALLERROR code."""

    def __init__(self, error_code: str, description: str) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description


def _is_date_time(text: str) -> bool:
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


# J 4.2.3 error codes (1.6 spells "Occurence" with one r).
_ERROR_CODES = {
    "required": "OccurenceConstraintViolation",
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    "enum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "format": "PropertyConstraintViolation",
}


@functools.cache
def _validator(name: str) -> Validator | None:
    resource = importlib.resources.files("ocpp.v16") / "schemas" / f"{name}.json"
    try:
        schema = orjson.loads(resource.read_bytes())
    except FileNotFoundError:
        return None
    compiled: Validator = fastjsonschema.compile(schema, formats={"date-time": _is_date_time})
    return compiled


def has_schema(action: str) -> bool:
    """True when ``action`` is an OCPP 1.6 action (it has a request schema)."""
    return _validator(action) is not None


def validate_request(action: str, payload: Payload) -> None:
    """Raise :class:`SchemaViolation` unless ``payload`` is a valid ``action`` request."""
    _validate(action, payload)


def validate_response(action: str, payload: Payload) -> None:
    """Raise :class:`SchemaViolation` unless ``payload`` is a valid answer to ``action``."""
    _validate(f"{action}Response", payload)


def _validate(name: str, payload: Payload) -> None:
    validator = _validator(name)
    if validator is None:
        raise SchemaViolation("NotImplemented", f"no OCPP 1.6 schema named {name}")
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _ERROR_CODES.get(str(exc.rule), "FormationViolation")
        raise SchemaViolation(code, f"{name}: {exc.message}") from None
