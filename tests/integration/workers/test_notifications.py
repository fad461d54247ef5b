"""Notifications against real PostgreSQL and real sockets: the outbox written with the change
it reports, reminders, the event stream, webhooks (a real local receiver) and the email sink."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from csms.booking import store
from csms.booking.states import InvalidTransition
from csms.booking.states import ReservationStatus as S
from tests.conftest import ServerHandle, ShiftableClock, serving, test_settings
from tests.integration.api.test_events import listening
from tests.prometheus_text import parse
from tests.waiting import eventually
from tests.webhook_receiver import receiving
from tests.world import World, make_world

SECRET = "s3cret-of-sixteen-or-more"


@pytest.fixture
async def notified(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> AsyncIterator[World]:
    """The world on a server whose webhooks retry fast and whose mail goes to a file."""
    settings = test_settings(
        database_url, tmp_path, webhook_retry_seconds=0.1, webhook_max_attempts=3,
        webhook_timeout=10.0, email=f"file:{tmp_path / 'mail.jsonl'}",
    )
    async with serving(settings, clock) as server:
        yield await make_world(server, clock)


def _pool(world: World) -> asyncpg.Pool:
    assert world.server.pool is not None
    return world.server.pool


async def _events(world: World, reservation_id: int) -> list[tuple[str, dict[str, Any]]]:
    rows = await _pool(world).fetch(
        "SELECT type, payload FROM notifications WHERE reservation_id = $1 ORDER BY id",
        reservation_id,
    )
    return [(r["type"], r["payload"]) for r in rows]


async def _cancel(world: World, reservation_id: int) -> None:
    status, body = await world.server.request(
        "DELETE", f"/api/v1/reservations/{reservation_id}", token=world.driver
    )
    assert status == 200, body


async def _subscribe(server: ServerHandle, url: str, events: list[str]) -> dict[str, Any]:
    status, body = await server.request(
        "POST", "/api/v1/webhooks", json={"url": url, "secret": SECRET, "events": events}
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def test_booking_and_cancelling_write_their_events_in_order(world: World) -> None:
    status, booking = await world.book(1, world.window(starts_in=60))
    assert status == 201, booking
    await _cancel(world, booking["id"])
    events = await _events(world, booking["id"])
    assert [kind for kind, _ in events] == ["booked", "cancelled"]
    booked = events[0][1]
    assert booked["charge_point_id"] == world.cp_id and booked["connector_id"] == 1
    assert booked["start"].endswith("Z") and booked["status"] == "booked"
    assert all(booking["code"] not in json.dumps(payload) for _, payload in events)


async def test_a_refused_transition_writes_no_event(world: World) -> None:
    _, booking = await world.book(1, world.window(starts_in=60))
    pool = _pool(world)
    async with pool.acquire() as connection:
        await store.transition(connection, booking["id"], S.CANCELLED, "test", world.clock())
        with pytest.raises(InvalidTransition):
            await store.transition(connection, booking["id"], S.EXPIRED, "test", world.clock())
        with pytest.raises(InvalidTransition):  # In a transaction that then commits.
            async with connection.transaction():
                await store.transition(
                    connection, booking["id"], S.COMPLETED, "test", world.clock()
                )
    assert [kind for kind, _ in await _events(world, booking["id"])] == ["booked", "cancelled"]


async def test_a_move_and_a_no_show_name_what_happened(world: World) -> None:
    _, booking = await world.book(1, world.window(starts_in=60))
    start, end = world.window(starts_in=120)
    status, moved = await world.server.request(
        "PATCH", f"/api/v1/reservations/{booking['id']}",
        json={"connector_id": 2, "start": start, "end": end},
    )
    assert status == 200, moved
    async with _pool(world).acquire() as connection:
        await store.transition(
            connection, booking["id"], S.EXPIRED, "the window ended unused", world.clock()
        )
    events = await _events(world, booking["id"])
    assert [kind for kind, _ in events] == ["booked", "moved", "no_show"]
    payload = events[1][1]
    assert payload["connector_id"] == 2 and payload["from"]["connector_id"] == 1
    assert payload["from"]["start"] == booking["start"].replace("Z", ".000Z")
    assert "moved by an operator" in payload["reason"]


async def test_only_news_is_an_event(world: World) -> None:
    """Active again (the CSMS takes over), a retry's new reason: no event; failed: one."""
    _, booking = await world.book(1, world.window(starts_in=60))
    rid, now = booking["id"], world.clock()
    async with _pool(world).acquire() as connection:
        await store.transition(connection, rid, S.ACTIVE, "reserved on the charger", now)
        await store.transition(connection, rid, S.ACTIVE, "the CSMS enforces it", now)
        await store.transition(connection, rid, S.BOOKED, "the charger dropped it", now)
        await store.transition(connection, rid, S.BOOKED, "retrying: Occupied", now)
        await store.transition(connection, rid, S.FAILED, "no connector free", now)
    events = await _events(world, rid)
    assert [kind for kind, _ in events] == ["booked", "reserved", "failed"]
    assert events[-1][1]["reason"] == "no connector free"


