"""Hashing of secrets: charger AuthorizationKeys and user passwords.

Both use scrypt (memory-hard, in the standard library) with a per-secret random salt; the cost
parameters are stored with the hash so they can be raised later without breaking old hashes.
AuthorizationKeys are 16–20 random bytes chosen by the operator (SEC, security profile 1), so a
cheaper cost keeps a reconnect storm of thousands of chargers affordable; passwords are chosen by
people and get the full cost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets


@dataclasses.dataclass(frozen=True, slots=True)
class ScryptCost:
    n: int
    r: int = 8
    p: int = 1


#: ~1 ms and 1 MiB per check: high-entropy machine secrets.
AUTHORIZATION_KEY_COST = ScryptCost(n=2**10)
#: ~40 ms and 16 MiB per check: secrets people choose.
PASSWORD_COST = ScryptCost(n=2**14)

_SCHEME = "scrypt"


def hash_secret(secret: str, cost: ScryptCost) -> str:
    """Return ``scrypt$n$r$p$salt$digest`` (hex) for ``secret``."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret.encode(), salt, cost)
    return f"{_SCHEME}${cost.n}${cost.r}${cost.p}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """True when ``secret`` matches ``stored`` (made by :func:`hash_secret`); constant-time."""
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != _SCHEME:
            return False
        cost = ScryptCost(int(n), int(r), int(p))
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(secret.encode(), salt, cost), expected)


def _scrypt(secret: bytes, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        secret, salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=256 * cost.n * cost.r, dklen=32
    )
