"""What several csms nodes on one PostgreSQL cost: cross-node command latency, idle memory.

Two real ``csms serve`` (nodes A, B) on one embedded PostgreSQL, settings as deployed.
``latency``: chargers (``wsclient.py``, answering every CALL at once) on node B; an operator's
``POST .../commands/ClearCache`` through node A (crossing nodes via ``node_commands``) and node B
(local), interleaved; then the raw ``ClusterCommandRouter`` here (no HTTP), its database steps
timed. ``idle``: ``--chargers-per-node`` booted, silent chargers on each node (``chargers.py``
client processes): connect time, VmRSS per charger, chargers online per database and API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import math
import os
import signal
import sys
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import asyncpg
import harness
import orjson
from chargers import WorkerSpec, boot_payload
from gateway_load import Workers, describe_machine, percentile, raise_open_file_limit
from harness import Harness, ServerOptions, charger_ids, register_chargers, rss_kib
from wsclient import TEXT, Charger, client_frame

from csms.cluster.listener import ClusterListener
from csms.cluster.router import ClusterCommandRouter, LocalRouter
from csms.commands import Payload
from csms.services import accounts
from csms.store import node_commands, nodes
from csms.store.database import create_pool

EMAIL, PASSWORD = "operator@bench.local", "bench-password"
NODES = ("node-a", "node-b")
#: What the latency chargers answer; any other CALL gets a CALLERROR NotImplemented.
ANSWERS: dict[str, Payload] = {"ClearCache": {"status": "Accepted"}, "GetConfiguration": {
    "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}}
WARM_UP = 20
#: The router's database steps, timed in this process for the raw-router breakdown.
STEPS = ((nodes, "live_holder"), (node_commands, "send"), (node_commands, "outcome"))


@contextlib.contextmanager
def two_nodes(env: dict[str, str]) -> Iterator[tuple[Harness, Harness]]:
    """Nodes A and B: ``csms serve`` each, both on the first harness's embedded PostgreSQL."""
    a = Harness.create()
    b = Harness(workdir=a.workdir / "node-b", database_url=a.database_url, pg_server=a.pg_server)
    b.workdir.mkdir()
    try:
        a.start_server(ServerOptions(env={**env, "CSMS_NODE_ID": NODES[0]}))  # migrates
        b.start_server(ServerOptions(env={**env, "CSMS_NODE_ID": NODES[1]}))
        yield a, b
    finally:
        counts = [h.server_log_count(" ERROR ") for h in (a, b)]
        print(f"ERROR lines in the server logs: node-a {counts[0]}, node-b {counts[1]}", flush=True)
        b.stop_server()
        a.close()  # Node A, PostgreSQL, the whole temp directory (node B's included).


async def operator_token(pool: asyncpg.Pool, node: Harness) -> str:
    await accounts.sign_up(pool, EMAIL, PASSWORD, role="operator")
    url, credentials = f"http://127.0.0.1:{node.http_port}/api/v1/tokens", {
        "email": EMAIL, "password": PASSWORD}
    async with aiohttp.ClientSession() as http, http.post(url, json=credentials) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["token"])


async def database_facts(pool: asyncpg.Pool) -> str:
    shown = [f"{s} {await pool.fetchval(f'SHOW {s}')}" for s in ("fsync", "synchronous_commit")]
    return f"PostgreSQL {await pool.fetchval('SHOW server_version')} (embedded; {', '.join(shown)})"


async def held_by(pool: asyncpg.Pool, ids: list[str]) -> Counter[str]:
    rows = await pool.fetch(
        "SELECT connected_node, count(*) FROM charge_points WHERE id = ANY($1) GROUP BY 1", ids)
    return Counter({str(row[0]): int(row[1]) for row in rows})


