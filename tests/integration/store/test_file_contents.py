"""File contents on a real disk (csms.services.files.ContentStore): streamed, content-addressed,
written atomically, nothing left behind by a failed upload."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from csms.services.files import ContentStore


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def contents(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_contents_are_named_by_their_hash_and_stored_once(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "files")
    data = os.urandom(100_000)
    first = await store.write(chunks(data[:1], data[1:50_000], data[50_000:]))
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert first.size_bytes == len(data)
    path = store.path(first.sha256)
    assert path == tmp_path / "files" / first.sha256[:2] / first.sha256
    assert path.read_bytes() == data and await store.exists(first.sha256)
    assert await store.write(chunks(data)) == first
    assert contents(tmp_path) == [path]


async def test_a_failed_upload_leaves_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "files")

    async def broken() -> AsyncIterator[bytes]:
        yield b"half of it"
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await store.write(broken())
    assert contents(tmp_path) == []


async def test_left_overs_of_a_crash_are_swept_by_a_later_write(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "files")
    incoming = tmp_path / "files" / "tmp"
    incoming.mkdir(parents=True)
    old, recent = incoming / "upload-old", incoming / "upload-recent"
    for leftover in (old, recent):
        leftover.write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    written = await store.write(chunks(b"x"))
    # A recent one may be another node's upload in progress: it stays.
    assert contents(tmp_path) == sorted([store.path(written.sha256), recent])
