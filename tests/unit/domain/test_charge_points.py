from __future__ import annotations

from decimal import Decimal

import pytest

from csms.domain.charge_points import (
    check_authorization_key,
    check_charge_point_id,
    check_connectors,
)
from csms.errors import ValidationFailed


@pytest.mark.parametrize("value", ["CP-1", "de.example:0042", "a" * 48, "X_1~y"])
def test_good_ids(value: str) -> None:
    assert check_charge_point_id(value) == value


@pytest.mark.parametrize("value", ["", "a" * 49, "has space", "slash/inside", "ümlaut", 5, None])
def test_bad_ids(value: object) -> None:
    with pytest.raises(ValidationFailed):
        check_charge_point_id(value)


def test_authorization_key_length_is_16_to_40_bytes() -> None:
    assert check_authorization_key("k" * 16)
    assert check_authorization_key("k" * 40)
    for bad in ["k" * 15, "k" * 41, "with:colon-0123456", 1234567890123456789]:
        with pytest.raises(ValidationFailed):
            check_authorization_key(bad)


def test_connectors() -> None:
    specs = check_connectors(
        [
            {"connector_id": 1, "connector_type": "Type2", "max_power_kw": 22},
            {"connector_id": 2, "connector_type": "CCS2", "max_power_kw": "150.5"},
        ]
    )
    assert [(s.connector_id, s.max_power_kw) for s in specs] == [
        (1, Decimal(22)),
        (2, Decimal("150.5")),
    ]


@pytest.mark.parametrize(
    "connectors",
    [
        [],
        "Type2",
        [{"connector_id": 0, "connector_type": "Type2", "max_power_kw": 22}],
        [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 0}],
        [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": "NaN"}],
        [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": True}],
        [{"connector_id": 1, "connector_type": "", "max_power_kw": 22}],
        [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 22, "colour": "red"}],
        [{"connector_id": 1, "connector_type": "Type2", "max_power_kw": 22}] * 2,
    ],
)
def test_bad_connectors(connectors: object) -> None:
    with pytest.raises(ValidationFailed):
        check_connectors(connectors)
