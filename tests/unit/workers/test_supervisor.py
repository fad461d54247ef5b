"""The supervisor restarts failing workers, tells a database outage from a fault, and says
which workers are broken."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from csms.workers.supervisor import BROKEN_AFTER, Supervisor, restart_delay


def no_wait(failures_in_a_row: int, *, database_away: bool) -> float:
    return 0.0


def test_restart_delay_doubles_up_to_a_cap_and_stays_short_while_the_database_is_away() -> None:
    assert [restart_delay(n, database_away=False) for n in range(1, 9)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0,
    ]
    assert max(restart_delay(n, database_away=True) for n in range(1, 50)) == 2.0
    assert restart_delay(10_000, database_away=False) == 30.0


async def until(condition: object, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never held")


async def test_a_failing_worker_is_restarted_until_it_runs() -> None:
    supervisor = Supervisor(delay=no_wait)
    runs = 0
    steady = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError(f"failure {runs}")
        steady.set()
        await asyncio.Future()

    supervisor.start("flaky", flaky)
    try:
        await asyncio.wait_for(steady.wait(), 5)
        state = supervisor.states["flaky"]
        assert (runs, state.failures, state.running) == (3, 2, True)
        assert state.last_error == "RuntimeError: failure 2"
        assert supervisor.broken == []
    finally:
        await supervisor.stop()
    assert supervisor.states["flaky"].running is False


async def test_a_worker_failing_for_good_is_broken_but_a_database_outage_is_not() -> None:
    supervisor = Supervisor(delay=no_wait)
    database_failures = 0

    async def bug() -> None:
        raise ValueError("a bug")

    async def database_away() -> None:
        nonlocal database_failures
        database_failures += 1
        raise ConnectionRefusedError("connection refused")

    supervisor.start("bug", bug)
    supervisor.start("waits-for-db", database_away)
    try:
        await until(lambda: supervisor.states["bug"].failures >= BROKEN_AFTER and database_failures > 20)
        assert supervisor.broken == ["bug"]
        assert supervisor.states["waits-for-db"].broken is False
    finally:
        await supervisor.stop()


async def test_a_worker_that_returns_is_started_again() -> None:
    supervisor = Supervisor(delay=no_wait)
    runs = 0

    async def returns() -> None:
        nonlocal runs
        runs += 1

    supervisor.start("returns", returns)
    try:
        await until(lambda: runs >= 3)
    finally:
        await supervisor.stop()
    assert "returned" in (supervisor.states["returns"].last_error or "")


async def test_two_workers_of_one_name_are_refused() -> None:
    supervisor = Supervisor(delay=no_wait)
    supervisor.start("one", asyncio.Future)  # type: ignore[arg-type]
    try:
        with pytest.raises(ValueError):
            supervisor.start("one", asyncio.Future)  # type: ignore[arg-type]
    finally:
        await supervisor.stop()


def test_database_errors_count_as_the_database_away() -> None:
    from csms.store.errors import is_unavailable

    assert is_unavailable(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert is_unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
    assert is_unavailable(FileNotFoundError("no socket"))
    assert not is_unavailable(asyncpg.exceptions.UniqueViolationError("duplicate"))
    assert not is_unavailable(ValueError("bug"))


async def test_a_worker_that_will_not_stop_does_not_hang_the_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(delay=no_wait)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()  # Swallows every cancellation: a bug a stop survives.
        raise asyncio.CancelledError  # Released by the test: now it ends, as cancelled.

    async def polite() -> None:
        await asyncio.sleep(3600)

    supervisor.start("stubborn", stubborn)
    supervisor.start("polite", polite)
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    await supervisor.stop(patience=0.2)
    assert asyncio.get_running_loop().time() - started < 2
    assert "worker stubborn did not stop within 0.2 s" in caplog.text
    assert "polite" not in caplog.text
    release.set()
    await asyncio.sleep(0.05)
