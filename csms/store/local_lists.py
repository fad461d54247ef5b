"""Local authorization lists: the id tags by version, the booking codes meant for each
charger's list (schemas/migrations/0010), and what each charger was sent.

A charger's list at version V is every id tag as of V plus its own listed codes as of V. A code
that shares its name with a card is left out (a card and a live code never share a name, but a
code is taken off its list a sync pass after its booking ends, and a card may take the name in
between): the card is what the name means from then on.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import asyncpg

from csms.domain.authorization import IdTagRecord

#: After a failed attempt, a charger is tried again this much later (not on every pass).
RETRY_AFTER = timedelta(minutes=5)


@dataclasses.dataclass(frozen=True, slots=True)
class Changes:
    """Tags changed and tags removed above a version."""

    changed: list[IdTagRecord]
    removed: list[str]


@dataclasses.dataclass(frozen=True, slots=True)
class SentList:
    charge_point_id: str
    version: int
    entries: int
    synced_at: datetime
    problem: str | None


async def current_version(
    executor: asyncpg.Pool | asyncpg.Connection, charge_point_id: str
) -> int:
    """The number of the latest change to this charger's list (0: none ever). Never below what
    the charger was last sent: tombstones it has been told of are purged."""
    return int(
        await executor.fetchval(
            f"""SELECT GREATEST({_TAG_VERSION},
                   (SELECT max(list_version) FROM local_list_codes WHERE charge_point_id = $1),
                   (SELECT version FROM local_lists
                    WHERE charge_point_id = $1 AND problem IS NULL), 0)""",
            charge_point_id,
        )
    )


#: The number of the latest change to any id tag.
_TAG_VERSION = """(SELECT max(list_version) FROM id_tags),
                  (SELECT max(list_version) FROM id_tag_removals)"""
#: This charger's codes ($1) whose name no card has.
_OWN_CODES = """FROM local_list_codes c WHERE c.charge_point_id = $1
                AND NOT EXISTS (SELECT 1 FROM id_tags t WHERE lower(t.id_tag) = lower(c.code))"""


async def all_tags(
    executor: asyncpg.Pool | asyncpg.Connection, charge_point_id: str
) -> list[IdTagRecord]:
    """Every card, and the codes listed for this charger (expiring with their windows)."""
    rows = await executor.fetch(
        f"""SELECT * FROM (
                SELECT id_tag, parent_id_tag, expiry_date, blocked FROM id_tags
                UNION ALL
                SELECT DISTINCT ON (lower(code)) code, NULL, expires_at, false {_OWN_CODES}
                  AND c.listed) AS entries
            ORDER BY lower(id_tag)""",
        charge_point_id,
    )
    return [IdTagRecord(**dict(row)) for row in rows]


async def changes_since(
    executor: asyncpg.Pool | asyncpg.Connection, charge_point_id: str, version: int
) -> Changes:
    """What changed on this charger's list above ``version``; a name both removed and listed
    (a card deleted, a code on the list now) is listed only."""
    changed = await executor.fetch(
        f"""SELECT id_tag, parent_id_tag, expiry_date, blocked, list_version FROM id_tags
            WHERE list_version > $2
            UNION ALL
            SELECT code, NULL, expires_at, false, list_version {_OWN_CODES}
              AND c.listed AND c.list_version > $2
            ORDER BY list_version""",
        charge_point_id,
        version,
    )
    removed = await executor.fetch(
        f"""SELECT id_tag, list_version FROM id_tag_removals r WHERE list_version > $2
              AND NOT EXISTS (SELECT 1 FROM local_list_codes c WHERE c.charge_point_id = $1
                              AND c.listed AND lower(c.code) = r.tag_key)
            UNION ALL
            SELECT code, list_version {_OWN_CODES} AND NOT c.listed AND c.list_version > $2
              AND NOT EXISTS (SELECT 1 FROM local_list_codes l WHERE l.charge_point_id = $1
                              AND l.listed AND lower(l.code) = lower(c.code))
            ORDER BY list_version""",
        charge_point_id,
        version,
    )
    return Changes(
        [IdTagRecord(row["id_tag"], row["parent_id_tag"], row["expiry_date"], row["blocked"])
         for row in changed],
        [row["id_tag"] for row in removed],
    )


async def list_codes(pool: asyncpg.Pool, now: datetime, lead: timedelta) -> None:
    """Bring the codes meant for local lists in line with the bookings: the code of every live
    booking at a site with ``codes_on_local_list`` whose window starts within ``lead`` and has
    not ended is listed for its charger; every other code is taken off (a tombstone). Tombstones
    a charger has been sent, or whose code expired a day ago, are purged."""
    async with pool.acquire() as connection, connection.transaction():
        # One node at a time (each runs this): the others skip a pass rather than wait.
        if not await connection.fetchval("SELECT pg_try_advisory_xact_lock($1)", _CODES_LOCK):
            return
        await connection.execute(
            f"""WITH wanted AS ({_WANTED})
                INSERT INTO local_list_codes AS c
                    (reservation_id, charge_point_id, code, expires_at, listed)
                SELECT id, charge_point_id, code, upper(during), true FROM wanted
                ON CONFLICT (reservation_id, charge_point_id) DO UPDATE
                SET code = EXCLUDED.code, expires_at = EXCLUDED.expires_at, listed = true
                WHERE (c.code, c.expires_at, c.listed)
                      IS DISTINCT FROM (EXCLUDED.code, EXCLUDED.expires_at, true)""",
            now, lead,
        )
        await connection.execute(
            f"""WITH wanted AS ({_WANTED})
                UPDATE local_list_codes c SET listed = false
                WHERE c.listed AND NOT EXISTS (
                    SELECT 1 FROM wanted w
                    WHERE w.id = c.reservation_id AND w.charge_point_id = c.charge_point_id)""",
            now, lead,
        )
        await connection.execute(
            """DELETE FROM local_list_codes c WHERE NOT c.listed
               AND (c.expires_at < $1::timestamptz - interval '1 day'
                    OR c.list_version <= (SELECT l.version FROM local_lists l
                                          WHERE l.charge_point_id = c.charge_point_id
                                            AND l.problem IS NULL))""",
            now,
        )


#: An arbitrary constant that names "listing codes" among advisory locks.
_CODES_LOCK = 0x6373_6D73_6C6C_6331

#: Live bookings ($1: now, $2: lead) whose codes belong on their chargers' lists.
_WANTED = """SELECT r.id, r.charge_point_id, r.code, r.during FROM reservations r
             JOIN sites s ON s.id = r.site_id
             WHERE s.codes_on_local_list AND r.status IN ('booked', 'active', 'charging')
               AND lower(r.during) - $2::interval <= $1::timestamptz AND upper(r.during) > $1"""


async def sent(pool: asyncpg.Pool, charge_point_id: str) -> SentList | None:
    row = await pool.fetchrow(
        """SELECT charge_point_id, version, entries, synced_at, problem FROM local_lists
           WHERE charge_point_id = $1""",
        charge_point_id,
    )
    return None if row is None else SentList(**dict(row))


async def record(
    pool: asyncpg.Pool,
    charge_point_id: str,
    *,
    version: int,
    entries: int,
    at: datetime,
    problem: str | None = None,
) -> None:
    """What the charger holds now (or, with ``problem``, why it was not brought up to date:
    then the version stays what it was)."""
    await pool.execute(
        """INSERT INTO local_lists AS l (charge_point_id, version, entries, synced_at, problem)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (charge_point_id) DO UPDATE
           SET version = CASE WHEN $5::text IS NULL THEN EXCLUDED.version ELSE l.version END,
               entries = CASE WHEN $5::text IS NULL THEN EXCLUDED.entries ELSE l.entries END,
               synced_at = EXCLUDED.synced_at, problem = EXCLUDED.problem""",
        charge_point_id,
        version if problem is None else -1,
        entries,
        at,
        problem,
    )


async def due(
    pool: asyncpg.Pool, node_id: str, now: datetime, fresh: list[str]
) -> list[str]:
    """Accepted chargers connected to this node that just connected (``fresh``) or whose list
    is behind (or never sent), unless they failed recently; none known not to manage one."""
    rows = await pool.fetch(
        """SELECT cp.id FROM charge_points cp
           LEFT JOIN local_lists l ON l.charge_point_id = cp.id
           WHERE cp.connected_node = $1 AND cp.registration_status = 'accepted'
             AND (cp.supported_profiles IS NULL
                  OR 'localauthlistmanagement' = ANY (
                      SELECT lower(p) FROM unnest(cp.supported_profiles) AS p))
             AND (cp.id = ANY ($4::text[])
                  OR l.charge_point_id IS NULL
                  OR (l.problem IS NULL AND l.version < GREATEST($2, (
                        SELECT max(c.list_version) FROM local_list_codes c
                        WHERE c.charge_point_id = cp.id)))
                  OR (l.problem IS NOT NULL AND l.synced_at < $3))
           ORDER BY cp.id""",
        node_id,
        await pool.fetchval(f"SELECT GREATEST({_TAG_VERSION}, 0)"),
        now - RETRY_AFTER,
        fresh,
    )
    return [row["id"] for row in rows]


async def remember_profiles(pool: asyncpg.Pool, charge_point_id: str, profiles: list[str]) -> None:
    """The charger's SupportedFeatureProfiles, so a charger without local lists is not asked
    again until it boots (boot forgets them)."""
    await pool.execute(
        """UPDATE charge_points SET supported_profiles = $2
           WHERE id = $1 AND supported_profiles IS NULL""",
        charge_point_id,
        profiles,
    )
