"""Transactions as chargers really send them: retries, lost Stops, refused starts, wrong
clocks, meters that reset, absurd values — and a booking that always gets settled."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from csms.domain.timestamps import format_timestamp
from tests.charger_stub import ChargerStub
from tests.integration.booking.test_failure_paths import wait_status
from tests.waiting import eventually
from tests.world import World, parse

BIG = 2**63 - 1


def _after(moment: datetime, minutes: int) -> str:
    return format_timestamp(moment + timedelta(minutes=minutes))


async def start(charger: ChargerStub, id_tag: str, at: str, meter: int = 0, **extra: Any) -> Any:
    return await charger.result("StartTransaction", {
        "connectorId": 1, "idTag": id_tag, "meterStart": meter, "timestamp": at, **extra})


async def transactions(world: World) -> list[dict[str, Any]]:
    status, page = await world.server.request(
        "GET", f"/api/v1/transactions?charge_point_id={world.cp_id}")
    assert status == 200
    return list(page["items"])


async def charging(world: World, charger: ChargerStub) -> tuple[dict[str, Any], str, int]:
    """A booking on connector 1, started with its code; (booking, window start, transaction)."""
    begin, _ = world.window()
    _, booking = await world.book(1)
    await wait_status(world, booking["id"], "active")
    answer = await start(charger, booking["code"], begin, reservationId=booking["id"])
    assert answer["idTagInfo"]["status"] == "Accepted"
    await wait_status(world, booking["id"], "charging")
    return booking, begin, answer["transactionId"]


async def test_a_retry_is_the_same_message_and_a_new_one_in_the_same_second_is_new(
    world: World,
) -> None:
    for tag in ("CARD-A", "CARD-B"):
        await world.server.add_id_tag(tag)
    async with await world.connect() as charger:
        at = world.window()[0]  # whole seconds, as many chargers stamp
        first = await start(charger, "CARD-A", at, 100)
        assert (await start(charger, "CARD-A", at, 100))["transactionId"] == first["transactionId"]
        other_tag = await start(charger, "card-b", at, 100)
        other_meter = await start(charger, "CARD-A", at, 250)
    ids = {first["transactionId"], other_tag["transactionId"], other_meter["transactionId"]}
    assert len(ids) == 3


async def test_a_new_start_closes_the_transaction_whose_stop_was_lost(world: World) -> None:
    async with await world.connect() as charger:
        booking, begin, lost = await charging(world, charger)
        at = parse(begin)
        await charger.result("MeterValues", {"connectorId": 1, "transactionId": lost,
            "meterValue": [{"timestamp": _after(at, 10), "sampledValue": [{"value": "4000"}]}]})
        # Power loss: the charger reboots (its meter back at 0), the driver types the code again.
        world.clock.advance(minutes=12)
        again = await start(charger, booking["code"], _after(at, 12), 0)
        assert again["transactionId"] != lost
        assert again["idTagInfo"]["status"] == "Accepted"
        follows = await world.reservation(booking["id"])
        assert follows["status"] == "charging"
        assert follows["transaction"]["id"] == again["transactionId"]
        assert any("continues" in h["reason"] for h in follows["history"]), follows["history"]
        world.clock.advance(minutes=10)
        await charger.result("StopTransaction", {"transactionId": again["transactionId"],
            "meterStop": 3000, "timestamp": _after(at, 22), "reason": "Local"})
    done = await wait_status(world, booking["id"], "completed")
    rows = {row["id"]: row for row in await transactions(world)}
    assert rows[lost]["stop_reason"] == "StopLost" and rows[lost]["stopped_at"] is not None
    assert done["energy_kwh"] == "7.000"  # 4 kWh before the power loss + 3 kWh after


async def test_a_session_that_ends_without_a_stop_is_settled_when_the_connector_is_free(
    world: World,
) -> None:
    async with await world.connect() as charger:
        booking, begin, tx = await charging(world, charger)
        world.clock.advance(minutes=15)
        await charger.result("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
            {"timestamp": _after(parse(begin), 15), "sampledValue": [{"value": "2500"}]}]})
        await charger.result("StatusNotification",
                             {"connectorId": 1, "status": "Available", "errorCode": "NoError"})
        done = await wait_status(world, booking["id"], "completed")
    assert done["energy_kwh"] == "2.500"
    assert done["status_reason"] == (
        "the session ended without a Stop (the connector is free); settled from its last readings"
    )


async def test_a_booking_left_charging_is_settled_after_its_window(world: World) -> None:
    async with await world.connect() as charger:
        booking, _, _ = await charging(world, charger)
    world.clock.advance(minutes=60 + 31)  # the charger is gone; the window long over
    done = await wait_status(world, booking["id"], "completed", timeout=15)
    assert done["cost"] is not None


async def test_refused_starts_are_closed_and_show_no_code(world: World) -> None:
    async with await world.connect() as charger:
        booking, begin, accepted = await charging(world, charger)
        refused = await charger.result("StartTransaction", {"connectorId": 2, "idTag": "424242",
            "meterStart": 0, "timestamp": begin})
        assert refused["idTagInfo"]["status"] == "Invalid"
    rows = {row["id"]: row for row in await transactions(world)}
    closed = rows[refused["transactionId"]]
    assert closed["stopped_at"] is not None and closed["stop_reason"] == "Refused"
    assert closed["id_tag"] is None and rows[accepted]["id_tag"] is None  # codes are secrets
    _, page = await world.server.request(
        "GET", f"/api/v1/transactions?charge_point_id={world.cp_id}&open=true")
    assert [row["id"] for row in page["items"]] == [accepted]
    assert booking["code"] not in str(page)


async def test_absurd_readings_are_stored_not_priced_and_both_views_agree(world: World) -> None:
    async with await world.connect() as charger:
        booking, begin, tx = await charging(world, charger)
        at = parse(begin)
        samples = [("1000-01-01T00:00:00Z", "999999"), ("1970-01-01T00:00:00Z", "0"),
                   ("2999-01-01T00:00:00Z", "5"), (_after(at, 5), "2000"),
                   (_after(at, 6), str(BIG)),  # no meter jumps by 2^63 Wh in a minute
                   (_after(at, 10), "0"), (_after(at, 20), "1500")]  # a reboot reset it
        world.clock.advance(minutes=30)
        await charger.result("StopTransaction", {"transactionId": tx, "meterStop": 2500,
            "timestamp": _after(at, 30), "reason": "Local", "transactionData": [
                {"timestamp": t, "sampledValue": [{"value": v}]} for t, v in samples]})
    done = await wait_status(world, booking["id"], "completed")
    [row] = [r for r in await transactions(world) if r["id"] == tx]
    assert done["energy_kwh"] == "4.500"  # 0 → 2000, reset, 0 → 2500
    assert Decimal(row["energy_wh"]) / 1000 == Decimal(done["energy_kwh"])
    assert done["transaction"]["energy_kwh"] == done["energy_kwh"]
    assert world.server.pool is not None
    stored = await world.server.pool.fetchval(
        "SELECT count(*) FROM meter_values WHERE transaction_id = $1", tx)
    assert stored == len(samples)  # all kept for support


async def test_int64_registers_are_fine_and_beyond_is_refused(world: World) -> None:
    await world.server.add_id_tag("CARD-BIG")
    async with await world.connect() as charger:
        at = world.window()[0]
        tx = (await start(charger, "CARD-BIG", at, BIG))["transactionId"]
        assert await charger.result("StopTransaction", {"transactionId": tx, "meterStop": BIG,
                                                        "timestamp": at}) == {}
        beyond = await charger.call("StartTransaction", {"connectorId": 2, "idTag": "CARD-BIG",
                                                         "meterStart": BIG + 1, "timestamp": at})
    assert beyond[0] == 4 and beyond[2] == "PropertyConstraintViolation"
    [row] = [r for r in await transactions(world) if r["id"] == tx]
    assert row["energy_wh"] == 0


async def test_pricing_a_session_from_year_1000_stalls_no_other_charger(world: World) -> None:
    """While one charger stops a session with a reading dated year 1000, another charger's
    Heartbeat still comes back at once (it used to wait ~22 s behind the pricing)."""
    other = await world.add_charger(connectors=1)
    async with await world.connect() as charger, await world.connect(other) as neighbour:
        booking, begin, tx = await charging(world, charger)
        stop = charger.result("StopTransaction", {"transactionId": tx, "meterStop": 9000,
            "timestamp": begin, "reason": "Local", "transactionData": [{
                "timestamp": "1000-01-01T00:00:00Z", "sampledValue": [{"value": "10"}]}]})
        stopping = asyncio.ensure_future(stop)
        round_trips = []
        while not stopping.done():
            sent = time.perf_counter()
            await neighbour.result("Heartbeat", {})
            round_trips.append(time.perf_counter() - sent)
        await stopping
    await wait_status(world, booking["id"], "completed")
    assert max(round_trips) < 1.0, round_trips  # generous; measured in milliseconds here


async def test_a_late_stop_for_a_lost_transaction_settles_the_booking_again(
    world: World,
) -> None:
    """The charger lost touch, not its Stop: a new start closed the old transaction, the booking
    completed, and only then does the old transaction's own StopTransaction arrive."""
    async with await world.connect() as charger:
        booking, begin, first = await charging(world, charger)
        at = parse(begin)
        world.clock.advance(minutes=10)
        second = await start(charger, booking["code"], _after(at, 10), 0)
        world.clock.advance(minutes=10)
        await charger.result("StopTransaction", {"transactionId": second["transactionId"],
            "meterStop": 2000, "timestamp": _after(at, 20), "reason": "Local"})
        await wait_status(world, booking["id"], "completed")
        await charger.result("StopTransaction", {"transactionId": first,
            "meterStop": 3000, "timestamp": _after(at, 9), "reason": "PowerLoss"})
        done = await eventually(lambda: world.reservation(booking["id"]),
                                lambda r: r["energy_kwh"] == "5.000")
    rows = {row["id"]: row for row in await transactions(world)}
    assert rows[first]["stop_reason"] == "PowerLoss"  # the charger's own Stop replaced ours
    assert sum(rows[t]["energy_wh"] for t in (first, second["transactionId"])) == 5000
    assert done["history"][-1]["reason"].startswith("settled again")


async def test_late_readings_of_a_closed_transaction_are_priced_in_both_views(
    world: World,
) -> None:
    """Readings a charger queued for a session the CSMS has already closed (its Stop was lost)
    count in that transaction's energy and in the booking's, alike."""
    async with await world.connect() as charger:
        booking, begin, first = await charging(world, charger)
        at = parse(begin)
        world.clock.advance(minutes=10)
        second = await start(charger, booking["code"], _after(at, 10), 0)
        await charger.result("MeterValues", {"connectorId": 1, "transactionId": first,
            "meterValue": [{"timestamp": _after(at, 8), "sampledValue": [{"value": "1500"}]}]})
        world.clock.advance(minutes=10)
        await charger.result("StopTransaction", {"transactionId": second["transactionId"],
            "meterStop": 2000, "timestamp": _after(at, 20), "reason": "Local"})
    done = await wait_status(world, booking["id"], "completed")
    rows = {row["id"]: row for row in await transactions(world)}
    assert rows[first]["energy_wh"] == 1500
    assert done["energy_kwh"] == "3.500"
