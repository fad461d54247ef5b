"""The booking benchmark's HTTP side: drivers' accounts and closed-loop request workers.

Each worker sends its next request as soon as the previous answer has been read in full, until
its requests run out or the deadline passes; a request's latency is from just before it is
sent to its last body byte. Answers are inspected after the clock has stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    #: What the caller wants back with the sample (e.g. the slot it tried).
    tag: object = None


@dataclass
class Sample:
    request: Request
    sent_at: float  # time.monotonic()
    seconds: float
    status: int
    size: int
    info: Any = None


Inspect = Callable[[Sample, bytes], Any]


def new_session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=False),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
    )


async def send(
    session: aiohttp.ClientSession, base: str, request: Request, inspect: Inspect | None = None
) -> Sample:
    """One request, timed; a transport failure or timeout is a sample with status 0."""
    headers = {"Authorization": f"Bearer {request.token}"}
    started, wall = time.perf_counter(), time.monotonic()
    try:
        async with session.request(
            request.method, base + request.path, params=request.params, json=request.body,
            headers=headers,
        ) as response:  # fmt: skip
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        body, status = repr(error).encode(), 0
    sample = Sample(request, wall, time.perf_counter() - started, status, len(body))
    if inspect is not None:
        sample.info = inspect(sample, body)
    return sample


async def run_workers(
    session: aiohttp.ClientSession,
    base: str,
    queues: Sequence[Iterable[Request]],
    seconds: float,
    inspect: Inspect | None = None,
) -> tuple[list[Sample], float]:
    """One closed-loop worker per queue (queues may share one iterator); (samples, elapsed)."""
    deadline = time.monotonic() + seconds
    samples: list[Sample] = []

    async def worker(queue: Iterator[Request]) -> None:
        for request in queue:
            if time.monotonic() >= deadline:
                return
            samples.append(await send(session, base, request, inspect))

    started = time.monotonic()
    await asyncio.gather(*(worker(iter(queue)) for queue in queues))
    return samples, time.monotonic() - started


async def post_json(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], expect: int = 201
) -> dict[str, Any]:
    async with session.post(url, json=body) as response:
        answer: dict[str, Any] = await response.json()
        if response.status != expect:
            raise RuntimeError(f"POST {url}: {response.status} {answer}")
        return answer


async def driver_token(session: aiohttp.ClientSession, base: str, email: str) -> str:
    """Sign a driver up (``POST /api/v1/users``) and sign in (``POST /api/v1/tokens``)."""
    credentials = {"email": email, "password": "bench-password-1"}
    await post_json(session, base + "/api/v1/users", credentials)
    answer = await post_json(session, base + "/api/v1/tokens", credentials)
    return str(answer["token"])


async def driver_tokens(
    session: aiohttp.ClientSession, base: str, prefix: str, count: int
) -> list[str]:
    """``count`` drivers, signed up a few at a time (each sign-up is a scrypt hash)."""
    tokens: list[str] = []
    for first in range(0, count, 8):
        batch = range(first, min(first + 8, count))
        tokens += await asyncio.gather(
            *(driver_token(session, base, f"{prefix}-{n}@bench.invalid") for n in batch)
        )
    return tokens
