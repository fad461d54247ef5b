"""Sign-up and sign-in: password hashing off the event loop, opaque bearer tokens."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from csms.clock import Clock
from csms.domain.accounts import ROLES, check_email, check_name, check_password
from csms.domain.credentials import PASSWORD_COST, hash_secret, verify_secret
from csms.domain.rate_limits import SignInLimits
from csms.errors import Unauthenticated, ValidationFailed
from csms.store import users
from csms.store.users import User

# Checked when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = hash_secret(secrets.token_hex(16), PASSWORD_COST)


async def sign_up(
    pool: asyncpg.Pool,
    email: object,
    password: object,
    *,
    role: str,
    name: object = None,
    limit: Callable[[], None] | None = None,
) -> User:
    """A new user. ``limit`` (raising :class:`~csms.errors.RateLimited`) is called once the input
    is valid — a typo costs nothing — and before the password is hashed, which is the cost a
    flood of sign-ups would impose."""
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    email, password, name = check_email(email), check_password(password), check_name(name)
    if limit is not None:
        limit()
    password_hash = await asyncio.to_thread(hash_secret, password, PASSWORD_COST)
    return await users.create(pool, email, password_hash, role, name)


async def sign_in(
    pool: asyncpg.Pool,
    clock: Clock,
    email: object,
    password: object,
    ttl_seconds: int,
    *,
    limits: SignInLimits | None = None,
    address: str = "unknown",
) -> tuple[str, datetime]:
    """A new bearer token for valid credentials, and when it expires.

    With ``limits``, the attempt from client ``address`` is admitted (or refused with
    :class:`~csms.errors.RateLimited`) before anything is looked up or hashed.
    """
    if not isinstance(email, str) or not isinstance(password, str):
        raise ValidationFailed("email and password must be strings")
    attempt = None if limits is None else limits.admit(email, address, clock().timestamp())
    found = await users.find_login(pool, email)
    stored = found[1] if found is not None else _DUMMY_HASH
    if not await asyncio.to_thread(verify_secret, password, stored) or found is None:
        raise Unauthenticated("wrong email or password")
    if limits is not None and attempt is not None:
        limits.succeeded(attempt, clock().timestamp())
    token = secrets.token_urlsafe(32)
    expires_at = clock() + timedelta(seconds=ttl_seconds)
    await users.store_token(pool, token, found[0].id, expires_at)
    return token, expires_at
