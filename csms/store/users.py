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
