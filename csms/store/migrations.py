"""Numbered, forward-only SQL migrations from ``schemas/migrations/NNNN_name.sql``.

Each file runs in its own transaction and is recorded in ``schema_migrations``. A session-level
advisory lock makes concurrent starts safe: the second process waits, then finds nothing to do.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import asyncpg

from csms.schemas_dir import SCHEMAS_DIR

log = logging.getLogger(__name__)

MIGRATIONS_DIR = SCHEMAS_DIR / "migrations"
_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
# An arbitrary constant that names "csms migrations" among advisory locks.
_LOCK_KEY = 0x6373_6D73


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, in order; numbers must be unique."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise RuntimeError(f"migration file name must be NNNN_name.sql: {path.name}")
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, match.group(2), path)
    return [found[version] for version in sorted(found)]


async def migrate(connection: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply what is missing; return the versions applied now."""
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await connection.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {
            row["version"]
            for row in await connection.fetch("SELECT version FROM schema_migrations")
        }
        applied = []
        for migration in discover(directory):
            if migration.version in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.path.read_text())
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration.version)
        return applied
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
