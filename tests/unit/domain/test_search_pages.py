"""Cursors of the availability search: what a page hands out reads back as the same position,
and nothing else is taken for one."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms.domain.geo import MAX_DISTANCE_KM
from csms.domain.search_pages import NearPosition, SitePosition, encode_cursor, read_position
from csms.errors import ValidationFailed

NEAR = NearPosition(1.2345678901234567, Decimal("12.34"), 7, "CP-1", 2)
SITE = SitePosition(7, "CP-1", 2)


def decoded(cursor: str) -> Any:
    """What the API's cursor reader hands on: the cursor's JSON value."""
    return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


@given(
    distance=st.floats(0, MAX_DISTANCE_KM),
    total=st.decimals(min_value=0, max_value=10**6, places=2),
    site_id=st.integers(0, 2**63 - 1),
    cp_id=st.from_regex(r"[A-Za-z0-9._~:-]{1,48}", fullmatch=True),
    connector_id=st.integers(0, 2**31 - 1),
)
def test_a_cursor_reads_back_as_its_position(
    distance: float, total: Decimal, site_id: int, cp_id: str, connector_id: int
) -> None:
    near = NearPosition(distance, total, site_id, cp_id, connector_id)
    cursor = encode_cursor(near)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor  # Safe in a URL as is.
    assert read_position(decoded(cursor), near=True) == near
    site = SitePosition(site_id, cp_id, connector_id)
    assert read_position(decoded(encode_cursor(site)), near=False) == site


def test_positions_order_as_the_search_does() -> None:
    nearer = NearPosition(1.0, Decimal("99"), 9, "Z", 9)
    cheaper = NearPosition(2.0, Decimal("5"), 9, "Z", 9)
    dearer = NearPosition(2.0, Decimal("10"), 1, "A", 1)
    assert nearer < cheaper < dearer
    assert NearPosition(2.0, Decimal("10"), 1, "A", 2) > dearer
    assert SitePosition(1, "B", 1) > SitePosition(1, "A", 9) > SitePosition(0, "Z", 9)


def test_a_cursor_of_the_other_order_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="cursor is not one this API gave out"):
        read_position(decoded(encode_cursor(SITE)), near=True)
    with pytest.raises(ValidationFailed):
        read_position(decoded(encode_cursor(NEAR)), near=False)


def _near(**changes: Any) -> list[Any]:
    values = decoded(encode_cursor(NEAR))
    for index, value in changes.items():
        values[int(index[1:])] = value
    return list(values)


@pytest.mark.parametrize(
    "value",
    [
        [],
        ["n"],
        _near(_0="s"),
        _near(_1=-0.5),
        _near(_1=MAX_DISTANCE_KM + 1),
        _near(_1="1.0"),
        _near(_1=True),
        _near(_1=None),
        _near(_2=12.34),
        _near(_2="1e5"),
        _near(_2="NaN"),
        _near(_2="1" * 30),
        _near(_3=-1),
        _near(_3=2**63),
        _near(_3=1.0),
        _near(_3=True),
        _near(_4=""),
        _near(_4="a b"),
        _near(_4="x" * 49),
        _near(_4="cp\x00"),
        _near(_4=5),
        _near(_5=2**31),
        _near(_5="2"),
        [*_near(), 1],
    ],
)
def test_an_altered_cursor_is_refused(value: list[Any]) -> None:
    with pytest.raises(ValidationFailed, match="cursor is not one this API gave out"):
        read_position(value, near=True)


@pytest.mark.parametrize(
    "value", [["s", 1, "CP", 1, 1], ["s", "1", "CP", 1], ["s", 1, "C P", 1], ["s", 1, "CP", -1]]
)
def test_an_altered_site_cursor_is_refused(value: list[Any]) -> None:
    with pytest.raises(ValidationFailed):
        read_position(value, near=False)
