"""Sites: where chargers stand, the time zone their tariffs are written in, where they are,
and whether their bookings' codes go on the chargers' local lists."""

from __future__ import annotations

from typing import Any

import asyncpg

from csms.domain.sites import UPDATABLE, Site
from csms.errors import NotFound, SiteInUse
from csms.store.errors import translated

_COLUMNS = """s.id, s.name, s.timezone, s.codes_on_local_list, s.address, s.latitude, s.longitude,
              EXISTS (SELECT 1 FROM tariffs t WHERE t.site_id = s.id) AS has_tariff, s.created_at,
              s.terms"""


def _site(row: asyncpg.Record) -> Site:
    return Site(**dict(row))


async def create(pool: asyncpg.Pool, fields: dict[str, Any]) -> Site:
    """Store a site of checked ``fields`` (:func:`csms.domain.sites.check_site_fields`;
    ``name`` and ``timezone`` required)."""
    with translated():
        row = await pool.fetchrow(
            f"""WITH s AS (
                    INSERT INTO sites (name, timezone, codes_on_local_list, address, latitude,
                                       longitude, terms)
                    VALUES ($1, $2, $3, $4, $5, $6, jsonb_strip_nulls($7)) RETURNING *)
                SELECT {_COLUMNS} FROM s""",
            fields["name"],
            fields["timezone"],
            fields.get("codes_on_local_list", False),
            fields.get("address"),
            fields.get("latitude"),
            fields.get("longitude"),
            fields.get("terms", {}),
        )
    assert row is not None
    return _site(row)


async def get(pool: asyncpg.Pool | asyncpg.Connection, site_id: int) -> Site:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM sites s WHERE s.id = $1", site_id)
    if row is None:
        raise NotFound(f"no site {site_id}")
    return _site(row)


async def update(pool: asyncpg.Pool, site_id: int, changes: dict[str, Any]) -> Site:
    """Change the checked fields given (a None address or coordinate clears it)."""
    assert set(changes) <= UPDATABLE, changes
    # Column names come from UPDATABLE (never from input); values are parameters. Terms given
    # replace those stored, a null one is removed (the default applies again).
    assignments = ", ".join(
        f"terms = jsonb_strip_nulls(terms || ${n})" if name == "terms" else f"{name} = ${n}"
        for n, name in enumerate(changes, start=2)
    )
    if not assignments:
        return await get(pool, site_id)
    with translated():
        row = await pool.fetchrow(
            f"""WITH s AS (UPDATE sites SET {assignments} WHERE id = $1 RETURNING *)
                SELECT {_COLUMNS} FROM s""",
            site_id,
            *changes.values(),
        )
    if row is None:
        raise NotFound(f"no site {site_id}")
    return _site(row)


async def delete(pool: asyncpg.Pool, site_id: int) -> None:
    """Remove a site and its tariff; :class:`SiteInUse` while charge points stand there.

    Past bookings keep its id. A charger registered there meanwhile makes the delete fail on
    its foreign key, which says the same."""
    async with pool.acquire() as connection, connection.transaction():
        chargers = await connection.fetchval(
            "SELECT count(*) FROM charge_points WHERE site_id = $1", site_id
        )
        if chargers:
            raise SiteInUse(
                f"{chargers} charge point(s) stand at site {site_id}: move or remove them first"
            )
        try:
            done = await connection.execute("DELETE FROM sites WHERE id = $1", site_id)
        except asyncpg.ForeignKeyViolationError:
            raise SiteInUse(f"charge points stand at site {site_id}") from None
    if done.endswith(" 0"):
        raise NotFound(f"no site {site_id}")


async def list_page(pool: asyncpg.Pool, *, after: int | None, limit: int) -> list[Site]:
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM sites s
            WHERE ($1::bigint IS NULL OR s.id > $1) ORDER BY s.id LIMIT $2""",
        after,
        limit,
    )
    return [_site(row) for row in rows]


async def with_problems(
    executor: asyncpg.Pool | asyncpg.Connection, site_id: int | None, *, limit: int = 100
) -> list[Site]:
    """Sites that cannot be booked (no tariff), ``site_id`` only when given."""
    rows = await executor.fetch(
        f"""SELECT {_COLUMNS} FROM sites s
            WHERE ($1::bigint IS NULL OR s.id = $1)
              AND NOT EXISTS (SELECT 1 FROM tariffs t WHERE t.site_id = s.id)
            ORDER BY s.id LIMIT $2""",
        site_id,
        limit,
    )
    return [_site(row) for row in rows]


async def window_terms(
    executor: asyncpg.Pool | asyncpg.Connection, site_id: int | None
) -> list[dict[str, Any]]:
    """The stored terms of site ``site_id`` (none: unknown site), or of every site that sets
    its own window lengths or how far ahead (one row per distinct setting)."""
    rows = await executor.fetch(
        """SELECT DISTINCT jsonb_build_object(
                   'min_booking_minutes', terms->'min_booking_minutes',
                   'max_booking_minutes', terms->'max_booking_minutes',
                   'max_days_ahead', terms->'max_days_ahead') AS window
           FROM sites
           WHERE CASE WHEN $1::bigint IS NULL
                      THEN terms ?| array['min_booking_minutes', 'max_booking_minutes',
                                          'max_days_ahead']
                      ELSE id = $1 END""",
        site_id,
    )
    return [{k: v for k, v in row["window"].items() if v is not None} for row in rows]
