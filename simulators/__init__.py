"""csms-sim: a simulated OCPP 1.6J charge point (one, scripted, or a fleet of thousands).

The charger's behaviour lives in a pure model (:mod:`simulators.model`, no asyncio, no sockets)
driven by an OCPP-J session (:mod:`simulators.session`); :mod:`simulators.charge_point` moves its
frames over a ``websockets`` client connection. Tests use it as a library::

    async with SimulatedChargePoint(url, "CP-1", connectors=2) as cp:
        await cp.plug(1)
        await cp.tap(1, "TAG-1")
        await cp.wait_for(lambda e: e.status == "Charging", timeout=5)
"""

from __future__ import annotations

from simulators.charge_point import SimulatedChargePoint
from simulators.events import Event, EventKind

__all__ = ["Event", "EventKind", "SimulatedChargePoint"]
