"""Supervision of background work: every worker is restarted with backoff when it fails.

A worker is a coroutine function that runs until cancelled. When it raises (or returns), the
supervisor logs why, counts it, waits, and starts it again. The wait grows with failures in a
row (:func:`restart_delay`) and is short while the database is away — reconnecting is cheap and
the workers should resume within seconds of it coming back. A worker that keeps failing for
another reason (a bug, a broken server) is *broken*: it is still restarted, but ``/healthz``
reports it, so an orchestrator can restart the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

from csms.store.errors import is_unavailable

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[None]]

#: Restart waits: doubling from BASE up to CAP; while the database is away, at most DB_CAP.
BASE_DELAY = 0.5
CAP_DELAY = 30.0
DB_CAP_DELAY = 2.0
#: Failures in a row, for reasons other than the database, that make a worker broken.
BROKEN_AFTER = 5
#: A run this long (seconds) counts as a recovery: the failures in a row start again from 0.
STABLE_AFTER = 60.0


def restart_delay(failures_in_a_row: int, *, database_away: bool) -> float:
    """Seconds to wait before the next start after ``failures_in_a_row`` (>= 1) failures.

    >>> [restart_delay(n, database_away=False) for n in (1, 2, 3, 8)]
    [0.5, 1.0, 2.0, 30.0]
    >>> restart_delay(8, database_away=True)
    2.0
    """
    delay: float = BASE_DELAY * 2.0 ** min(max(failures_in_a_row - 1, 0), 16)
    return min(delay, DB_CAP_DELAY if database_away else CAP_DELAY)


@dataclasses.dataclass(slots=True)
class WorkerState:
    """What ``/metrics`` and ``/healthz`` say of one worker."""

    name: str
    running: bool = False
    #: Every failure since start.
    failures: int = 0
    #: Starts after a failure (a failure while stopping is not followed by one).
    restarts: int = 0
    #: Failures since the last stable run, and those of them not caused by the database.
    failures_in_a_row: int = 0
    faults_in_a_row: int = 0
    last_error: str | None = None

    @property
    def broken(self) -> bool:
        return self.faults_in_a_row >= BROKEN_AFTER


#: How long stopping waits for the workers to end.
STOP_PATIENCE = 10.0


class Supervisor:
    """Runs named workers until :meth:`stop`, restarting each when it fails."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        delay: Callable[..., float] = restart_delay,
    ) -> None:
        self._monotonic = monotonic
        #: The wait before a restart, from the failures in a row (a test may shorten it).
        self.delay = delay
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.states: dict[str, WorkerState] = {}

    def start(self, name: str, work: Work) -> None:
        if name in self._tasks:
            raise ValueError(f"a worker named {name!r} is already running")
        self.states[name] = WorkerState(name)
        self._tasks[name] = asyncio.create_task(self._keep_running(name, work), name=name)

    @property
    def broken(self) -> list[str]:
        """Names of the workers that keep failing for reasons other than the database."""
        return sorted(name for name, state in self.states.items() if state.broken)

    async def stop(self, patience: float = STOP_PATIENCE) -> None:
        """Cancel every worker and wait until all have ended, ``patience`` seconds at most: a
        stop never hangs on one that does not end (it is named in the log and left behind)."""
        tasks = dict(self._tasks)
        self._tasks.clear()
        for task in tasks.values():
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks.values(), timeout=patience)
        for name, task in tasks.items():
            if task in pending:
                log.error("worker %s did not stop within %s s; left behind", name, patience)

    async def _keep_running(self, name: str, work: Work) -> None:
        state = self.states[name]
        first = True
        while True:
            if not first:
                state.restarts += 1
            first = False
            started = self._monotonic()
            state.running = True
            try:
                await work()
                error: BaseException = RuntimeError("the worker returned")
            except asyncio.CancelledError:
                state.running = False
                raise
            except Exception as failure:
                error = failure
            state.running = False
            if self._monotonic() - started >= STABLE_AFTER:
                state.failures_in_a_row = state.faults_in_a_row = 0
            await asyncio.sleep(self._record(state, error))

    def _record(self, state: WorkerState, error: BaseException) -> float:
        """Count and log a failure; return how long to wait before the restart."""
        database_away = is_unavailable(error)
        state.failures += 1
        state.failures_in_a_row += 1
        state.faults_in_a_row = 0 if database_away else state.faults_in_a_row + 1
        state.last_error = f"{type(error).__name__}: {error}"
        delay = self.delay(state.failures_in_a_row, database_away=database_away)
        if database_away:
            log.warning("%s: database unavailable (%s); restarting in %.1f s",
                        state.name, state.last_error, delay)
        else:
            log.error("%s failed; restarting in %.1f s", state.name, delay, exc_info=error)
        return delay


async def woken_or_after(wake: asyncio.Event, seconds: float) -> None:
    """Return when ``wake`` is set or after ``seconds``, whichever comes first, and clear it:
    how a worker waits for its next pass."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
    wake.clear()