async def test_a_session_settled_again_is_news_only_when_its_cost_changed(world: World) -> None:
    _, booking = await world.book(1, world.window(starts_in=60))
    rid, now = booking["id"], world.clock()
    async with _pool(world).acquire() as connection:
        await store.transition(connection, rid, S.CHARGING, "charging started", now)
        for cost in ("3.00", "3.00", "4.50"):
            await store.transition(
                connection, rid, S.COMPLETED, "settled", now,
                cost=Decimal(cost), energy_kwh=Decimal("5.000"),
            )
    events = await _events(world, rid)
    assert [(k, p.get("cost")) for k, p in events] == [
        ("booked", None), ("completed", "3.00"), ("completed", "4.50")
    ]


async def test_reserved_and_completed_carry_the_session(world: World) -> None:
    from tests.integration.booking.test_sessions import charging

    charger = await world.connect(free=(1,))
    booking, _, tx = await charging(world, charger)
    stamp = world.window()[0]
    await charger.result(
        "StopTransaction", {"transactionId": tx, "meterStop": 7000, "timestamp": stamp}
    )
    await eventually(lambda: world.reservation(booking["id"]), lambda r: r["status"] == "completed")
    events = await _events(world, booking["id"])
    assert [kind for kind, _ in events] == ["booked", "reserved", "completed"]
    done = events[-1][1]
    assert done["currency"] == "EUR" and done["energy_kwh"] == "7.000"
    assert done["cost"] is not None and isinstance(done["cost_breakdown"], dict | list)
    await charger.close()


async def test_a_reminder_comes_once_within_the_lead(world: World) -> None:
    from csms.store import notifications

    _, booking = await world.book(1, world.window(starts_in=45))
    _, late = await world.book(2, world.window(starts_in=20))  # Booked within the lead.
    pool, lead = _pool(world), timedelta(minutes=30)
    assert await notifications.create_reminders(pool, world.clock(), lead) == 0
    world.clock.advance(minutes=20)
    # Two nodes at once: one reminder.
    written = await asyncio.gather(
        *(notifications.create_reminders(pool, world.clock(), lead) for _ in range(4))
    )
    assert sum(written) <= 1
    assert [k for k, _ in await _events(world, booking["id"])] == ["booked", "reminder"]
    assert [k for k, _ in await _events(world, late["id"])] == ["booked"]


async def test_the_event_stream_carries_notifications(world: World) -> None:
    other = await world.new_driver()
    async with (
        listening(world.server.http_url, world.driver) as mine,
        listening(world.server.http_url, world.server.token) as operator,
        listening(world.server.http_url, other) as theirs,
    ):
        _, booking = await world.book(1, world.window(starts_in=60))
        await _cancel(world, booking["id"])
        seen = await eventually(
            lambda: asyncio.sleep(0, mine.of("notification")), lambda e: len(e) >= 2
        )
        await eventually(
            lambda: asyncio.sleep(0, operator.of("notification")), lambda e: len(e) >= 2
        )
    assert [e["type"] for e in seen] == ["booked", "cancelled"]
    assert all(e["reservation_id"] == booking["id"] for e in seen)
    assert set(seen[0]) == {"id", "type", "reservation_id", "payload", "created_at"}
    assert seen[0]["id"] < seen[1]["id"]
    assert theirs.of("notification") == []


async def test_webhook_deliveries_are_signed_retried_and_in_order(notified: World) -> None:
    world = notified
    async with receiving() as receiver:
        hook = await _subscribe(world.server, receiver.url, ["booked", "cancelled"])
        assert "secret" not in hook
        receiver.statuses = [500, 503]  # The first event's first two attempts fail.
        _, booking = await world.book(1, world.window(starts_in=60))
        await _cancel(world, booking["id"])
        await eventually(
            lambda: asyncio.sleep(0, receiver.unique()), lambda u: len(u) == 2, timeout=10
        )
    assert all(item.signed_by(SECRET) for item in receiver.received)
    kinds = [item.event["type"] for item in receiver.received]
    # Retried until delivered, and the later event only after it.
    assert kinds == ["booked", "booked", "booked", "cancelled"]
    first = receiver.received[0].event
    assert first["reservation_id"] == booking["id"] and set(first) == {
        "id", "type", "reservation_id", "payload", "created_at"
    }
    _, listed = await world.server.request("GET", "/api/v1/webhooks")
    [shown] = listed["webhooks"]
    assert (shown["delivered"], shown["pending"], shown["dead"]) == (2, 0, 0)


