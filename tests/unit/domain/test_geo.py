"""Places for the search near a place: reading ``near``, great-circle distance, the box that
an index narrows sites by (it must never leave out a site within the radius)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.geo import (
    EARTH_RADIUS_KM,
    MAX_DISTANCE_KM,
    Point,
    bounding_box,
    haversine_km,
    parse_point,
)
from csms.errors import ValidationFailed

BERLIN, PARIS, LONDON = Point(52.5200, 13.4050), Point(48.8566, 2.3522), Point(51.5074, -0.1278)


def destination(start: Point, bearing_degrees: float, distance_km: float) -> Point:
    """Where one arrives going ``distance_km`` along a great circle from ``start`` (the
    direct formula, independent of the box's), longitude folded into [-180, 180]."""
    angle, bearing = distance_km / EARTH_RADIUS_KM, math.radians(bearing_degrees)
    lat1, lon1 = math.radians(start.latitude), math.radians(start.longitude)
    lat2 = math.asin(
        math.sin(lat1) * math.cos(angle) + math.cos(lat1) * math.sin(angle) * math.cos(bearing)
    )
    lon2 = lon1 + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(lat1),
        math.cos(angle) - math.sin(lat1) * math.sin(lat2),
    )
    longitude = (math.degrees(lon2) + 540) % 360 - 180
    return Point(math.degrees(lat2), longitude)


@pytest.mark.parametrize(
    ("a", "b", "published_km"),
    [(BERLIN, PARIS, 878), (LONDON, PARIS, 344), (BERLIN, LONDON, 932)],
)
def test_distance_between_cities_is_the_published_great_circle(
    a: Point, b: Point, published_km: float
) -> None:
    assert haversine_km(a, b) == pytest.approx(published_km, rel=0.005)
    assert haversine_km(b, a) == haversine_km(a, b)


def test_distance_edge_cases() -> None:
    assert haversine_km(BERLIN, BERLIN) == 0
    assert haversine_km(Point(0, 0), Point(0, 180)) == pytest.approx(MAX_DISTANCE_KM)
    assert haversine_km(Point(90, 0), Point(-90, 0)) == pytest.approx(MAX_DISTANCE_KM)
    # Across the antimeridian the short way round: one degree of the equator.
    assert haversine_km(Point(0, 179.5), Point(0, -179.5)) == pytest.approx(111.2, abs=0.1)
    # All meridians meet at a pole.
    assert haversine_km(Point(90, 0), Point(90, 123)) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize(
    ("raw", "point"),
    [
        ("52.52,13.405", Point(52.52, 13.405)),
        ("-90,180", Point(-90, 180)),
        ("+90,-180", Point(90, -180)),
        ("0,0", Point(0, 0)),
        ("-33.868820,151.209290", Point(-33.86882, 151.20929)),
    ],
)
def test_near_is_read(raw: str, point: Point) -> None:
    assert parse_point(raw) == point


@pytest.mark.parametrize(
    "raw",
    [
        "91,0", "-90.0001,0", "0,181", "0,-180.5", "nan,0", "0,nan", "inf,0", "1e400,0",
        "1e1,0", "0", "", ",", "a,b", "1,2,3", "1;2", " 1,2", "1, 2", "1,2 ", "1.,2", ".5,2",
        "0x10,2", "1_0,2", "１,2", "1,2\x00", "1" * 10_000 + ",2", "1." + "0" * 60 + ",2",
        "1000,0",
    ],
)  # fmt: skip
def test_anything_else_is_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_point(raw)


def test_box_away_from_poles_and_antimeridian() -> None:
    box = bounding_box(BERLIN, 25)
    degrees = math.degrees(25 / EARTH_RADIUS_KM)
    assert box.min_latitude == pytest.approx(BERLIN.latitude - degrees)
    assert box.max_latitude == pytest.approx(BERLIN.latitude + degrees)
    (west, east), second = box.longitudes
    assert second == (west, east)
    # The widest point of the circle is just inside the box, not far from its edge.
    assert east - BERLIN.longitude == pytest.approx(BERLIN.longitude - west)
    assert 0.36 < east - BERLIN.longitude < 0.37
    assert not box.contains(Point(BERLIN.latitude, east + 0.01))


def test_box_across_the_antimeridian_is_two_ranges() -> None:
    box = bounding_box(Point(-17.7, 179.9), 50)  # Fiji
    (west, high), (low, east) = box.longitudes
    assert (high, low) == (180.0, -180.0)
    assert 179.4 < west < 179.6 and -179.8 < east < -179.6
    assert box.contains(Point(-17.7, -179.9)) and box.contains(Point(-17.7, 179.7))
    assert not box.contains(Point(-17.7, 0)) and not box.contains(Point(-17.7, 179.0))
    east_side = bounding_box(Point(10, -179.95), 30)
    assert east_side.contains(Point(10, 179.9)) and not east_side.contains(Point(10, 179.0))


def test_box_reaching_over_a_pole_holds_every_longitude() -> None:
    box = bounding_box(Point(89.9, 40), 50)
    assert box.max_latitude == 90 and box.longitudes == ((-180.0, 180.0), (-180.0, 180.0))
    assert box.contains(Point(89.9, -140))  # The other side of the pole, 22 km away.
    south = bounding_box(Point(-89.8, 0), 30)
    assert south.min_latitude == -90 and south.contains(Point(-89.9, 179))
    assert bounding_box(Point(0, 0), 15_000).longitudes[0] == (-180.0, 180.0)


@settings(max_examples=500, deadline=None)
@given(
    latitude=st.floats(-90, 90),
    longitude=st.floats(-180, 180),
    radius=st.floats(0.001, 1000),
    bearing=st.floats(0, 360),
    share=st.floats(0, 1),
)
def test_box_holds_every_point_within_the_radius(
    latitude: float, longitude: float, radius: float, bearing: float, share: float
) -> None:
    centre = Point(latitude, longitude)
    point = destination(centre, bearing, radius * share * 0.999_999)  # Inside, not on, the rim.
    assert haversine_km(centre, point) <= radius
    assert bounding_box(centre, radius).contains(point)
