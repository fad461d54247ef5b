"""``csms serve --workers N``: one machine, all its cores (Linux).

A small supervising parent runs N workers, each ``python -m csms serve`` and a full csms node
(node id ``<the parent's CSMS_NODE_ID>-w<k>``, kept across restarts: a new worker at once
forgets the connections its predecessor left). They listen on the same ports with
``SO_REUSEPORT``: the kernel spreads new connections over them. The parent serves nothing:

- *The database is the parent's.* Without ``CSMS_DATABASE_URL`` it starts, owns and restarts
  the embedded PostgreSQL; workers get its URL as ``CSMS_DATABASE_URL`` and never run one, so
  a worker's crash cannot take it down. Migrations run once, here, before any worker starts.
- *Supervision.* A worker that exits while csms runs is started again after a backoff; one
  that died within seconds of starting :data:`GIVE_UP_AFTER` times in a row is given up (an
  error is logged); when every worker is given up the parent stops with exit code 1.
- *Readiness.* ``csms is ready`` is printed once, when every worker has said it serves.
- *Stop.* SIGTERM or SIGINT: SIGTERM to every worker, SIGKILL to those still running after
  :data:`STOP_TIMEOUT` seconds, then the embedded database stops; exit code 0.
- *No orphans.* Workers run in sessions of their own (a terminal's Ctrl-C reaches the parent
  only) and get SIGTERM when the parent dies, even by ``kill -9`` (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from csms.errors import ConfigurationError
from csms.settings import Settings
from csms.store.database import create_pool, database_url
from csms.store.embedded import EmbeddedPostgres
from csms.store.migrations import migrate

log = logging.getLogger(__name__)

#: What a worker prints once it serves; the parent prints it once, for all of them.
READY_LINE = b"csms is ready"
#: Seconds workers have to stop after SIGTERM before they are killed.
STOP_TIMEOUT = 20.0
#: A worker that exits sooner than this after its start died "at once"; after this many such
#: deaths in a row it is not started again (a bad setting, a port taken: it would never run).
QUICK_EXIT_SECONDS = 10.0
GIVE_UP_AFTER = 5
_POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


async def serve_workers(settings: Settings, *, demo: bool = False) -> int:
    """Run ``settings.workers`` workers until SIGINT or SIGTERM; return the exit code (0 after
    a clean stop, 1 when every worker kept dying). :class:`ConfigurationError` where it cannot
    work (not Linux, a port 0 or in use). Until the workers start, signals act as by default."""
    check_supported(settings)
    async with database_url(settings.database_url, settings.data_dir) as (url, embedded):
        await _migrate(url, settings.db_start_patience)
        supervisor = Supervisor(settings, url, demo=demo)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, supervisor.stop.set)
        keeper = asyncio.create_task(_keep_running(embedded)) if embedded is not None else None
        try:
            return await supervisor.run()
        finally:
            log.info("stopping the workers")
            await supervisor.stop_workers()
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper


def check_supported(settings: Settings) -> None:
    """Raise :class:`ConfigurationError` unless the workers can share the ports here."""
    if _LIBC is None or not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigurationError(
            "CSMS_WORKERS (--workers) above 1 needs Linux: SO_REUSEPORT spreads connections "
            "over the workers, PR_SET_PDEATHSIG stops them with their parent"
        )
    ports = [settings.http_port, settings.ocpp_port, settings.ocpp_plain_port]
    if 0 in ports[:2]:
        raise ConfigurationError(
            "with CSMS_WORKERS above 1, CSMS_HTTP_PORT and CSMS_OCPP_PORT must be fixed, not 0"
        )
    for port in sorted({port for port in ports if port}):
        _check_free(settings.host, port)


def _check_free(host: str, port: int) -> None:
    """Refuse a port something listens on: with SO_REUSEPORT the workers would share it with
    any other server of this user (a second csms, say) instead of failing to start."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(address)
    except OSError as error:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error}") from None


async def _migrate(url: str, patience: float) -> None:
    """Apply the migrations once, before any worker starts (the workers' find nothing to do)."""
    pool = await create_pool(url, min_size=1, max_size=1, patience=patience)
    try:
        async with pool.acquire() as connection:
            await migrate(connection)
    finally:
        await pool.close()


async def _keep_running(embedded: EmbeddedPostgres) -> None:
    """Start the embedded PostgreSQL again whenever it is gone; runs until cancelled."""
    while True:
        try:
            await embedded.watch()
        except Exception:
            log.exception("the embedded PostgreSQL did not start again; trying again in 1 s")
            await asyncio.sleep(1.0)