def stats(values: array[float]) -> str:
    p = [percentile(values, f) * 1e3 for f in (0.5, 0.9, 0.99)]
    return (f"p50 {p[0]:.2f} ms, p90 {p[1]:.2f} ms, p99 {p[2]:.2f} ms, "
            f"max {max(values, default=math.nan) * 1e3:.2f} ms (n={len(values)})")


class FastCharger(Charger):
    """A ``wsclient`` charger that answers the CSMS's CALLs from :data:`ANSWERS` at once."""

    def _on_text(self, payload: bytes) -> None:
        if not payload.startswith(b"[2"):
            return super()._on_text(payload)
        _, message_id, action, _ = orjson.loads(payload)
        answer = ANSWERS.get(action)
        frame = [3, message_id, answer] if answer is not None else [
            4, message_id, "NotImplemented", "benchmark charger", {}]
        self._write(client_frame(TEXT, orjson.dumps(frame)))
        self.server_calls += 1


async def connect_chargers(node: Harness, pool: asyncpg.Pool, ids: list[str]) -> list[Charger]:
    """Connect and boot each charger; return once the database records them all on node B."""
    loop, opened, host = asyncio.get_running_loop(), list[Charger](), f"127.0.0.1:{node.ocpp_port}"
    for cp_id in ids:
        factory = functools.partial(FastCharger, cp_id, host, "/ocpp/" + cp_id)
        _, charger = await loop.create_connection(factory, "127.0.0.1", node.ocpp_port)
        await asyncio.wait_for(charger.upgraded, 10)
        await charger.call("BootNotification", boot_payload(cp_id), 10)
        opened.append(charger)
    for _ in range(150):  # The live-state writer records connections in batches.
        if (await held_by(pool, ids))[NODES[1]] == len(ids):
            return opened
        await asyncio.sleep(0.1)
    raise TimeoutError("the database does not record all chargers on node B")


@dataclasses.dataclass
class Operator:
    """``POST .../commands/{action}`` through either node, timed, with errors counted."""

    http: aiohttp.ClientSession
    headers: dict[str, str]
    action: str
    errors: Counter[str] = dataclasses.field(default_factory=Counter)

    async def command(self, node: Harness, cp_id: str) -> float | None:
        url = f"http://127.0.0.1:{node.http_port}/api/v1/charge-points/{cp_id}/commands/{self.action}"
        started = time.perf_counter()
        async with self.http.post(url + "?timeout=10", json={}, headers=self.headers) as answer:
            body = await answer.read()
            if answer.status == 200:
                return time.perf_counter() - started
        self.errors[f"HTTP {answer.status}: {body[:80]!r}"] += 1
        return None


