"""The availability search (API.md ``GET /api/v1/availability``): connectors free for a whole
window, each with the price that applies in it, one page at a time, in either of two orders.

* By site id, charger id, connector id (the default): keyset paging, the cursor names the last
  connector shown and the next page starts right after it.
* Near a place (``near``): connectors of sites within ``radius_km``, nearest first, then the
  cheapest quoted total for the window, then the same tie-break. Sites are first narrowed by
  a latitude/longitude box (``sites_location``, migration 0018) and then by the exact
  great-circle distance, computed in SQL by the formula of :func:`csms.domain.geo.haversine_km`.

The price comes from the tariff in Python (time zones, DST), so SQL cannot order by it. It only
matters among connectors at the same distance (one site's, or several sites' on one spot), so
a page near a place is built from whole sites: the sites in range, nearest first (one small
query), then the free connectors of just enough of them to fill the page, the last distance
complete (a query per batch of sites, usually one). Python orders them fully and cuts the page.
Only the connectors of those sites are checked against the bookings, not all in the radius,
and by site: one index probe finds what the site's live bookings hold in the window, not one
per connector; each site comes back as one row, its free connectors as arrays.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from csms.booking.records import BookableConnector
from csms.booking.store import BOOKABLE_COLUMNS, BOOKABLE_FROM, bookable_connector
from csms.domain.geo import EARTH_RADIUS_KM, Point, bounding_box
from csms.domain.pricing import Quote, quote, quote_to_json
from csms.domain.search_pages import NearPosition, Position, SitePosition, encode_cursor
from csms.domain.terms import LOOSEST, BookingTerms, loosest_window, terms_json
from csms.domain.windows import WindowRules, check_window
from csms.store import sites, tariffs

#: Decimals of ``distance_km`` in answers: metres, more than a driver needs, less than noise.
DISTANCE_DECIMALS = 3


@dataclasses.dataclass(frozen=True, slots=True)
class Near:
    """Only sites within ``radius_km`` of ``point`` (great circle), nearest first."""

    point: Point
    radius_km: float


@dataclasses.dataclass(frozen=True, slots=True)
class Search:
    """What a driver searches for: a window, the filters (None: any), the order (``near`` or
    by site) and the page: at most ``limit`` connectors, after ``after``."""

    start: datetime
    end: datetime
    site_id: int | None = None
    connector_type: str | None = None
    min_power_kw: Decimal | None = None
    energy_kwh: Decimal | None = None
    near: Near | None = None
    limit: int = 50
    #: Where the previous page ended (its type matches ``near``: the API checks).
    after: Position | None = None
    #: The terms of a site that sets none of its own (the installation's).
    defaults: BookingTerms = dataclasses.field(default_factory=BookingTerms)


def _term(name: str) -> str:
    """A whole-minute term of site ``s`` as an interval: what it sets, else the default ($7)."""
    return (
        f"make_interval(mins => COALESCE((s.terms->>'{name}')::int, ($7::jsonb->>'{name}')::int))"
    )


#: The one statement of "this connector is free for all of [$1, $2)": nothing a live booking
#: of it holds overlaps what a booking of the window would hold by its site's terms
#: (csms.domain.terms: early start before, late stop and buffer after).
_FREE_FOR_WINDOW = f"""NOT EXISTS (
    SELECT 1 FROM reservations r
    WHERE r.charge_point_id = c.charge_point_id AND r.connector_id = c.connector_id
      AND r.status IN ('booked', 'active', 'charging')
      AND r.held && tstzrange($1::timestamptz - {_term("early_start_minutes")},
                              $2::timestamptz + {_term("late_stop_minutes")}
                                              + {_term("buffer_minutes")}))"""

#: The site's own window rules (the search checked the loosest any site may have).
_WINDOW_ALLOWED = f"""$2::timestamptz - $1::timestamptz BETWEEN {_term("min_booking_minutes")}
                     AND {_term("max_booking_minutes")}
  AND $1::timestamptz <= $6::timestamptz + make_interval(
      days => COALESCE((s.terms->>'max_days_ahead')::int, ($7::jsonb->>'max_days_ahead')::int))"""

#: The search's conditions on a bookable connector but whether it is free; $1-$7 in every
#: query that checks them.
_MATCHES = f"""
  AND {_WINDOW_ALLOWED}
  AND ($3::bigint IS NULL OR s.id = $3)
  AND ($4::text IS NULL OR lower(c.connector_type) = lower($4))
  AND ($5::numeric IS NULL OR c.max_power_kw >= $5)
  -- A window about to start also needs the connector usable now: online and reported free.
  AND ($1 > $6::timestamptz + interval '15 minutes'
       OR (cp.connected_node IS NOT NULL AND c.status IN ('Available', 'Reserved')))"""

#: Page by site: $8 the row count wanted, $9-$11 the last row shown (NULL: first page).
BY_SITE_SQL = f"""SELECT {BOOKABLE_COLUMNS} {BOOKABLE_FROM} {_MATCHES} AND {_FREE_FOR_WINDOW}
  AND ($9::bigint IS NULL
       OR (s.id, c.charge_point_id, c.connector_id) > ($9::bigint, $10::text, $11::integer))
