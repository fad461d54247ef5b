"""Places on the Earth for the search near a place: reading a point, great-circle distance, and
the latitude/longitude box that holds every point within a radius (what an index can serve).

The Earth is taken as a sphere of the mean radius (IUGG): the great-circle distance then errs
by at most ~0.5 % against the WGS 84 ellipsoid, far below what a driver looking for a charger
notices, and PostgreSQL computes the very same formula (no PostGIS here).
"""

from __future__ import annotations

import dataclasses
import math
import re

from csms.errors import ValidationFailed

EARTH_RADIUS_KM = 6371.0088
#: Half the circumference: no two points on the sphere are farther apart.
MAX_DISTANCE_KM = math.pi * EARTH_RADIUS_KM
#: ``near=LAT,LON`` in decimal degrees: no exponent, no nan/inf, no spaces, a sane length.
_POINT = re.compile(r"([+-]?\d{1,3}(?:\.\d{1,15})?),([+-]?\d{1,3}(?:\.\d{1,15})?)")
_MAX_POINT_TEXT = 64


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    """WGS 84 decimal degrees: latitude in [-90, 90], longitude in [-180, 180]."""

    latitude: float
    longitude: float


@dataclasses.dataclass(frozen=True, slots=True)
class BoundingBox:
    """Latitudes [min_latitude, max_latitude] and longitudes in either of the two ranges.

    A box that crosses the antimeridian is two longitude ranges (one each side of ±180); one
    that does not repeats its single range, so a query can always test both.
    """

    min_latitude: float
    max_latitude: float
    longitudes: tuple[tuple[float, float], tuple[float, float]]

    def contains(self, point: Point) -> bool:
        return self.min_latitude <= point.latitude <= self.max_latitude and any(
            low <= point.longitude <= high for low, high in self.longitudes
        )


def parse_point(raw: str, name: str = "near") -> Point:
    """``LAT,LON`` as decimal degrees; :class:`ValidationFailed` for anything else (two finite
    numbers in range, a comma between them, nothing more)."""
    match = _POINT.fullmatch(raw) if len(raw) <= _MAX_POINT_TEXT and raw.isascii() else None
    if match is None:
        raise ValidationFailed(
            f"{name} must be LAT,LON in decimal degrees (WGS 84), e.g. 52.52,13.405"
        )
    latitude, longitude = float(match.group(1)), float(match.group(2))
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise ValidationFailed(f"{name}: latitude must be -90 to 90, longitude -180 to 180")
    return Point(latitude, longitude)


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance in km on the mean-radius sphere (the haversine formula, which
    stays accurate for short distances where the spherical law of cosines does not)."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    half_dlat = (lat2 - lat1) / 2
    half_dlon = math.radians(b.longitude - a.longitude) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(half_dlon) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))  # Rounding may pass 1.


def bounding_box(centre: Point, radius_km: float) -> BoundingBox:
    """The smallest latitude/longitude box holding every point within ``radius_km`` of
    ``centre`` (a superset: the exact distance still has to be checked).

    Latitudes are the centre's ± the radius as an angle. Longitudes widen by the angle at
    which a meridian touches the circle, asin(sin(r) / cos(lat)); when the circle reaches
    over a pole every longitude is in, and a range past ±180 wraps to the other side.
    """
    angle = radius_km / EARTH_RADIUS_KM
    degrees = math.degrees(angle)
    low, high = centre.latitude - degrees, centre.latitude + degrees
    if low <= -90 or high >= 90 or angle >= math.pi / 2:
        whole = (-180.0, 180.0)
        return BoundingBox(max(low, -90.0), min(high, 90.0), (whole, whole))
    # |lat| + r < 90 degrees here, so the ratio is below 1 (min: rounding right at the edge).
    ratio = math.sin(angle) / math.cos(math.radians(centre.latitude))
    spread = math.degrees(math.asin(min(1.0, ratio)))
    west, east = centre.longitude - spread, centre.longitude + spread
    if west < -180:
        return BoundingBox(low, high, ((west + 360, 180.0), (-180.0, east)))
    if east > 180:
        return BoundingBox(low, high, ((west, 180.0), (-180.0, east - 360)))
    return BoundingBox(low, high, ((west, east), (west, east)))
