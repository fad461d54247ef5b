"""Migrations: numbered, applied once, safe when several processes start at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from csms.store.migrations import discover, migrate
from tests.conftest import database_uri


async def fresh_database(postgres_uri: str, name: str) -> str:
    admin = await asyncpg.connect(postgres_uri)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return database_uri(postgres_uri, name)


async def test_concurrent_migrations_apply_each_file_once(postgres_uri: str) -> None:
    uri = await fresh_database(postgres_uri, "migrate_race")
    connections = [await asyncpg.connect(uri) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in connections))
        versions = [m.version for m in discover()]
        assert sorted(v for applied in results for v in applied) == versions  # each exactly once
        rows = await connections[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == versions
        assert await migrate(connections[0]) == []
    finally:
        for c in connections:
            await c.close()


async def test_a_failing_migration_leaves_nothing_half_done(
    postgres_uri: str, tmp_path: Path
) -> None:
    uri = await fresh_database(postgres_uri, "migrate_fail")
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    connection = await asyncpg.connect(uri)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(connection, tmp_path)
        tables = {
            r["tablename"]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        assert "good" in tables and "half" not in tables
        assert [
            r["version"] for r in await connection.fetch("SELECT version FROM schema_migrations")
        ] == [1]
    finally:
        await connection.close()


def test_file_names_must_be_numbered(tmp_path: Path) -> None:
    (tmp_path / "first.sql").write_text("")
    with pytest.raises(RuntimeError):
        discover(tmp_path)


def test_numbers_must_be_unique(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(RuntimeError):
        discover(tmp_path)
