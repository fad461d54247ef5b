"""A charger written with the ``ocpp`` library's own ChargePoint class (not our code) boots,
authorizes, runs a transaction with meter values and stops against ``csms serve``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
from websockets.asyncio.client import connect

from tests.conftest import CsmsProcess


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def test_library_charger_full_session(csms: CsmsProcess) -> None:
    cp_id = await csms.register_charge_point()
    await csms.add_id_tag(f"LIB-{cp_id}"[-20:])
    id_tag = f"LIB-{cp_id}"[-20:]
    async with connect(
        f"{csms.ocpp_url}/{cp_id}", subprotocols=["ocpp1.6"], compression=None
    ) as ws:  # type: ignore[list-item]
        charger = ChargePoint(cp_id, ws)
        listener = asyncio.create_task(charger.start())
        try:
            boot = await charger.call(
                call.BootNotification(charge_point_model="Lib", charge_point_vendor="OCA")
            )
            assert boot.status == RegistrationStatus.accepted
            assert boot.current_time.endswith("Z")
            await charger.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
            )
            auth = await charger.call(call.Authorize(id_tag=id_tag))
            assert auth.id_tag_info["status"] == AuthorizationStatus.accepted
            started = await charger.call(
                call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0, timestamp=now())
            )
            assert started.id_tag_info["status"] == AuthorizationStatus.accepted
            tx = started.transaction_id
            await charger.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=tx,
                    meter_value=[
                        {"timestamp": now(), "sampledValue": [{"value": "1500", "unit": "Wh"}]}
                    ],
                )
            )
            stopped = await charger.call(
                call.StopTransaction(
                    meter_stop=3000,
                    timestamp=now(),
                    transaction_id=tx,
                    id_tag=id_tag,
                    reason="EVDisconnected",
                )
            )
            assert stopped.id_tag_info["status"] == AuthorizationStatus.accepted
            await charger.call(call.Heartbeat())
        finally:
            listener.cancel()
    _status, page = await csms.request("GET", f"/api/v1/transactions?charge_point_id={cp_id}")
    [row] = page["items"]
    assert (row["id"], row["energy_wh"], row["stop_reason"]) == (tx, 3000, "EVDisconnected")
