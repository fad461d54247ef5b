from __future__ import annotations

import pytest

from csms.gateway.frames import ErrorCode
from csms.gateway.schemas import (
    CENTRAL_SYSTEM_ACTIONS,
    CHARGE_POINT_ACTIONS,
    PayloadError,
    request_validator,
    response_validator,
)


def test_every_action_has_both_schemas() -> None:
    for action in CHARGE_POINT_ACTIONS | CENTRAL_SYSTEM_ACTIONS:
        assert request_validator(action)
        assert response_validator(action)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, ErrorCode.PROTOCOL_ERROR),
        (
            {"connectorId": "1", "errorCode": "NoError", "status": "Available"},
            ErrorCode.TYPE_CONSTRAINT_VIOLATION,
        ),
        (
            {"connectorId": 1, "errorCode": "Oops", "status": "Available"},
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
        ),
        (
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "x": 1},
            ErrorCode.FORMATION_VIOLATION,
        ),
        (
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "noon"},
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
        ),
    ],
)
def test_violations_map_to_1_6_error_codes(payload: dict[str, object], code: ErrorCode) -> None:
    with pytest.raises(PayloadError) as caught:
        request_validator("StatusNotification")(payload)
    assert caught.value.error_code is code


def test_decimals_with_one_decimal_place_pass() -> None:
    """21.4 / 0.1 is not an integer in binary floating point; the payload is still valid."""
    profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
            },
        },
    }
    request_validator("SetChargingProfile")(profile)
