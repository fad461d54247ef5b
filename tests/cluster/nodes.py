"""Several real ``csms serve`` processes on one PostgreSQL, and a loopback TCP balancer in
front of them (what a load balancer does for chargers: a new connection goes to a live node)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from tests.conftest import (
    CsmsProcess,
    clone_database,
    csms_env,
    free_port,
    sign_in_operator,
    start_csms_process,
    stop_csms_process,
)

#: Fast cluster settings for tests (seconds).
FAST = {
    "live_state_flush_interval": "0.05",
    "call_timeout": "5",
    "scheduler_poll_seconds": "0.05",
    "dispatch_retry_seconds": "1",
    "log_level": "INFO",
    "sign_up_per_hour": "1000",
    "sign_in_per_minute": "1000",
    "local_lists": "false",
}


@dataclass
class Node(CsmsProcess):
    node_id: str = ""
    ocpp_port: int = 0
    log_path: Path = field(default_factory=Path)

    def kill(self) -> None:
        """``kill -9``: no goodbye, no flush, its lease left to run out."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextlib.asynccontextmanager
async def cluster(
    postgres_uri: str, workdir: Path, count: int, **settings: str
) -> AsyncIterator[list[Node]]:
    """``count`` csms processes on one new database, each with an operator signed in."""
    url = await clone_database(postgres_uri)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=3)
    assert pool is not None
    nodes: list[Node] = []
    try:
        for n in range(count):
            nodes.append(await asyncio.to_thread(_start, url, workdir, n, settings, pool))
        for node in nodes:
            node.token = await sign_in_operator(pool, node.http_url)
        yield nodes
    finally:
        for node in nodes:
            if node.process is not None and node.process.poll() is None:
                await asyncio.to_thread(stop_csms_process, node.process)
        await pool.close()


def _start(url: str, workdir: Path, n: int, settings: dict[str, str], pool: asyncpg.Pool) -> Node:
    http_port, ocpp_port = free_port(), free_port()
    node_id = f"node-{n}-{os.getpid()}"
    env = csms_env(
        **{**FAST, **settings}, database_url=url, data_dir=str(workdir / f"data-{n}"),
        http_port=str(http_port), ocpp_port=str(ocpp_port), node_id=node_id,
    )
    log_path = workdir / f"{node_id}.log"
    process = start_csms_process(env, http_port, log_path)
    return Node(
        http_url=f"http://127.0.0.1:{http_port}", ocpp_base=f"ws://127.0.0.1:{ocpp_port}/ocpp",
        pool=pool, process=process, env=env, node_id=node_id, ocpp_port=ocpp_port,
        log_path=log_path,
    )


class Balancer:
    """A TCP balancer on loopback: each new connection goes to the next backend that accepts
    it (round robin); a dead backend's connections are cut, as a load balancer's are."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = 0
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def __aenter__(self) -> Balancer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._pipes:
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(len(self.backends)):
            port = self.backends[next(self._turn) % len(self.backends)]
            with contextlib.suppress(OSError):
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                break
        else:
            writer.close()
            return
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        sink.close()