ORDER BY s.id, c.charge_point_id, c.connector_id
LIMIT $8"""

#: Great-circle km from ($1, $2) to site ``s``: the haversine formula of csms.domain.geo.
_DISTANCE = f"""(2 * {EARTH_RADIUS_KM} * asin(sqrt(least(1.0,
    sin(radians(s.latitude - $1) / 2) ^ 2
    + cos(radians($1)) * cos(radians(s.latitude)) * sin(radians(s.longitude - $2) / 2) ^ 2))))"""

#: Sites within $3 km of ($1, $2) and at least $4 km from it (the last distance shown; -1 on
#: the first page), nearest first, with how many connectors each has that match the filters
#: ($5 site, $6 type, $7 power: an upper bound of what it may offer). $8-$13: the box.
NEAR_SITES_SQL = f"""SELECT s.id, d.km AS distance_km,
       (SELECT count(*) FROM charge_points cp JOIN connectors c ON c.charge_point_id = cp.id
        WHERE cp.site_id = s.id
          AND ($6::text IS NULL OR lower(c.connector_type) = lower($6))
          AND ($7::numeric IS NULL OR c.max_power_kw >= $7)) AS connectors
FROM sites s CROSS JOIN LATERAL (SELECT {_DISTANCE} AS km) d
WHERE s.latitude BETWEEN $8 AND $9
  AND (s.longitude BETWEEN $10 AND $11 OR s.longitude BETWEEN $12 AND $13)
  AND d.km <= $3 AND d.km >= $4
  AND ($5::bigint IS NULL OR s.id = $5)
ORDER BY d.km, s.id"""

#: What the live bookings at the sites $8 hold that a booking of the window would need: one
#: probe per site of ``reservations_site_held`` (migration 0020) finds the few bookings in the
#: way, where a probe per connector (as :data:`_FREE_FOR_WINDOW`) costs ~20 µs each. A live
#: booking's ``site_id`` is its charger's (trigger ``reservations_live_connector``).
_TAKEN_AT_SITES = f"""SELECT r.charge_point_id, r.connector_id
    FROM sites s JOIN reservations r ON r.site_id = s.id
    WHERE s.id = ANY($8::bigint[]) AND r.status IN ('booked', 'active', 'charging')
      AND r.held && tstzrange($1::timestamptz - {_term("early_start_minutes")},
                              $2::timestamptz + {_term("late_stop_minutes")}
                                              + {_term("buffer_minutes")})"""

#: The free connectors of the sites $8, one row per site: the site's and its tariff's columns
#: once (the tariff's periods are the bulk of a row), its free connectors as arrays, ordered.
NEAR_CONNECTORS_SQL = f"""WITH taken AS MATERIALIZED ({_TAKEN_AT_SITES})
SELECT s.id AS site_id, s.name AS site_name, s.timezone, s.terms AS site_terms,
       t.currency, t.reservation_fee_per_hour, t.session_fee, t.periods,
       array_agg(c.charge_point_id ORDER BY c.charge_point_id, c.connector_id) AS charge_points,
       array_agg(c.connector_id ORDER BY c.charge_point_id, c.connector_id) AS connectors,
       array_agg(c.connector_type ORDER BY c.charge_point_id, c.connector_id) AS types,
       array_agg(c.max_power_kw ORDER BY c.charge_point_id, c.connector_id) AS powers
{BOOKABLE_FROM} {_MATCHES}
  AND s.id = ANY($8::bigint[])
  AND NOT EXISTS (SELECT 1 FROM taken
                  WHERE taken.charge_point_id = c.charge_point_id
                    AND taken.connector_id = c.connector_id)