async def test_a_webhook_that_keeps_failing_is_dead_lettered(notified: World) -> None:
    world = notified
    async with receiving() as receiver:
        await _subscribe(world.server, receiver.url, ["booked", "cancelled"])
        receiver.statuses = [500] * 3  # CSMS_WEBHOOK_MAX_ATTEMPTS is 3 here.
        _, booking = await world.book(1, world.window(starts_in=60))
        await _cancel(world, booking["id"])
        # The dead one no longer holds back the next event of the booking.
        await eventually(
            lambda: asyncio.sleep(0, receiver.received),
            lambda r: [i.event["type"] for i in r] == ["booked"] * 3 + ["cancelled"],
            timeout=10,
        )
    rows = await _pool(world).fetch(
        """SELECT n.type, d.state, d.attempts, d.last_error FROM notification_deliveries d
           JOIN notifications n ON n.id = d.notification_id
           WHERE d.webhook_id IS NOT NULL ORDER BY n.id"""
    )
    assert [(r["type"], r["state"], r["attempts"]) for r in rows] == [
        ("booked", "dead", 3), ("cancelled", "delivered", 1)
    ]
    assert rows[0]["last_error"] == "HTTP 500"
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{world.server.http_url}/metrics") as response,
    ):
        family = parse(await response.text())["csms_notification_deliveries_total"]
    assert family.type == "counter"
    assert family.value(channel="webhook", outcome="dead") >= 1
    assert family.value(channel="webhook", outcome="retried") >= 2
    assert family.value(channel="webhook", outcome="delivered") >= 1


async def test_a_driver_gets_a_booked_email(notified: World, tmp_path: Path) -> None:
    world = notified
    _, booking = await world.book(1, world.window(starts_in=60))
    mail = tmp_path / "mail.jsonl"
    lines = await eventually(
        lambda: asyncio.sleep(0, mail.read_text().splitlines() if mail.exists() else []),
        lambda found: len(found) >= 1,
    )
    message = json.loads(lines[0])
    assert message["to"].startswith("driver") and "booked" in message["subject"]
    assert booking["code"] in message["body"] and world.cp_id in message["body"]



async def test_several_nodes_deliver_each_event_once_in_order(
    notified: World, database_url: str
) -> None:
    """Three delivery workers on one database (the server's, and two more with pools of their
    own, as other nodes would run them): every event reaches the receiver once, each
    booking's in order."""
    from csms.store.database import create_pool
    from csms.workers.notifications import NotificationDelivery

    world = notified
    pools = [await create_pool(database_url, min_size=1, max_size=3) for _ in range(2)]
    others = [
        NotificationDelivery(
            pool, world.clock, email=None, timeout=10.0, max_attempts=3, first_retry=0.1,
            poll_seconds=0.05,
        )
        for pool in pools
    ]
    async with contextlib.AsyncExitStack() as stack, receiving() as receiver:
        for pool in pools:
            stack.push_async_callback(pool.close)
        await _subscribe(world.server, receiver.url, ["booked", "cancelled"])
        workers = [asyncio.create_task(worker.run()) for worker in others]
        try:
            bookings = []
            for n in range(4):
                _, booking = await world.book(1 + n % 2, world.window(starts_in=60 + 60 * n))
                bookings.append(booking["id"])
                await _cancel(world, booking["id"])
            await eventually(
                lambda: asyncio.sleep(0, receiver.ids()), lambda ids: len(ids) >= 8, timeout=10
            )
            await asyncio.sleep(0.5)  # Nothing more comes.
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    ids = receiver.ids()
    assert len(ids) == len(set(ids)) == 8
    for rid in bookings:
        kinds = [r.event["type"] for r in receiver.received if r.event["reservation_id"] == rid]
        assert kinds == ["booked", "cancelled"]


async def test_the_reminder_worker_reminds_by_email(notified: World, tmp_path: Path) -> None:
    world = notified
    _, booking = await world.book(1, world.window(starts_in=45))
    world.clock.advance(minutes=20)  # The window now opens in 25 minutes: within the lead.
    mail = tmp_path / "mail.jsonl"

    async def subjects() -> list[str]:
        lines = mail.read_text().splitlines() if mail.exists() else []
        return [json.loads(line)["subject"] for line in lines]

    found = await eventually(subjects, lambda s: any("opens soon" in x for x in s), timeout=10)
    assert f"(booking {booking['id']})" in next(x for x in found if "opens soon" in x)
    assert [k for k, _ in await _events(world, booking["id"])] == ["booked", "reminder"]
