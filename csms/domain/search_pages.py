"""Where a page of the availability search ended, and the opaque cursor that carries it.

Two orders, two positions: by site, charger, connector (:class:`SitePosition`); and near a
place by distance, then the window's quoted total, then the same tie-break
(:class:`NearPosition`). A cursor is the position as a JSON list in URL-safe base64 (the form
every list of the API uses); reading one back checks every element, so a cursor that was
altered, or that belongs to the other order, is refused (422) rather than echoed into SQL.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from decimal import Decimal
from typing import Any

import orjson

from csms.domain.charge_points import check_charge_point_id
from csms.domain.geo import MAX_DISTANCE_KM
from csms.domain.identifiers import INT32_MAX
from csms.errors import ValidationFailed

INT64_MAX = 2**63 - 1
#: A quoted total as :func:`csms.domain.money.format_money` writes it (or any plain decimal).
_TOTAL = re.compile(r"-?\d{1,20}(?:\.\d{1,10})?")
_SITE_TAG, _NEAR_TAG = "s", "n"


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class SitePosition:
    """The last connector of a page in the order by site id, charger id, connector id."""

    site_id: int
    charge_point_id: str
    connector_id: int


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class NearPosition:
    """The last connector of a page near a place: its exact distance (not the rounded one
    shown), its quoted total, then the tie-break. Compared field by field, in this order."""

    distance_km: float
    total: Decimal
    site_id: int
    charge_point_id: str
    connector_id: int


Position = SitePosition | NearPosition


def encode_cursor(position: Position) -> str:
    """The opaque ``next_cursor`` of a page that ended at ``position``."""
    if isinstance(position, NearPosition):
        values: list[Any] = [
            _NEAR_TAG,
            position.distance_km,
            str(position.total),
            position.site_id,
            position.charge_point_id,
            position.connector_id,
        ]
    else:
        values = [_SITE_TAG, position.site_id, position.charge_point_id, position.connector_id]
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def read_position(value: list[Any], *, near: bool) -> Position:
    """The position a decoded cursor names, for a search near a place (``near``) or not;
    :class:`ValidationFailed` unless it is one :func:`encode_cursor` could have written."""
    try:
        return _near(value) if near else _site(value)
    except ValidationFailed:
        raise ValidationFailed("cursor is not one this API gave out") from None


def _site(value: list[Any]) -> SitePosition:
    if len(value) != 4 or value[0] != _SITE_TAG:
        raise ValidationFailed("not a site cursor")
    return SitePosition(_int(value[1], INT64_MAX), check_charge_point_id(value[2]),
                        _int(value[3], INT32_MAX))  # fmt: skip


def _near(value: list[Any]) -> NearPosition:
    if len(value) != 6 or value[0] != _NEAR_TAG:
        raise ValidationFailed("not a near cursor")
    distance, total = value[1], value[2]
    if type(distance) not in (int, float) or not 0 <= distance <= MAX_DISTANCE_KM:
        raise ValidationFailed("distance out of range")
    if not isinstance(total, str) or not _TOTAL.fullmatch(total):
        raise ValidationFailed("total is not a decimal")
    return NearPosition(
        float(distance),
        Decimal(total),
        _int(value[3], INT64_MAX),
        check_charge_point_id(value[4]),
        _int(value[5], INT32_MAX),
    )


def _int(value: object, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:  # bool is an int: not here.
        raise ValidationFailed("not an id")
    return value
