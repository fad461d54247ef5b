"""The security profile a charger is registered with, and a raise in progress."""

from __future__ import annotations

import dataclasses

import asyncpg

from csms.errors import NotFound


@dataclasses.dataclass(frozen=True, slots=True)
class SecurityProfile:
    charge_point_id: str
    profile: int
    #: A higher profile the charger was told to use, not yet proved by a connection.
    pending: int | None
    #: Whether an AuthorizationKey is stored (profiles 1 and 2 need one).
    has_key: bool


async def get(pool: asyncpg.Pool, charge_point_id: str) -> SecurityProfile:
    row = await pool.fetchrow(
        """SELECT id AS charge_point_id, security_profile AS profile,
                  security_profile_pending AS pending,
                  authorization_key_hash IS NOT NULL AS has_key
           FROM charge_points WHERE id = $1""",
        charge_point_id,
    )
    if row is None:
        raise NotFound(f"no charge point {charge_point_id!r}")
    return SecurityProfile(**dict(row))


async def profile_of(
    executor: asyncpg.Pool | asyncpg.Connection, charge_point_id: str
) -> int | None:
    """The registered profile alone (None for an unknown charger)."""
    profile: int | None = await executor.fetchval(
        "SELECT security_profile FROM charge_points WHERE id = $1", charge_point_id
    )
    return profile


async def set_profile(pool: asyncpg.Pool, charge_point_id: str, profile: int) -> SecurityProfile:
    """Register ``profile`` now (and forget a raise in progress)."""
    await pool.execute(
        """UPDATE charge_points SET security_profile = $2, security_profile_pending = NULL
           WHERE id = $1""",
        charge_point_id,
        profile,
    )
    return await get(pool, charge_point_id)


async def set_pending(pool: asyncpg.Pool, charge_point_id: str, profile: int) -> SecurityProfile:
    await pool.execute(
        "UPDATE charge_points SET security_profile_pending = $2 WHERE id = $1",
        charge_point_id,
        profile,
    )
    return await get(pool, charge_point_id)


async def promote(pool: asyncpg.Pool, charge_point_id: str, achieved: int) -> bool:
    """A connection proved ``achieved``: a pending raise it meets becomes the profile."""
    done = await pool.fetchval(
        """UPDATE charge_points
           SET security_profile = security_profile_pending, security_profile_pending = NULL
           WHERE id = $1 AND security_profile_pending <= $2
           RETURNING security_profile""",
        charge_point_id,
        achieved,
    )
    return done is not None
