"""Rules for registering charge points and their connectors."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal, InvalidOperation

from csms.domain.money import check_places
from csms.errors import ValidationFailed

# The id is the last path segment of the OCPP URL (J 3.1.1): keep it to characters that need no
# percent-encoding, so what the charger is configured with is exactly what is stored.
_CHARGE_POINT_ID = re.compile(r"[A-Za-z0-9._~:-]{1,48}")

#: SEC 1.6: AuthorizationKey is 16 to 20 bytes (40 hex characters when sent as hex).
AUTHORIZATION_KEY_MIN = 16
AUTHORIZATION_KEY_MAX = 40

MAX_CONNECTORS = 64
MAX_POWER_KW = Decimal(1000)


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectorSpec:
    connector_id: int
    connector_type: str
    max_power_kw: Decimal


def check_charge_point_id(value: object) -> str:
    if not isinstance(value, str) or not _CHARGE_POINT_ID.fullmatch(value):
        raise ValidationFailed(
            "charge point id must be 1-48 characters of letters, digits and . _ ~ : -"
        )
    return value


def check_authorization_key(value: object) -> str:
    if not isinstance(value, str) or not (
        AUTHORIZATION_KEY_MIN <= len(value.encode()) <= AUTHORIZATION_KEY_MAX
    ):
        raise ValidationFailed(
            f"authorization_key must be a string of {AUTHORIZATION_KEY_MIN}"
            f"-{AUTHORIZATION_KEY_MAX} bytes"
        )
    if ":" in value or not value.isprintable():
        raise ValidationFailed("authorization_key must be printable and contain no ':'")
    return value


def check_connectors(items: object) -> list[ConnectorSpec]:
    """Validate the connector list of a registration: ids 1..n, unique, sane power."""
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_CONNECTORS:
        raise ValidationFailed(f"connectors must be a list of 1-{MAX_CONNECTORS} connectors")
    specs = [_check_connector(item) for item in items]
    ids = [spec.connector_id for spec in specs]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("connector_id values must be unique")
    return specs


def _check_connector(item: object) -> ConnectorSpec:
    if not isinstance(item, dict) or set(item) - {"connector_id", "connector_type", "max_power_kw"}:
        raise ValidationFailed(
            "each connector is {connector_id, connector_type, max_power_kw} and nothing else"
        )
    connector_id = item.get("connector_id")
    if type(connector_id) is not int or not 1 <= connector_id <= MAX_CONNECTORS:
        raise ValidationFailed(f"connector_id must be an integer 1-{MAX_CONNECTORS}")
    connector_type = item.get("connector_type")
    if not isinstance(connector_type, str) or not 1 <= len(connector_type) <= 32:
        raise ValidationFailed("connector_type must be a name such as Type2, CCS2 or CHAdeMO")
    power = parse_power_kw(item.get("max_power_kw"))
    return ConnectorSpec(connector_id, connector_type, power)


def parse_power_kw(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationFailed("max_power_kw must be a number")
    try:
        power = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed("max_power_kw must be a number") from None
    if not power.is_finite() or not Decimal(0) < power <= MAX_POWER_KW:
        raise ValidationFailed(f"max_power_kw must be more than 0 and at most {MAX_POWER_KW}")
    return check_places(power, "max_power_kw")
