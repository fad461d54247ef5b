"""Figures of the fault-injection tier: recovery after the database is killed, and a charger's
latency and the server's descriptors under attack.

A real ``csms serve`` on its own embedded PostgreSQL in a temporary data directory.

    .venv/bin/python benchmarks/faults.py outage --kills 5
    .venv/bin/python benchmarks/faults.py attack --half-open 2000 --silent 1000 --seconds 10

``outage`` kills the embedded PostgreSQL (``kill -9`` of the postmaster) ``--kills`` times and
prints, for each, the seconds until ``/readyz`` answers 200 again and until a charger's
StopTransaction (sent again after each CALLERROR) is stored. ``attack`` runs
:func:`tests.faults.hostile.attack` and prints its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from csms.domain.timestamps import format_timestamp  # noqa: E402
from tests.faults.hostile import attack  # noqa: E402
from tests.faults.processes import (  # noqa: E402
    postmaster_pid,
    ready,
    serving_process,
    wait_until,
)
from tests.ocpp_client import BOOT, OcppTestClient  # noqa: E402


async def outage(kills: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, serving_process(Path(tmp)) as serve:
        server = await serve.handle()
        cp_id = await server.register_charge_point()
        await server.add_id_tag("BENCH-CARD")
        ready_s, stored_s = [], []
        async with await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}") as charger:
            await charger.result("BootNotification", BOOT)
            for _ in range(kills):
                stamp = format_timestamp(datetime.now(UTC))
                started = await charger.result("StartTransaction", {
                    "connectorId": 1, "idTag": "BENCH-CARD", "meterStart": 0, "timestamp": stamp})
                os.kill(postmaster_pid(serve.data_dir), signal.SIGKILL)
                killed = time.monotonic()
                stop = {"transactionId": started["transactionId"], "meterStop": 10,
                        "timestamp": stamp}
                for _ in range(1000):  # Sent again after each CALLERROR, as a charger does.
                    if (await charger.call("StopTransaction", stop, timeout=10))[0] == 3:
                        break
                    await asyncio.sleep(0.05)
                stored_s.append(time.monotonic() - killed)
                await wait_until(lambda: ready(server.http_url), 60)
                ready_s.append(time.monotonic() - killed)
                await asyncio.sleep(1)
    print(f"kills: {kills}")
    print("readyz 200 again after (s): " + ", ".join(f"{s:.2f}" for s in ready_s)
          + f"; median {statistics.median(ready_s):.2f}, max {max(ready_s):.2f}")
    print("StopTransaction stored after (s): " + ", ".join(f"{s:.2f}" for s in stored_s)
          + f"; median {statistics.median(stored_s):.2f}, max {max(stored_s):.2f}")


async def under_attack(half_open: int, silent: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, serving_process(
        Path(tmp), handshake_timeout="2", auto_register="true"
    ) as serve:
        server = await serve.handle()
        cp_id = await server.register_charge_point()
        assert serve.process is not None
        figures = await attack(
            host="127.0.0.1", ocpp_port=serve.ocpp_port, http_url=server.http_url,
            charger_url=f"{server.ocpp_url}/{cp_id}", server_pid=serve.process.pid,
            half_open_sockets=half_open, silent_sockets=silent, seconds=seconds,
        )
    print(f"half-open {half_open}, silent upgraded {silent}, {seconds:g} s, handshake timeout 2 s")
    print(figures.summary())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("outage").add_argument("--kills", type=int, default=5)
    hostile = commands.add_parser("attack")
    hostile.add_argument("--half-open", type=int, default=2000)
    hostile.add_argument("--silent", type=int, default=1000)
    hostile.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.command == "outage":
        asyncio.run(outage(args.kills))
    else:
        asyncio.run(under_attack(args.half_open, args.silent, args.seconds))


if __name__ == "__main__":
    main()
