"""Users (drivers and operators) and their API tokens."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime

import asyncpg

from csms.store.errors import translated


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    role: str
    name: str | None = None


async def create(
    pool: asyncpg.Pool, email: str, password_hash: str, role: str, name: str | None = None
) -> User:
    with translated():
        row = await pool.fetchrow(
            """INSERT INTO users (email, password_hash, role, name) VALUES ($1, $2, $3, $4)
               RETURNING id, email, role, name""",
            email,
            password_hash,
            role,
            name,
        )
    assert row is not None
    return User(**dict(row))


async def find_login(pool: asyncpg.Pool, email: str) -> tuple[User, str] | None:
    """The user with ``email`` (any case) and their password hash."""
    row = await pool.fetchrow(
        "SELECT id, email, role, name, password_hash FROM users WHERE lower(email) = lower($1)",
        email,
    )
    if row is None:
        return None
    values = dict(row)
    password_hash = values.pop("password_hash")
    return User(**values), password_hash


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def store_token(pool: asyncpg.Pool, token: str, user_id: int, expires_at: datetime) -> None:
    await pool.execute(
        "INSERT INTO api_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        _digest(token),
        user_id,
        expires_at,
    )


async def user_for_token(pool: asyncpg.Pool, token: str, now: datetime) -> User | None:
    row = await pool.fetchrow(
        """SELECT u.id, u.email, u.role, u.name FROM api_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = $1 AND t.expires_at > $2""",
        _digest(token),
        now,
    )
    return None if row is None else User(**dict(row))


async def revoke_token(pool: asyncpg.Pool, token: str) -> None:
    """Sign out: the token stops working at once (on every node: they all read this table)."""
    await pool.execute("DELETE FROM api_tokens WHERE token_hash = $1", _digest(token))


async def revoke_user_tokens(pool: asyncpg.Pool, user_id: int) -> bool:
    """Delete every token of a user; False when there is no such user."""
    # A data-modifying CTE runs whether or not the query reads it: one round trip, one snapshot.
    exists: bool = await pool.fetchval(
        """WITH revoked AS (DELETE FROM api_tokens WHERE user_id = $1)
           SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)""",
        user_id,
    )
    return exists


#: Expired tokens deleted per statement: each batch is its own short transaction, so a large
#: backlog never holds many row locks or one long transaction.
PURGE_BATCH = 1000


async def purge_expired_tokens(pool: asyncpg.Pool, now: datetime, batch: int = PURGE_BATCH) -> int:
    """Delete the tokens that expired by ``now``, in batches; return how many were deleted.

    ``SKIP LOCKED`` lets several nodes purge at once without waiting for each other.
    """
    total = 0
    while True:
        deleted: int = await pool.fetchval(
            """WITH doomed AS (
                   SELECT token_hash FROM api_tokens WHERE expires_at <= $1
                   LIMIT $2 FOR UPDATE SKIP LOCKED),
               gone AS (
                   DELETE FROM api_tokens t USING doomed d WHERE t.token_hash = d.token_hash
                   RETURNING 1)
               SELECT count(*) FROM gone""",
            now,
            batch,
        )
        total += deleted
        if deleted < batch:
            return total
