"""Rules for sites: their time zone, where they are, and what keeps them from being booked."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csms.domain.terms import BookingTerms, check_consistent, check_terms, terms_json
from csms.errors import ValidationFailed

MAX_NAME = 200
MAX_ADDRESS = 300
#: A site without a tariff has no price for any window, so it is never offered (``problems``).
NO_TARIFF = "no_tariff"


def check_timezone(value: object) -> str:
    """An IANA time zone name such as ``Europe/Berlin`` (tariffs are written in it)."""
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or value.startswith(("/", ".")):
        raise ValidationFailed("timezone must be an IANA time zone name such as Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"unknown time zone {value!r}") from None
    return value


def check_name(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME or not value.strip():
        raise ValidationFailed(f"name must be a string of 1-{MAX_NAME} characters")
    return value


def check_address(value: object) -> str | None:
    """A postal address as one text (None: not given)."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ADDRESS or not value.strip():
        raise ValidationFailed(f"address must be a string of 1-{MAX_ADDRESS} characters or null")
    return value


def check_coordinate(value: object, name: str, limit: int) -> float | None:
    """A WGS 84 latitude (``limit`` 90) or longitude (180) in degrees (None: not given)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationFailed(f"{name} must be a number from -{limit} to {limit} or null")
    number = float(value)  # An integer beyond a float's range is caught below as inf.
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise ValidationFailed(f"{name} must be a number from -{limit} to {limit} or null")
    return number


@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    id: int
    name: str
    timezone: str
    codes_on_local_list: bool
    address: str | None
    latitude: float | None
    longitude: float | None
    has_tariff: bool
    created_at: datetime
    #: The booking terms this site sets (the installation's defaults fill in the rest).
    terms: dict[str, Any]

    @property
    def problems(self) -> list[str]:
        """What keeps the site from being booked (empty: nothing)."""
        return [] if self.has_tariff else [NO_TARIFF]


def site_json(site: Site, defaults: BookingTerms) -> dict[str, Any]:
    """A site as the API and ``csms site … --json`` show it: ``terms`` holds every term,
    ``terms_set`` names those the site sets itself."""
    view = dataclasses.asdict(site)
    view["terms"] = terms_json(BookingTerms.merged(defaults, site.terms))
    view["terms_set"] = sorted(site.terms)
    view["problems"] = site.problems
    return view


def check_site_terms(stored: dict[str, Any], defaults: BookingTerms) -> None:
    """Raise unless the terms a site would store agree with each other."""
    check_consistent(BookingTerms.merged(defaults, stored))


#: What PATCH /api/v1/sites/{id} and ``csms site update`` may change.
UPDATABLE = frozenset(
    {"name", "timezone", "codes_on_local_list", "address", "latitude", "longitude", "terms"}
)


def check_site_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The given fields of a site, each checked (absent fields stay absent)."""
    checks: dict[str, Callable[[object], object]] = {
        "name": check_name,
        "timezone": check_timezone,
        "codes_on_local_list": _check_flag,
        "address": check_address,
        "latitude": _check_latitude,
        "longitude": _check_longitude,
        "terms": check_terms,
    }
    unknown = set(body) - UPDATABLE
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    return {name: checks[name](value) for name, value in body.items()}


def _check_latitude(value: object) -> float | None:
    return check_coordinate(value, "latitude", 90)


def _check_longitude(value: object) -> float | None:
    return check_coordinate(value, "longitude", 180)


def _check_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed("codes_on_local_list must be true or false")
    return value
