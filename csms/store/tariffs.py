"""Tariffs, one per site, kept in the form the API shows."""

from __future__ import annotations

from typing import Any

import asyncpg

from csms.domain.tariffs import Tariff, parse_tariff, tariff_to_json
from csms.errors import NotFound, TariffInUse


async def put(pool: asyncpg.Pool, site_id: int, tariff: Tariff) -> dict[str, Any]:
    stored = tariff_to_json(tariff)
    row = await pool.fetchrow(
        """INSERT INTO tariffs (site_id, currency, reservation_fee_per_hour, session_fee, periods)
           SELECT id, $2, $3, $4, $5 FROM sites WHERE id = $1
           ON CONFLICT (site_id) DO UPDATE
           SET currency = EXCLUDED.currency,
               reservation_fee_per_hour = EXCLUDED.reservation_fee_per_hour,
               session_fee = EXCLUDED.session_fee, periods = EXCLUDED.periods, updated_at = now()
           RETURNING site_id, updated_at""",
        site_id,
        tariff.currency,
        tariff.reservation_fee_per_hour,
        tariff.session_fee,
        stored["periods"],
    )
    if row is None:
        raise NotFound(f"no site {site_id}")
    return {"site_id": site_id, **stored, "updated_at": row["updated_at"]}


def from_row(row: asyncpg.Record) -> Tariff:
    """The tariff of a row holding ``currency``, fees and ``periods`` (stored valid)."""
    return parse_tariff(
        {
            "currency": row["currency"],
            "reservation_fee_per_hour": str(row["reservation_fee_per_hour"]),
            "session_fee": str(row["session_fee"]),
            "periods": row["periods"],
        }
    )


async def get(pool: asyncpg.Pool | asyncpg.Connection, site_id: int) -> Tariff | None:
    row = await pool.fetchrow(
        """SELECT currency, reservation_fee_per_hour, session_fee, periods FROM tariffs
           WHERE site_id = $1""",
        site_id,
    )
    return None if row is None else from_row(row)


async def get_json(pool: asyncpg.Pool, site_id: int) -> dict[str, Any] | None:
    """The tariff as the API shows it."""
    row = await pool.fetchrow(
        """SELECT site_id, currency, reservation_fee_per_hour, session_fee, periods, updated_at
           FROM tariffs WHERE site_id = $1""",
        site_id,
    )
    if row is None:
        return None
    return {"site_id": site_id, **tariff_to_json(from_row(row)), "updated_at": row["updated_at"]}


async def delete(pool: asyncpg.Pool, site_id: int) -> None:
    """Remove the site's tariff: the site is no longer offered for booking.

    :class:`TariffInUse` while live bookings at the site were priced by it (each keeps a copy,
    but an operator removing the price of bookings still to come is most likely a mistake:
    cancel or move them first). :class:`NotFound` when the site has no tariff."""
    async with pool.acquire() as connection, connection.transaction():
        # Locking the tariff row first: a booking made meanwhile read it (its connector lock
        # is taken before), or it waits and then finds no tariff.
        exists = await connection.fetchval(
            "SELECT true FROM tariffs WHERE site_id = $1 FOR UPDATE", site_id
        )
        if not exists:
            raise NotFound(f"site {site_id} has no tariff")
        live = await connection.fetchval(
            """SELECT count(*) FROM reservations
               WHERE site_id = $1 AND status IN ('booked', 'active', 'charging')""",
            site_id,
        )
        if live:
            raise TariffInUse(
                f"{live} live booking(s) at site {site_id} were priced by this tariff: "
                "cancel them or let them end first"
            )
        await connection.execute("DELETE FROM tariffs WHERE site_id = $1", site_id)