def _dies_with(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: the kernel sends the worker SIGTERM when the parent's thread that
    started it ends (the event loop's, which lives as long as the parent)."""

    def arrange() -> None:  # pragma: no cover - runs in the child, between fork and exec
        assert _LIBC is not None
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # The parent died before prctl: no signal would come.
            os._exit(1)

    return arrange


@dataclasses.dataclass
class Worker:
    """One worker's place: its current process, if any, and how it fared."""

    index: int
    node_id: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ready: bool = False  # The current process has said it serves (a first line on stdout).
    quick_deaths: int = 0
    restart_at: float = 0.0  # time.monotonic() of its next start
    given_up: bool = False
    pending: bytes = b""  # The start of a line it is writing.

    @property
    def name(self) -> str:
        return f"w{self.index}"


class Supervisor:
    """Starts the workers, starts again those that exit, stops them all (see the module)."""

    def __init__(self, settings: Settings, url: str, *, demo: bool) -> None:
        self._demo = demo
        # The parent's environment goes on to the workers (passed, not read: Settings did
        # that), with where to serve, how many share the ports and the parent's database.
        self._env = {
            **os.environ, "CSMS_WORKERS": str(settings.workers), "CSMS_HOST": settings.host,
            "CSMS_HTTP_PORT": str(settings.http_port), "CSMS_OCPP_PORT": str(settings.ocpp_port),
            "CSMS_DATA_DIR": str(settings.data_dir), "CSMS_DATABASE_URL": url,
        }
        self.workers = [Worker(k, f"{settings.node_id}-w{k}") for k in range(settings.workers)]
        #: Set by SIGINT/SIGTERM: :meth:`run` returns.
        self.stop = asyncio.Event()

    async def run(self) -> int:
        """Keep the workers running until :attr:`stop` is set (0) or none is left (1)."""
        announced = False
        while not self.stop.is_set():
            for worker in self.workers:
                self._tend(worker)
            if all(worker.given_up for worker in self.workers):
                log.error("every worker was given up; csms stops")
                return 1
            if not announced and all(worker.ready for worker in self.workers):
                announced = True
                log.info("all %d workers serve", len(self.workers))
                print(READY_LINE.decode(), flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), _POLL_SECONDS)
        return 0

    async def stop_workers(self) -> None:
        """SIGTERM to every worker, SIGKILL after STOP_TIMEOUT; all reaped when it returns."""
        running = [(worker, worker.process) for worker in self.workers if worker.process]
        for _, process in running:
            process.send_signal(signal.SIGTERM)
        for _ in range(int(STOP_TIMEOUT / 0.05)):
            if all(process.poll() is not None for _, process in running):
                break
            await asyncio.sleep(0.05)
        for worker, process in running:
            if process.poll() is None:
                log.warning("worker %s did not stop in %.0f s: killed", worker.name, STOP_TIMEOUT)
                process.kill()
                process.wait()
            self._read(worker)
            self._close_output(worker)
            log.info("worker %s stopped (exit code %s)", worker.name, process.returncode)
            worker.process = None

    def _tend(self, worker: Worker) -> None:
        """Start a worker that is due; notice one that exited."""
        if worker.given_up:
            return
        if worker.process is None:
            if time.monotonic() >= worker.restart_at:
                self._start(worker)
        elif worker.process.poll() is not None:
            self._exited(worker, worker.process)

    def _start(self, worker: Worker) -> None:
        argv = [sys.executable, "-m", "csms", "serve", "--as-worker"]
        if self._demo and worker.index == 0:
            argv.append("--demo")  # One seeding, one fleet of simulated chargers.
        process = subprocess.Popen(  # In the loop's thread: see _dies_with.
            argv,
            env={**self._env, "CSMS_NODE_ID": worker.node_id},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_dies_with(os.getpid()),
        )
        worker.process, worker.started, worker.ready = process, time.monotonic(), False
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        asyncio.get_running_loop().add_reader(process.stdout.fileno(), self._read, worker)
        log.info("worker %s started (pid %d, node %s)", worker.name, process.pid, worker.node_id)

    def _exited(self, worker: Worker, process: subprocess.Popen[bytes]) -> None:
        """Schedule the next start of a worker that exited, or give it up."""
        self._read(worker)
        self._close_output(worker)
        worker.process, worker.ready = None, False
        ran = time.monotonic() - worker.started
        worker.quick_deaths = worker.quick_deaths + 1 if ran < QUICK_EXIT_SECONDS else 0
        what = f"worker {worker.name} (pid {process.pid}, node {worker.node_id})"
        if worker.quick_deaths >= GIVE_UP_AFTER:
            worker.given_up = True
            log.error(
                "%s exited with code %s, %d times in a row within %.0f s of starting: given up",
                what, process.returncode, worker.quick_deaths, QUICK_EXIT_SECONDS,
            )
            return
        delay = 0.5 * 2**worker.quick_deaths
        worker.restart_at = time.monotonic() + delay
        log.warning(
            "%s exited with code %s after %.1f s; starting it again in %.1f s",
            what, process.returncode, ran, delay,
        )

    def _read(self, worker: Worker) -> None:
        """Relay what the worker wrote on stdout, line by line, but its ``csms is ready``; its
        first line means it serves (csms.server.serve writes nothing before)."""
        stdout = worker.process.stdout if worker.process else None
        if stdout is None or stdout.closed:
            return
        while True:
            try:
                chunk = os.read(stdout.fileno(), 65536)
            except BlockingIOError:
                return
            if not chunk:
                self._close_output(worker)
                return
            *lines, worker.pending = (worker.pending + chunk).split(b"\n")
            for line in lines:
                if not worker.ready:
                    worker.ready = True
                    log.info("worker %s serves", worker.name)
                if line.strip() != READY_LINE:
                    sys.stdout.buffer.write(line + b"\n")
                    sys.stdout.flush()

    def _close_output(self, worker: Worker) -> None:
        stdout = worker.process.stdout if worker.process else None
        if stdout is not None and not stdout.closed:
            asyncio.get_running_loop().remove_reader(stdout.fileno())
            stdout.close()
        if worker.pending:  # A last line without its newline.
            sys.stdout.buffer.write(worker.pending + b"\n")
            sys.stdout.flush()
            worker.pending = b""