GROUP BY s.id, t.site_id"""


def site_connectors(row: asyncpg.Record) -> list[BookableConnector]:
    """The connectors of one row of :data:`NEAR_CONNECTORS_SQL`."""
    columns = zip(row["charge_points"], row["connectors"], row["types"], row["powers"], strict=True)
    return [
        BookableConnector(
            charge_point, connector, kind, power, row["site_id"], row["site_name"],
            row["timezone"], row["site_terms"], row,
        )
        for charge_point, connector, kind, power in columns
    ]  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class _Found:
    connector: BookableConnector
    price: Quote
    distance_km: float | None

    def position(self) -> Position:
        if self.distance_km is None:
            c = self.connector
            return SitePosition(c.site_id, c.charge_point_id, c.connector_id)
        return self.near_position()

    def near_position(self) -> NearPosition:
        c, distance = self.connector, self.distance_km
        assert distance is not None, "only connectors found near a place have a distance"
        return NearPosition(
            distance, self.price.total, c.site_id, c.charge_point_id, c.connector_id
        )


async def availability(pool: asyncpg.Pool, now: datetime, search: Search) -> dict[str, Any]:
    """One page of connectors free for the whole window, each with the window's price (and
    its distance when near a place); ``next_cursor`` None on the last page. Each site's own
    window rules and margins apply (:mod:`csms.domain.terms`); a window no site could allow
    is refused (:class:`~csms.domain.windows.InvalidWindow`)."""
    check_window(search.start, search.end, now, LOOSEST)
    async with pool.acquire() as connection:
        async with connection.transaction():
            await _plan_for_values(connection)
            if search.near is None:
                rows = await connection.fetch(BY_SITE_SQL, *by_site_arguments(search, now))
                found = _priced([bookable_connector(row) for row in rows], {}, search)
            else:
                found = _past(await _near(connection, search, search.near, now), search.after)
        if not found:
            # The query applied each site's window rules; nothing found may mean that no
            # site allows this window, which the driver is told (only then: it costs a query).
            check_window(search.start, search.end, now, await _window_rules(connection, search))
        skipped = await sites.with_problems(connection, search.site_id)
    shown = found[: search.limit]
    more = len(found) > search.limit
    return {
        "start": search.start,
        "end": search.end,
        "connectors": _connectors_json(shown, search.defaults),
        # Sites never offered whatever the window, and why: the operator's to-do list.
        "unbookable_sites": [
            {"id": site.id, "name": site.name, "problems": site.problems} for site in skipped
        ],
        "next_cursor": encode_cursor(shown[-1].position()) if more else None,
    }


async def _window_rules(connection: asyncpg.Connection, search: Search) -> WindowRules:
    """The site's own rules when the search names one, else rules that let through every
    window some site allows."""
    stored = await sites.window_terms(connection, search.site_id)
    if search.site_id is not None:
        return BookingTerms.merged(search.defaults, stored[0] if stored else {}).window_rules
    return loosest_window(search.defaults, stored)


async def _plan_for_values(connection: asyncpg.Connection) -> None:
    """Have this transaction's queries planned for their values every time.

    The driver keeps statements prepared, and after five runs PostgreSQL may switch to the
    generic plan, which cannot know that the optional filters are NULL nor how few rows a page
    needs: measured with 10,000 connectors, it checks every connector before sorting (0.8 s)
    where the plan for the values stops after a page (5 ms).
    """
    await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")


async def _plan_once(connection: asyncpg.Connection) -> None:
    """Have this transaction's queries from now on use their one generic plan.

    For :data:`NEAR_CONNECTORS_SQL` that plan is the one for the values (the sites named bound
    everything), and planning it for the values cost more than running it: 0.7 of 1.1 ms of
    PostgreSQL's time (10,000 connectors, 100,000 bookings).
    """
    await connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")


async def _near(
    connection: asyncpg.Connection, search: Search, near: Near, now: datetime
) -> list[_Found]:
    """The free connectors of the nearest sites, whole sites at a time, until more than a page
    lies past the cursor (or no site is left); every distance reached is complete."""
    in_range = await connection.fetch(NEAR_SITES_SQL, *near_sites_arguments(search, near))
    after = search.after if isinstance(search.after, NearPosition) else None  # Checked above.
    candidates = [site for site in in_range if site["connectors"]]
    await _plan_once(connection)
    distances = {site["id"]: site["distance_km"] for site in candidates}
    found: list[_Found] = []
    past, taken, rounds = 0, 0, 0
    while taken < len(candidates) and past <= search.limit:
        # Connectors count as free until checked: if too many are not, ask twice as many.
        batch = _batch(candidates, taken, (search.limit + 1 - past) * 2**rounds)
        taken, rounds = taken + len(batch), rounds + 1
        arguments = near_connectors_arguments(search, now, batch)
        rows = await connection.fetch(NEAR_CONNECTORS_SQL, *arguments)
        more = _priced([c for row in rows for c in site_connectors(row)], distances, search)
        found += more
        past += sum(1 for f in more if after is None or f.near_position() > after)
    return found


def _batch(sites_in_range: list[asyncpg.Record], start: int, wanted: int) -> list[int]:
    """Ids of the sites from ``start`` on with at least ``wanted`` connectors between them,
    and any more at the same distance as the last (so that no distance is cut in two)."""
    batch: list[int] = []
    count, last = 0, None
    for site in sites_in_range[start:]:
        if count >= wanted and site["distance_km"] != last:
            break
        batch.append(site["id"])
        count, last = count + site["connectors"], site["distance_km"]
    return batch


def by_site_arguments(search: Search, now: datetime) -> tuple[Any, ...]:
    """The parameters of :data:`BY_SITE_SQL` for ``search`` (the benchmark runs it too)."""
    after = search.after
    if after is not None and not isinstance(after, SitePosition):
        raise TypeError("a search by site continues from a SitePosition")
    return (
        *_common(search, now),
        search.limit + 1,  # One more than shown tells whether another page follows.
        None if after is None else after.site_id,
        None if after is None else after.charge_point_id,
        None if after is None else after.connector_id,
    )


def near_connectors_arguments(
    search: Search, now: datetime, site_ids: list[int]
) -> tuple[Any, ...]:
    """The parameters of :data:`NEAR_CONNECTORS_SQL`: ``search``'s, at the sites named."""
    return (*_common(search, now), site_ids)


