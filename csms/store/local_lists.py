"""Local authorization lists: the id tags by version, and what each charger was sent."""

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


async def current_version(executor: asyncpg.Pool | asyncpg.Connection) -> int:
    """The number of the latest change to any id tag (0: none ever)."""
    return int(
        await executor.fetchval(
            """SELECT GREATEST((SELECT max(list_version) FROM id_tags),
                               (SELECT max(list_version) FROM id_tag_removals), 0)"""
        )
    )


async def all_tags(executor: asyncpg.Pool | asyncpg.Connection) -> list[IdTagRecord]:
    rows = await executor.fetch(
        """SELECT id_tag, parent_id_tag, expiry_date, blocked FROM id_tags
           ORDER BY lower(id_tag)"""
    )
    return [IdTagRecord(**dict(row)) for row in rows]


async def changes_since(executor: asyncpg.Pool | asyncpg.Connection, version: int) -> Changes:
    changed = await executor.fetch(
        """SELECT id_tag, parent_id_tag, expiry_date, blocked FROM id_tags
           WHERE list_version > $1 ORDER BY list_version""",
        version,
    )
    removed = await executor.fetch(
        "SELECT id_tag FROM id_tag_removals WHERE list_version > $1 ORDER BY list_version",
        version,
    )
    return Changes(
        [IdTagRecord(**dict(row)) for row in changed], [row["id_tag"] for row in removed]
    )


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
                  OR (l.problem IS NULL AND l.version < $2)
                  OR (l.problem IS NOT NULL AND l.synced_at < $3))
           ORDER BY cp.id""",
        node_id,
        await current_version(pool),
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
