"""A booking's code on its charger's local list (OCPP 1.6 S 3.5, 5.16), as a site's option:
the charger is offline when the window opens, the driver types the code anyway, and the session
is charged to the booking once the charger is back. ``csms serve`` and the simulator over real
sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from simulators import EventKind, SimulatedChargePoint
from simulators.authorization import IdTagInfo
from tests.conftest import CsmsProcess, csms_serving
from tests.e2e.test_booking_with_simulator import FAST, FAST_METER, book, reservation, window
from tests.simulators.helpers import is_status, result, unique
from tests.waiting import eventually
from tests.world import TARIFF, sign_up_driver

PROFILES = "Core,Reservation,LocalAuthListManagement,RemoteTrigger"


@pytest.fixture(scope="module")
async def csms_lists(
    postgres_uri: str, template_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CsmsProcess]:
    """csms that looks at local lists twice a second (not every 30 s)."""
    async with csms_serving(
        postgres_uri, tmp_path_factory.mktemp("csms-lists"),
        local_list_sync_seconds="0.5", local_list_settle_seconds="0.2",
        local_list_code_lead_seconds="600",
    ) as handle:
        yield handle


async def site_charger(csms: CsmsProcess, *, codes_on_local_list: bool) -> str:
    body = {"name": unique("Yard"), "timezone": "Europe/Berlin",
            "codes_on_local_list": codes_on_local_list}
    status, site = await csms.request("POST", "/api/v1/sites", json=body)
    assert status == 201 and site["codes_on_local_list"] is codes_on_local_list
    assert (await csms.request("PUT", f"/api/v1/sites/{site['id']}/tariff", json=TARIFF))[0] == 200
    return await csms.register_charge_point(connectors=1, site_id=site["id"])


def listed(cp: SimulatedChargePoint, code: str) -> IdTagInfo | None:
    """What the charger's own local list says of ``code`` (not its cache)."""
    return cp.model.auth.lookup(code, use_list=True, use_cache=False)


async def until_window(when: tuple[str, str]) -> None:
    start = datetime.fromisoformat(when[0])
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.5)


async def test_offline_at_the_window_the_charger_still_takes_the_code(
    csms_lists: CsmsProcess,
) -> None:
    csms = csms_lists
    cp_id = await site_charger(csms, codes_on_local_list=True)
    driver = await sign_up_driver(csms)
    async with SimulatedChargePoint(
        csms.ocpp_url, cp_id, connectors=1, backoff=FAST, config=FAST_METER,
        profiles=PROFILES, strict=True,
    ) as cp:
        when = window(starts_in=6)
        booking = await book(csms, driver, cp_id, 1, when)
        code = booking["code"]
        # Before the window, the code reaches the list, expiring with the window.
        info = await eventually(lambda: _now(listed(cp, code)), lambda i: i is not None)
        assert info is not None and info.status == "Accepted"
        assert info.expiry == datetime.fromisoformat(when[1])
        assert cp.seen(lambda e: e.kind is EventKind.RECEIVED and e.action == "ReserveNow") is None

        await cp.go_offline()
        await until_window(when)
        await cp.plug(1)
        await cp.code(1, code)
        await cp.wait_for(lambda e: e.kind is EventKind.AUTHORIZED, timeout=5)
        await cp.wait_for(is_status(1, "Charging"), timeout=5)
        assert (await reservation(csms, driver, booking["id"]))["status"] == "booked"

        await cp.go_online()
        started = await cp.wait_for(result("StartTransaction"), timeout=10)
        assert started.payload is not None
        assert started.payload["idTagInfo"]["status"] == "Accepted"
        charging = await eventually(
            lambda: reservation(csms, driver, booking["id"]),
            lambda r: r["status"] == "charging", timeout=10,
        )
        assert charging["transaction"]["id"] == cp.transaction_id(1)
        await cp.stop(1)
        await cp.wait_for(result("StopTransaction"), timeout=10)
        await eventually(
            lambda: reservation(csms, driver, booking["id"]), lambda r: r["status"] == "completed"
        )
        # The booking is over: its code leaves the list.
        await eventually(lambda: _now(listed(cp, code)), lambda i: i is None, timeout=10)


async def test_without_the_option_an_offline_charger_refuses_the_code(
    csms_lists: CsmsProcess,
) -> None:
    csms = csms_lists
    cp_id = await site_charger(csms, codes_on_local_list=False)
    driver = await sign_up_driver(csms)
    async with SimulatedChargePoint(
        csms.ocpp_url, cp_id, connectors=1, backoff=FAST, profiles=PROFILES, strict=True,
    ) as cp:
        when = window(starts_in=4)
        booking = await book(csms, driver, cp_id, 1, when)
        # The list is synced (csms's cards; no code), and the code stays off it.
        await eventually(lambda: _now(cp.seen(result("SendLocalList")) or cp.seen(
            lambda e: e.kind is EventKind.RECEIVED and e.action == "GetLocalListVersion")),
            lambda e: e is not None, timeout=10)
        await cp.go_offline()
        await until_window(when)
        assert listed(cp, booking["code"]) is None
        await cp.plug(1)
        await cp.code(1, booking["code"])
        refused = await cp.wait_for(lambda e: e.kind is EventKind.REFUSED, timeout=5)
        assert refused.connector == 1 and cp.status(1) != "Charging"


async def test_a_cancelled_booking_takes_its_code_off_the_list(csms_lists: CsmsProcess) -> None:
    csms = csms_lists
    cp_id = await site_charger(csms, codes_on_local_list=True)
    driver = await sign_up_driver(csms)
    async with SimulatedChargePoint(
        csms.ocpp_url, cp_id, connectors=1, backoff=FAST, profiles=PROFILES, strict=True,
    ) as cp:
        far = await book(csms, driver, cp_id, 1, window(starts_in=3 * 3600))
        near = await book(csms, driver, cp_id, 1, window(starts_in=60))
        await eventually(lambda: _now(listed(cp, near["code"])), lambda i: i is not None)
        # A window hours away is not on the list yet (the lead is ten minutes).
        assert listed(cp, far["code"]) is None
        status, _ = await csms.request(
            "DELETE", f"/api/v1/reservations/{near['id']}", token=driver
        )
        assert status == 200
        await eventually(lambda: _now(listed(cp, near["code"])), lambda i: i is None, timeout=10)


async def test_the_option_is_changed_through_the_api(csms_lists: CsmsProcess) -> None:
    csms = csms_lists
    status, site = await csms.request(
        "POST", "/api/v1/sites", json={"name": unique("Yard"), "timezone": "Europe/Berlin"}
    )
    assert status == 201 and site["codes_on_local_list"] is False
    path = f"/api/v1/sites/{site['id']}"
    status, changed = await csms.request("PATCH", path, json={"codes_on_local_list": True})
    assert status == 200 and changed["codes_on_local_list"] is True
    assert changed["name"] == site["name"]
    assert (await csms.request("GET", path))[1]["codes_on_local_list"] is True
    status, error = await csms.request("PATCH", path, json={"codes_on_local_list": "yes"})
    assert status == 422 and error["error"]["code"] == "validation_failed"
    driver = await sign_up_driver(csms)
    assert (await csms.request("PATCH", path, token=driver, json={"name": "x"}))[0] == 403
    assert (await csms.request("PATCH", "/api/v1/sites/999999", json={"name": "x"}))[0] == 404


async def _now(value: Any) -> Any:
    return value
