"""The gateway's side of the command path (:class:`csms.commands.CommandRouter`).

:class:`LocalCommandRouter` reaches chargers connected to this process;
:class:`csms.cluster.router.ClusterCommandRouter` wraps it to reach those held by other nodes.
"""

from __future__ import annotations

from csms.commands import Payload
from csms.errors import ChargePointNotConnected, ValidationFailed
from csms.gateway import schemas
from csms.gateway.registry import Registry


def check_command(action: str, payload: Payload) -> None:
    """Refuse what a 1.6 charger could not accept, before anything is sent."""
    if action not in schemas.CENTRAL_SYSTEM_ACTIONS:
        raise ValidationFailed(f"{action!r} is not an OCPP 1.6 action a central system sends")
    try:
        schemas.request_validator(action)(payload)
    except schemas.PayloadError as error:
        raise ValidationFailed(f"invalid {action} payload: {error.description}") from None


class LocalCommandRouter:
    """Reaches the chargers whose sockets this process holds."""

    def __init__(self, registry: Registry, default_timeout: float) -> None:
        self._registry = registry
        self._default_timeout = default_timeout

    def holds(self, charge_point_id: str) -> bool:
        return self._registry.get(charge_point_id) is not None

    async def call(
        self, charge_point_id: str, action: str, payload: Payload, timeout: float | None = None
    ) -> Payload:
        check_command(action, payload)
        session = self._registry.get(charge_point_id)
        if session is None:
            raise ChargePointNotConnected(f"{charge_point_id} is not connected")
        return await session.call(
            action, payload, self._default_timeout if timeout is None else timeout
        )
