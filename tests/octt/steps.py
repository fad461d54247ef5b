"""Building blocks for the OCTT central-system cases: the tool's charger is a :class:`ChargerStub`
(a real WebSocket client), csms is the system under test, commands go through the operator API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from csms.domain.timestamps import format_timestamp
from tests.charger_stub import ChargerStub, Responder
from tests.conftest import ServerHandle
from tests.ocpp_client import BOOT
from tests.waiting import eventually

VALID = "OCTT-VALID"


def now() -> str:
    return format_timestamp(datetime.now(UTC).replace(microsecond=0))


def command(
    server: ServerHandle, cp_id: str, action: str, payload: dict[str, Any], query: str = ""
) -> asyncio.Task[tuple[int, Any]]:
    """The operator sends ``action`` to the charger (the answer comes when the charger replies)."""
    return asyncio.create_task(
        server.request(
            "POST", f"/api/v1/charge-points/{cp_id}/commands/{action}{query}", json=payload
        )
    )


async def sent_and_answered(
    server: ServerHandle,
    charger: ChargerStub,
    cp_id: str,
    action: str,
    payload: dict[str, Any],
    answer: dict[str, Any],
    query: str = "",
) -> dict[str, Any]:
    """csms sends ``action`` with ``payload`` (checked as received) and relays ``answer``."""
    charger.replies[action] = lambda p: answer
    pending = command(server, cp_id, action, payload, query)
    received = await charger.wait_call(action)
    assert received == payload
    status, body = await pending
    assert (status, body) == (200, answer)
    return received


async def connect(server: ServerHandle, cp_id: str, **replies: Responder) -> ChargerStub:
    return await ChargerStub.connect(f"{server.ocpp_url}/{cp_id}", **replies)


async def boot(charger: ChargerStub, connectors: int = 2) -> dict[str, Any]:
    """BootNotification accepted, then a StatusNotification for connector 0 and each connector."""
    answer = await charger.result("BootNotification", BOOT)
    assert answer["status"] == "Accepted" and answer["interval"] > 0
    assert answer["currentTime"].endswith("Z")
    for connector_id in range(connectors + 1):
        assert await status(charger, connector_id, "Available") == {}
    return answer


async def status(
    charger: ChargerStub, connector_id: int, state: str, error: str = "NoError"
) -> dict[str, Any]:
    """A StatusNotification; csms answers it with an empty StatusNotification.conf."""
    return await charger.result(
        "StatusNotification",
        {"connectorId": connector_id, "status": state, "errorCode": error, "timestamp": now()},
    )


async def authorize(charger: ChargerStub, id_tag: str) -> dict[str, Any]:
    answer = await charger.result("Authorize", {"idTag": id_tag})
    return answer["idTagInfo"]  # type: ignore[no-any-return]


async def start(
    charger: ChargerStub,
    connector_id: int,
    id_tag: str,
    *,
    meter_start: int = 0,
    timestamp: str | None = None,
    reservation_id: int | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": connector_id,
        "idTag": id_tag,
        "meterStart": meter_start,
        "timestamp": timestamp or now(),
    }
    if reservation_id is not None:
        payload["reservationId"] = reservation_id
    answer = await charger.result("StartTransaction", payload)
    assert isinstance(answer["transactionId"], int)
    return answer


async def stop(
    charger: ChargerStub,
    transaction_id: int,
    reason: str,
    *,
    id_tag: str | None = None,
    meter_stop: int = 1000,
    timestamp: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "transactionId": transaction_id,
        "meterStop": meter_stop,
        "timestamp": timestamp or now(),
        "reason": reason,
    }
    if id_tag is not None:
        payload["idTag"] = id_tag
    return await charger.result("StopTransaction", payload)


async def charging(charger: ChargerStub, connector_id: int, id_tag: str = VALID) -> int:
    """The OCTT reusable state *Charging*: Preparing, Authorize, StartTransaction, Charging."""
    assert await status(charger, connector_id, "Preparing") == {}
    assert (await authorize(charger, id_tag))["status"] == "Accepted"
    started = await start(charger, connector_id, id_tag)
    assert started["idTagInfo"]["status"] == "Accepted"
    assert await status(charger, connector_id, "Charging") == {}
    return int(started["transactionId"])


async def charge_point(server: ServerHandle, cp_id: str) -> dict[str, Any]:
    code, body = await server.request("GET", f"/api/v1/charge-points/{cp_id}")
    assert code == 200, body
    return body  # type: ignore[no-any-return]


async def shows(server: ServerHandle, cp_id: str, connector_id: int, state: str) -> None:
    """csms shows the connector in ``state`` (live state is written in batches)."""

    def has(detail: dict[str, Any]) -> bool:
        return any(
            c["connector_id"] == connector_id and c.get("status") == state
            for c in detail["connectors"]
        )

    await eventually(lambda: charge_point(server, cp_id), has)


async def transaction(server: ServerHandle, cp_id: str, transaction_id: int) -> dict[str, Any]:
    code, page = await server.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    assert code == 200, page
    [row] = [t for t in page["items"] if t["id"] == transaction_id]
    return row  # type: ignore[no-any-return]