def near_sites_arguments(search: Search, near: Near) -> tuple[Any, ...]:
    """The parameters of :data:`NEAR_SITES_SQL` for ``search`` near ``near``."""
    after = search.after
    if after is not None and not isinstance(after, NearPosition):
        raise TypeError("a search near a place continues from a NearPosition")
    box = bounding_box(near.point, near.radius_km)
    (west, east), (west2, east2) = box.longitudes
    return (
        near.point.latitude,
        near.point.longitude,
        near.radius_km,
        -1.0 if after is None else after.distance_km,  # Below any distance: from the start.
        search.site_id,
        search.connector_type,
        search.min_power_kw,
        box.min_latitude,
        box.max_latitude,
        west,
        east,
        west2,
        east2,
    )


def _past(found: list[_Found], after: Position | None) -> list[_Found]:
    """Near a place: ordered fully (cheapest first among equals in distance), then only
    those past where the previous page ended."""
    found = sorted(found, key=_Found.near_position)
    if isinstance(after, NearPosition):
        found = [f for f in found if f.near_position() > after]
    return found


def _common(search: Search, now: datetime) -> tuple[Any, ...]:
    """$1-$7 of either query."""
    return (
        search.start,
        search.end,
        search.site_id,
        search.connector_type,
        search.min_power_kw,
        now,
        terms_json(search.defaults),
    )


def _priced(
    connectors: list[BookableConnector], distances: dict[int, float], search: Search
) -> list[_Found]:
    """``connectors`` with their prices (and their sites' ``distances``, if any)."""
    quotes: dict[tuple[int, Decimal], Quote] = {}  # Same site and power: same price.
    found = []
    for connector in connectors:
        key = (connector.site_id, connector.max_power_kw)
        if key not in quotes:
            quotes[key] = price(connector, search.start, search.end, search.energy_kwh)
        found.append(_Found(connector, quotes[key], distances.get(connector.site_id)))
    return found


def price(
    connector: BookableConnector, start: datetime, end: datetime, energy_kwh: Decimal | None
) -> Quote:
    """The quote for booking [start, end) on ``connector`` by its site's tariff."""
    tariff = tariffs.from_row(connector.tariff)
    return quote(
        tariff, ZoneInfo(connector.timezone), start, end, connector.max_power_kw, energy_kwh
    )


def _connectors_json(shown: list[_Found], defaults: BookingTerms) -> list[dict[str, Any]]:
    """The ``connectors`` of the answer. Connectors of one site share its ``site`` object and
    those of one price its ``price`` object: a page is mostly a few sites' connectors."""
    site_objects: dict[int, dict[str, Any]] = {}
    price_objects: dict[int, dict[str, Any]] = {}  # By id: _priced shares equal quotes.
    items = []
    for found in shown:
        connector = found.connector
        site = site_objects.get(connector.site_id)
        if site is None:
            site = site_objects[connector.site_id] = _site_json(found, defaults)
        price = price_objects.get(id(found.price))
        if price is None:
            price = price_objects[id(found.price)] = quote_to_json(found.price)
        item: dict[str, Any] = {
            "charge_point_id": connector.charge_point_id,
            "connector_id": connector.connector_id,
            "site": site,
            "connector_type": connector.connector_type,
            "max_power_kw": float(connector.max_power_kw),  # A measure, not money: a number.
            "price": price,
        }
        if "distance_km" in site:
            item["distance_km"] = site["distance_km"]
        items.append(item)
    return items


def _site_json(found: _Found, defaults: BookingTerms) -> dict[str, Any]:
    connector = found.connector
    site: dict[str, Any] = {
        "id": connector.site_id,
        "name": connector.site_name,
        "timezone": connector.timezone,
        "problems": [],  # A site with a problem offers nothing (see unbookable_sites).
        "terms": terms_json(BookingTerms.merged(defaults, connector.site_terms)),
    }
    if found.distance_km is not None:
        site["distance_km"] = round(found.distance_km, DISTANCE_DECIMALS)
    return site
