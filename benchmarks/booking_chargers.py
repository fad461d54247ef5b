"""Lean OCPP-J chargers for the scheduler benchmark, run as their own process.

``python benchmarks/booking_chargers.py --url ws://127.0.0.1:PORT/ocpp --ids FILE --out FILE``
connects every charger named in FILE (a JSON list) with the ``websockets`` client (subprotocol
``ocpp1.6``, no compression), sends BootNotification and StatusNotification ``Available`` for
connectors 0..N, prints ``ready CONNECTED FAILED``, then answers the central system's CALLs:
GetConfiguration with ``SupportedFeatureProfiles = Core,Reservation``, ReserveNow with
``Accepted`` (its arrival time, ``time.time()``, recorded before the answer is sent), anything
else with a CALLERROR ``NotImplemented``. It stops once ``--expect`` ReserveNows have arrived
(plus ``--linger`` seconds, to catch duplicates), at ``--deadline`` seconds, or on SIGTERM, and
writes what arrived to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

CALL, CALLRESULT, CALLERROR = 2, 3, 4
OPEN_AT_ONCE = 50
STEP_TIMEOUT = 30.0
CONFIGURATION = [
    {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,Reservation"},
    {"key": "ReserveConnectorZeroSupported", "readonly": True, "value": "false"},
]


@dataclass
class Fleet:
    expect: int
    arrivals: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    def answer(self, cp_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The CALLRESULT payload for a CSMS CALL; None for a CALLERROR."""
        self.calls[action] = self.calls.get(action, 0) + 1
        if action == "ReserveNow":
            self.arrivals.append((time.time(), cp_id, payload))
            if len(self.arrivals) >= self.expect:
                self.enough.set()
            return {"status": "Accepted"}
        if action == "GetConfiguration":
            return {"configurationKey": CONFIGURATION}
        return None


async def call(ws: ClientConnection, message_id: str, action: str, payload: object) -> Any:
    """Send one CALL of ours and wait for its CALLRESULT (nothing else comes before boot)."""
    await ws.send(orjson.dumps([CALL, message_id, action, payload]).decode())
    async with asyncio.timeout(STEP_TIMEOUT):
        while True:
            frame = orjson.loads(await ws.recv())
            if frame[0] in (CALLRESULT, CALLERROR) and frame[1] == message_id:
                if frame[0] == CALLERROR:
                    raise RuntimeError(f"{action}: CALLERROR {frame[2]}")
                return frame[2]


async def boot(ws: ClientConnection, connectors: int) -> None:
    answer = await call(
        ws, "b", "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "B-2"}
    )
    if answer.get("status") != "Accepted":
        raise RuntimeError(f"boot {answer.get('status')}")
    for n in range(connectors + 1):
        status = {"connectorId": n, "errorCode": "NoError", "status": "Available"}
        await call(ws, f"s{n}", "StatusNotification", status)


async def serve(ws: ClientConnection, cp_id: str, fleet: Fleet) -> None:
    """Answer the central system's CALLs until the connection closes."""
    async for message in ws:
        frame = orjson.loads(message)
        if frame[0] != CALL:
            continue
        _, message_id, action, payload = frame
        result = fleet.answer(cp_id, action, payload)
        if result is None:
            reply = [CALLERROR, message_id, "NotImplemented", "bench charger", {}]
        else:
            reply = [CALLRESULT, message_id, result]
        await ws.send(orjson.dumps(reply).decode())


async def open_charger(
    url: str, cp_id: str, connectors: int, gate: asyncio.Semaphore
) -> ClientConnection:
    async with gate:
        ws = await connect(
            f"{url}/{cp_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            compression=None,
            open_timeout=STEP_TIMEOUT,
            ping_interval=None,
            close_timeout=5,
        )
        try:
            await boot(ws, connectors)
        except BaseException:
            await ws.close()
            raise
        return ws


async def run(args: argparse.Namespace, ids: list[str]) -> dict[str, Any]:
    fleet = Fleet(expect=args.expect)
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    opened = await asyncio.gather(
        *(open_charger(args.url, cp_id, args.connectors, gate) for cp_id in ids),
        return_exceptions=True,
    )
    sockets = [
        (cp, ws) for cp, ws in zip(ids, opened, strict=True) if not isinstance(ws, BaseException)
    ]
    fleet.errors += [repr(ws) for ws in opened if isinstance(ws, BaseException)][:10]
    print(f"ready {len(sockets)} {len(ids) - len(sockets)}", flush=True)
    servers = [asyncio.create_task(serve(ws, cp, fleet)) for cp, ws in sockets]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(fleet.enough.wait(), args.deadline)
        await asyncio.sleep(args.linger)
    await asyncio.gather(*(ws.close() for _, ws in sockets), return_exceptions=True)
    for task in servers:
        task.cancel()
    await asyncio.gather(*servers, return_exceptions=True)
    return {"connected": len(sockets), "calls": fleet.calls, "errors": fleet.errors,
            "arrivals": fleet.arrivals}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/ocpp")
    parser.add_argument("--ids", required=True, help="JSON file: list of charge point ids")
    parser.add_argument("--out", required=True, help="where to write the results (JSON)")
    parser.add_argument("--connectors", type=int, default=2)
    parser.add_argument("--expect", type=int, required=True, help="ReserveNows to wait for")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds, at most")
    parser.add_argument("--linger", type=float, default=3.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    ids: list[str] = json.loads(Path(args.ids).read_text())
    result = asyncio.run(run(args, ids))
    Path(args.out).write_bytes(orjson.dumps(result))
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
