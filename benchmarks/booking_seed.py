"""Seed the booking benchmark's data straight into the server's database (COPY), fast.

Sites in real time zones, each with a time-of-use tariff (the form the API stores), chargers
with a mix of connector types and powers, one owner for the seeded bookings, and live bookings
spread over the days ahead: each connector's span is cut into equal slots and each slot holds
one window at a random place, so no two bookings of a connector overlap (the exclusion
constraint checks it again while COPY runs). Codes are six digits like the server's own, so
the seeded bookings take their real share of the code space. Sites lie at random places within
``region_km`` of ``region`` (uniform over the disc), for the search near a place.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from asyncpg import Range

from csms.domain.pricing import quote, quote_to_json
from csms.domain.tariffs import parse_tariff, tariff_to_json

ZONES = (
    ("Europe/Berlin", "EUR"),
    ("Europe/London", "GBP"),
    ("America/New_York", "USD"),
    ("Australia/Sydney", "AUD"),
    ("Asia/Tokyo", "JPY"),
    ("Europe/Paris", "EUR"),
    ("America/Los_Angeles", "USD"),
    ("Europe/Oslo", "NOK"),
)
#: (connector type, kW), cycled over the connectors.
KINDS = (("Type2", 11), ("Type2", 22), ("CCS2", 50), ("CCS2", 150), ("CHAdeMO", 50))
QUARTER = timedelta(minutes=15)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


@dataclass(frozen=True)
class SeedSpec:
    sites: int = 100
    chargers_per_site: int = 50
    connectors_per_charger: int = 2
    bookings: int = 100_000
    days: int = 30
    #: Seeded bookings start no earlier than this after now (the booking mode books before).
    free_band: timedelta = timedelta(hours=3)
    seed: int = 1
    #: Where the sites are: within ``region_km`` of this (latitude, longitude), Berlin.
    region: tuple[float, float] = (52.52, 13.405)
    region_km: float = 100.0

    @property
    def connectors(self) -> int:
        return self.sites * self.chargers_per_site * self.connectors_per_charger


@dataclass(frozen=True)
class Connector:
    charge_point_id: str
    connector_id: int
    site_id: int
    connector_type: str
    max_power_kw: Decimal


@dataclass
class Seeded:
    site_ids: list[int]
    connectors: list[Connector]
    bookings: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def tariff_body(index: int, currency: str) -> dict[str, Any]:
    """A time-of-use tariff as ``PUT /api/v1/sites/{id}/tariff`` takes it (covers the week)."""
    base = Decimal("0.30") + Decimal(index % 7) * Decimal("0.02")

    def period(days: list[str], start: str, end: str, factor: str) -> dict[str, Any]:
        price = (base * Decimal(factor)).quantize(Decimal("0.01"))
        return {
            "days": days,
            "start": start,
            "end": end,
            "energy_price_per_kwh": str(price),
            "time_price_per_hour": "0.00" if factor != "1.5" else "1.20",
        }

    return {
        "currency": currency,
        "reservation_fee_per_hour": "0.50",
        "session_fee": "0.35",
        "periods": [
            period(WEEKDAYS, "00:00", "07:00", "0.7"),
            period(WEEKDAYS, "07:00", "17:00", "1.0"),
            period(WEEKDAYS, "17:00", "21:00", "1.5"),
            period(WEEKDAYS, "21:00", "24:00", "0.7"),
            period(["sat", "sun"], "00:00", "24:00", "0.8"),
        ],
    }


def charger_id(site: int, charger: int) -> str:
    return f"BK-S{site:03d}-C{charger:03d}"


def plan_connectors(spec: SeedSpec, site_ids: list[int]) -> list[Connector]:
    connectors = []
    for site_index, site_id in enumerate(site_ids):
        for charger in range(spec.chargers_per_site):
            for n in range(1, spec.connectors_per_charger + 1):
                kinds = site_index + charger * spec.connectors_per_charger + n
                kind, power = KINDS[kinds % len(KINDS)]
                cp_id = charger_id(site_index, charger)
                connectors.append(Connector(cp_id, n, site_id, kind, Decimal(power)))
    return connectors


def floor_quarter(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def plan_windows(
    spec: SeedSpec, now: datetime, rng: random.Random
) -> list[list[tuple[datetime, datetime]]]:
    """Per connector, its booking windows: one per equal slot of the span, never overlapping."""
    begin = floor_quarter(now + spec.free_band) + QUARTER
    span = (now + timedelta(days=spec.days)) - begin
    plans = []
    for index in range(spec.connectors):
        count = spec.bookings // spec.connectors + (index < spec.bookings % spec.connectors)
        slot_quarters = int(span / QUARTER) // max(count, 1)
        windows = []
        for k in range(count):
            length = rng.randint(2, min(16, slot_quarters))  # 30 min .. 4 h
            offset = rng.randint(0, slot_quarters - length)
            start = begin + (k * slot_quarters + offset) * QUARTER
            windows.append((start, start + length * QUARTER))
        plans.append(windows)
    return plans


def random_place(rng: random.Random, centre: tuple[float, float], km: float) -> tuple[float, float]:
    """A point uniform over the disc of ``km`` around ``centre`` (flat-earth offsets: at
    100 km the error is far below what matters to a benchmark)."""
    distance, bearing = km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    latitude = centre[0] + distance * math.cos(bearing) / 111.195
    per_degree = 111.195 * math.cos(math.radians(centre[0]))  # km per degree of longitude
    longitude = centre[1] + distance * math.sin(bearing) / per_degree
    return latitude, longitude


async def insert_sites(connection: asyncpg.Connection, spec: SeedSpec) -> dict[int, Any]:
    """Sites (at random places in the region) and their tariffs; {site id: (zone, Tariff)}."""
    sites: dict[int, Any] = {}
    rng = random.Random(spec.seed + 7)
    for index in range(spec.sites):
        zone, currency = ZONES[index % len(ZONES)]
        latitude, longitude = random_place(rng, spec.region, spec.region_km)
        site_id = await connection.fetchval(
            """INSERT INTO sites (name, timezone, latitude, longitude) VALUES ($1, $2, $3, $4)
               RETURNING id""",
            f"Bench site {index:03d}",
            zone,
            latitude,
            longitude,
        )
        tariff = parse_tariff(tariff_body(index, currency))
        stored = tariff_to_json(tariff)
        await connection.execute(
            """INSERT INTO tariffs (site_id, currency, reservation_fee_per_hour, session_fee,
                                    periods) VALUES ($1, $2, $3, $4, $5)""",
            site_id,
            tariff.currency,
            tariff.reservation_fee_per_hour,
            tariff.session_fee,
            orjson.dumps(stored["periods"]).decode(),
        )
        sites[site_id] = (zone, tariff)
    return sites


async def insert_chargers(connection: asyncpg.Connection, connectors: list[Connector]) -> None:
    chargers = {c.charge_point_id: c.site_id for c in connectors}
    await connection.copy_records_to_table(
        "charge_points", records=list(chargers.items()), columns=["id", "site_id"]
    )
    await connection.copy_records_to_table(
        "connectors",
        records=[
            (c.charge_point_id, c.connector_id, c.connector_type, c.max_power_kw)
            for c in connectors
        ],
        columns=["charge_point_id", "connector_id", "connector_type", "max_power_kw"],
    )


def price_documents(
    sites: dict[int, Any], connectors: list[Connector], now: datetime
) -> dict[tuple[int, Decimal], tuple[str, str, str]]:
    """Per (site, power): a real quote (for a 2 h window tomorrow), the tariff, the zone."""
    start = floor_quarter(now + timedelta(days=1))
    documents = {}
    for key in {(c.site_id, c.max_power_kw) for c in connectors}:
        zone, tariff = sites[key[0]]
        price = quote(tariff, ZoneInfo(zone), start, start + timedelta(hours=2), key[1])
        documents[key] = (_json(quote_to_json(price)), _json(tariff_to_json(tariff)), zone)
    return documents


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()


def booking_records(
    spec: SeedSpec,
    connectors: list[Connector],
    documents: dict[tuple[int, Decimal], tuple[str, str, str]],
    owner: int,
    now: datetime,
) -> list[tuple[Any, ...]]:
    rng = random.Random(spec.seed)
    codes = iter(rng.sample(range(1_000_000), spec.bookings))
    records = []
    for connector, windows in zip(connectors, plan_windows(spec, now, rng), strict=True):
        price, tariff, zone = documents[(connector.site_id, connector.max_power_kw)]
        for start, end in windows:
            during = Range(start, end, lower_inc=True, upper_inc=False)
            cp_id, n = connector.charge_point_id, connector.connector_id
            code = f"{next(codes):06d}"
            records.append(
                (owner, connector.site_id, cp_id, n, during, code, "booked", price, tariff, zone,
                 start, now, now)
            )  # fmt: skip
    return records


BOOKING_COLUMNS = [
    "user_id",
    "site_id",  # A live booking names a connector of its own site (trigger, migration 0013).
    "charge_point_id",
    "connector_id",
    "during",
    "code",
    "status",
    "price",
    "tariff",
    "timezone",
    "next_action_at",
    "created_at",
    "updated_at",
]


async def insert_bookings(
    connection: asyncpg.Connection, records: list[tuple[Any, ...]], owner: int
) -> None:
    columns = BOOKING_COLUMNS
    held = await connection.fetchval(
        """SELECT EXISTS (SELECT 1 FROM information_schema.columns
                          WHERE table_name = 'reservations' AND column_name = 'held')"""
    )
    if held:  # What a booking holds (booking terms, migration 0017): here its window alone.
        columns = [*columns, "held"]
        records = [(*record, record[BOOKING_COLUMNS.index("during")]) for record in records]
    await connection.copy_records_to_table("reservations", records=records, columns=columns)
    await connection.execute(
        """INSERT INTO reservation_history (reservation_id, at, status, reason, charge_point_id,
                                            connector_id)
           SELECT id, created_at, 'booked', 'booked', charge_point_id, connector_id
           FROM reservations WHERE user_id = $1""",
        owner,
    )


async def seed(database_url: str, spec: SeedSpec, now: datetime | None = None) -> Seeded:
    """Sites, tariffs, chargers, connectors and ``spec.bookings`` live bookings; then ANALYZE."""
    now = now or datetime.now(UTC)
    started = time.monotonic()
    timings: dict[str, float] = {}
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            sites = await insert_sites(connection, spec)
            connectors = plan_connectors(spec, list(sites))
            await insert_chargers(connection, connectors)
            owner = await connection.fetchval(
                """INSERT INTO users (email, password_hash, role)
                   VALUES ('seed-owner@bench.invalid', 'not-a-hash', 'driver') RETURNING id"""
            )
            timings["sites, tariffs, chargers"] = time.monotonic() - started
            documents = price_documents(sites, connectors, now)
            records = booking_records(spec, connectors, documents, owner, now)
            mark = time.monotonic()
            await insert_bookings(connection, records, owner)
            timings["COPY bookings + history"] = time.monotonic() - mark
        mark = time.monotonic()
        await connection.execute("ANALYZE")
        timings["ANALYZE"] = time.monotonic() - mark
    finally:
        await connection.close()
    return Seeded(list(sites), connectors, len(records), time.monotonic() - started, timings)
