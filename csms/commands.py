"""How the rest of csms sends a CSMS-initiated call to a charger: the protocol its callers
(the scheduler, the booking service, the operator API) depend on.

The gateway implements it (:class:`csms.gateway.commands.LocalCommandRouter` for chargers
connected to this process); callers never import the gateway.
"""

from __future__ import annotations

from typing import Any, Protocol

Payload = dict[str, Any]


class CommandRouter(Protocol):
    async def call(
        self, charge_point_id: str, action: str, payload: Payload, timeout: float | None = None
    ) -> Payload:
        """Send ``action`` to the charger and return its answer.

        Raises :class:`~csms.errors.ValidationFailed` for an action or payload that 1.6 does not
        allow, :class:`~csms.errors.ChargePointNotConnected`,
        :class:`~csms.errors.ChargePointTimeout` and :class:`~csms.errors.ChargePointCallError`.
        """
        ...