async def level(operator: Operator, paths: dict[str, Harness], ids: list[str], calls: int,
                concurrency: int) -> dict[str, array[float]]:
    """``calls`` commands a path; each caller alternates the paths over chargers of its own."""
    times: dict[str, array[float]] = {name: array("d") for name in paths}
    names = list(paths)

    async def caller(index: int) -> None:
        mine = ids[index::concurrency]
        for n in range(math.ceil(calls / concurrency) * len(names)):
            name = names[(n + index) % len(names)]
            elapsed = await operator.command(paths[name], mine[n // len(names) % len(mine)])
            if elapsed is not None:
                times[name].append(elapsed)

    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return times


async def relay_spans(pool: asyncpg.Pool, after_id: int) -> tuple[array[float], int]:
    """created_at → done_at of the commands after ``after_id`` (seconds); the last id."""
    rows = await pool.fetch("""SELECT id, extract(epoch FROM done_at - created_at)
                               FROM node_commands WHERE id > $1 AND state = 'done'""", after_id)
    return array("d", (float(r[1]) for r in rows)), max([after_id, *(int(r[0]) for r in rows)])


def cpu_now(a: Harness, b: Harness) -> list[float]:
    machine = sum(busy for busy, _ in harness.cpu_times().values()) / harness.CLOCK_TICK
    ours = [harness.cpu_seconds(node.pid) for node in (a, b)]
    ours += [a.postgres_cpu_seconds(), time.process_time()]
    return [*ours, machine - sum(ours)]


def describe_level(concurrency: int, times: dict[str, array[float]], spans: array[float],
                   seconds: float, cpu: list[float]) -> list[str]:
    done, local, cross = sum(len(t) for t in times.values()), times["local"], times["cross"]
    added = [(percentile(cross, f) - percentile(local, f)) * 1e3 for f in (0.5, 0.99)]
    return [
        f"concurrency {concurrency}: {done:,} commands in {seconds:.1f} s ({done / seconds:.0f}/s)",
        f"  local (API on B → charger):      {stats(local)}",
        f"  cross (API on A → B → charger):  {stats(cross)}",
        f"  added by crossing nodes: p50 {added[0]:+.2f} ms, p99 {added[1]:+.2f} ms "
        f"(target p50 ≤ 10 ms: {'met' if added[0] <= 10 else 'NOT met'})",
        f"  of a cross call, created → done in node_commands (database clock): {stats(spans)}",
        "  cpu (share of one core): " + ", ".join(f"{n} {c:.0%}" for n, c in zip(
            ("node A", "node B", "PostgreSQL", "this process", "the rest"), cpu, strict=True))]


def _timed(step: Callable[..., Awaitable[Any]], into: array[float]) -> Callable[..., Any]:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await step(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    return timed


async def raw_router(pool: asyncpg.Pool, ids: list[str], action: str, calls: int) -> list[str]:
    """The router here as node "bench-router" (holding nothing) to node B, its steps timed."""
    nothing_held = cast(LocalRouter, SimpleNamespace(holds=lambda charge_point_id: False))
    router = ClusterCommandRouter(nothing_held, pool, "bench-router", 10.0)
    listener = ClusterListener(pool)
    listener.on(node_commands.ANSWERS_CHANNEL, router.answered)
    listening = asyncio.create_task(listener.run())
    await asyncio.sleep(0.5)  # LISTEN in place
    steps = {name: array("d") for _, name in STEPS}
    originals = [getattr(module, name) for module, name in STEPS]
    totals, waits, reads = array("d"), array("d"), 0
    try:
        for module, name in STEPS:
            setattr(module, name, _timed(getattr(module, name), steps[name]))
        for n in range(WARM_UP + calls):
            if n == WARM_UP:
                for spent in steps.values():
                    del spent[:]
            before = {name: len(spent) for name, spent in steps.items()}
            started = time.perf_counter()
            await router.call(ids[n % len(ids)], action, {}, 10.0)
            total = time.perf_counter() - started
            if n < WARM_UP:
                continue
            totals.append(total)
            waits.append(total - sum(sum(s[before[k]:]) for k, s in steps.items()))
            reads += len(steps["outcome"]) - before["outcome"]
    finally:
        for (module, name), original in zip(STEPS, originals, strict=True):
            setattr(module, name, original)
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await listening
    each = ", ".join(f"{k} {percentile(s, 0.5) * 1e3:.2f} ms" for k, s in steps.items())
    return [f"raw router (ClusterCommandRouter in this process → node B, no HTTP), concurrency "
            f"1: {stats(totals)}", f"  its database calls, p50 each: {each} ({reads / calls:.1f} "
            f"outcome reads per call); waiting for node B's answer: {stats(waits)}"]


async def measure_latency(a: Harness, b: Harness, args: argparse.Namespace) -> list[str]:
    ids = charger_ids(args.chargers)
    await register_chargers(a.database_url, ids)
    pool = await create_pool(a.database_url, min_size=2, max_size=4)
    lines, chargers = [await database_facts(pool)], list[Charger]()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            token = await operator_token(pool, a)
            operator = Operator(http, {"Authorization": f"Bearer {token}"}, args.action)
            chargers = await connect_chargers(b, pool, ids)
            await asyncio.sleep(1.0)  # Let the on-connect work (local lists, scheduler) pass.
            lines.append(f"{len(chargers)} chargers connected to node B and booted; "
                         f"{args.action} through node A (cross) and node B (local), interleaved")
            paths = {"local": b, "cross": a}
            await level(operator, paths, ids, WARM_UP, 1)
            _, last_id = await relay_spans(pool, 0)
            for concurrency in args.concurrency:
                cpu, started = cpu_now(a, b), time.perf_counter()
                times = await level(operator, paths, ids, args.calls, concurrency)
                seconds = time.perf_counter() - started
                used = [(x - y) / seconds for x, y in zip(cpu_now(a, b), cpu, strict=True)]
                spans, last_id = await relay_spans(pool, last_id)
                lines += describe_level(concurrency, times, spans, seconds, used)
        lines += await raw_router(pool, ids, args.action, args.calls)
        errors = ", ".join(f"{k} ×{v}" for k, v in operator.errors.items()) or "none"
        answered = sum(c.server_calls for c in chargers)
        lines.append(f"CALLs answered by the chargers: {answered:,}; API errors: {errors}")
    finally:
        await asyncio.gather(*(c.close() for c in chargers), return_exceptions=True)
        await pool.close()
    return lines


def idle_specs(args: argparse.Namespace, port: int, ids: list[str]) -> list[WorkerSpec]:
    """One client process per 9,000 chargers (each may hold 20,000 open files)."""
    workers = max(1, math.ceil(len(ids) / 9000))
    share, concurrency = math.ceil(len(ids) / workers), max(1, args.connect_concurrency // workers)
    return [WorkerSpec("127.0.0.1", port, "/ocpp/", ids[first:first + share], False, 1.0,
                       concurrency, 30.0, args.setup_timeout, args.setup_timeout + 300)
            for first in range(0, len(ids), share)]


async def online_via_api(node: Harness, token: str) -> Counter[str]:
    """Page through ``GET /api/v1/charge-points`` (500 a page): online chargers by node."""
    online: Counter[str] = Counter()
    headers, cursor = {"Authorization": f"Bearer {token}"}, ""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        for _ in range(10_000):
            url = f"http://127.0.0.1:{node.http_port}/api/v1/charge-points?limit=500&cursor={cursor}"
            async with http.get(url, headers=headers) as response:
                assert response.status == 200, await response.text()
                page = await response.json()
            online.update(cp["connected_node"] for cp in page["items"] if cp["online"])
            if not (cursor := page["next_cursor"]):
                break
    return online


async def measure_idle(a: Harness, b: Harness, args: argparse.Namespace) -> list[str]:
    per_node, both = args.chargers_per_node, (a, b)
    ids = charger_ids(2 * per_node)
    await register_chargers(a.database_url, ids)
    pool = await create_pool(a.database_url, min_size=1, max_size=2)
    workers = Workers()
    try:
        facts, token = await database_facts(pool), await operator_token(pool, a)
        before = [rss_kib(node.pid) for node in both]
        specs = [idle_specs(args, a.ocpp_port, ids[:per_node]),
                 idle_specs(args, b.ocpp_port, ids[per_node:])]
        started = time.monotonic()
        workers.start(specs[0] + specs[1])
        setups = await asyncio.to_thread(workers.collect, "ready", args.setup_timeout + 120)
        wall = time.monotonic() - started
        await asyncio.sleep(5.0)  # Settle before reading memory.
        after = [rss_kib(node.pid) for node in both]
        held = [node.metrics().get("csms_connected_charge_points", 0.0) for node in both]
        fds = [len(os.listdir(f"/proc/{node.pid}/fd")) for node in both]
        in_db, in_api = await held_by(pool, ids), await online_via_api(a, token)
        workers.send("close")
        await asyncio.to_thread(workers.collect, "closed", 120)
    finally:
        await asyncio.to_thread(workers.stop)
        await pool.close()
    lines = [facts, f"{len(workers.processes)} client processes (chargers.py, <= 9,000 chargers "
             f"each) started at once, {args.connect_concurrency} handshakes at a time per node"]
    for index, name in enumerate(NODES):
        mine = setups[:len(specs[0])] if index == 0 else setups[len(specs[0]):]
        opened = sum(s["opened"] for s in mine)
        per = (after[index] - before[index]) * 1024 / max(1, opened)
        lines += [f"{name}: {opened:,}/{per_node:,} connected and booted (BootNotification, "
                  f"StatusNotification 0..2) in {max(s['seconds'] for s in mine):.1f} s; "
                  f"{held[index]:,.0f} in its registry, {fds[index]:,} open files",
                  f"  VmRSS {before[index] / 1024:.1f} MiB before connections, "
                  f"{after[index] / 1024:.1f} MiB after → {per / 1000:.1f} KB per charger"]
    errors = sum((Counter(s["errors"]) for s in setups), Counter[str]())
    total = sum(s["opened"] for s in setups)
    lines += [
        f"all: {total:,}/{2 * per_node:,} connected and booted {wall:.1f} s after the client "
        f"processes were started ({total / wall:,.0f} chargers/s)",
        "online per the database (connected_node): " + ", ".join(
            f"{n} {in_db[n]:,}" for n in NODES) + "; per GET /api/v1/charge-points on node A "
        "(online): " + ", ".join(f"{n} {in_api[n]:,}" for n in NODES),
        "errors: " + (", ".join(f"{k} ×{v}" for k, v in errors.items()) or "none")]
    if total < 2 * per_node:
        lines.append(f"NOT all held: the largest count that worked here is {total:,}")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    latency = modes.add_parser("latency", help="a command through the other node vs locally")
    latency.add_argument("--chargers", type=int, default=20, help="chargers on node B")
    latency.add_argument("--calls", type=int, default=500, help="commands per path and level")
    latency.add_argument("--concurrency", default="1,8", help="callers at once, e.g. 1,8")
    latency.add_argument("--action", choices=sorted(ANSWERS), default="ClearCache")
    idle = modes.add_parser("idle", help="idle chargers held by each of two nodes")
    idle.add_argument("--chargers-per-node", type=int, default=19_900)
    idle.add_argument("--connect-concurrency", type=int, default=100, help="per node")
    idle.add_argument("--setup-timeout", type=float, default=600.0)
    for mode in (latency, idle):
        mode.add_argument("--server-env", action="append", default=[], metavar="CSMS_X=VALUE")
    args = parser.parse_args(argv)
    if args.mode == "latency":
        args.concurrency = [int(c) for c in args.concurrency.split(",")]
        if args.calls < 1 or not all(1 <= c <= min(args.chargers, 100) for c in args.concurrency):
            parser.error("need --calls >= 1 and 1 <= concurrency <= min(--chargers, 100)")
    elif not 1 <= args.chargers_per_node <= 50_000:
        parser.error("need 1 <= --chargers-per-node <= 50000")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # Run the ``finally`` blocks: stop nodes and PostgreSQL.


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    raise_open_file_limit()  # Inherited by both servers and the client processes.
    env = dict(item.split("=", 1) for item in args.server_env)
    command = " ".join(sys.argv[1:] if argv is None else argv)
    with two_nodes(env) as (a, b):
        measure = measure_latency if args.mode == "latency" else measure_idle
        lines = asyncio.run(measure(a, b, args))
        context = ["cpu: not pinned (both nodes, PostgreSQL and the clients share all CPUs)",
                   ServerOptions().describe() + f" ×2 (node A pid {a.pid}, node B pid {b.pid})"]
        head = [f"csms cluster benchmark: {args.mode} (benchmarks/cluster.py {command})"]
        print("\n".join(head + describe_machine(context) + lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
