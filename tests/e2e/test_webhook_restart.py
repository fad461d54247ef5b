"""Webhooks across a restart of a real ``csms serve``: events being delivered when it stops
(SIGTERM) or dies (SIGKILL) are delivered again after it starts (at least once), nothing else
is sent twice, and the order per booking holds — a receiver that deduplicates by ``id`` sees
every event once, in order."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import (
    ShiftableClock,
    csms_serving,
    start_csms_process,
    stop_csms_process,
)
from tests.waiting import eventually
from tests.webhook_receiver import receiving
from tests.world import make_world

SECRET = "restart-secret-0123456789"


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


@pytest.mark.parametrize(
    ("stop", "timeout"),
    [
        pytest.param(stop_csms_process, "20", id="stopped"),
        # Killed: nothing is given back; its lease (2 x 3 s + 5 s) runs out, then it is sent.
        pytest.param(_kill, "3", id="killed"),
    ],
)
async def test_deliveries_cut_by_a_restart_are_made_after_it(
    postgres_uri: str,
    template_uri: str,
    tmp_path: Path,
    stop: Callable[[subprocess.Popen[bytes]], object],
    timeout: str,
) -> None:
    async with (
        receiving() as receiver,
        csms_serving(
            postgres_uri, tmp_path, webhook_retry_seconds="0.2", webhook_timeout=timeout
        ) as csms,
    ):
        world = await make_world(csms, ShiftableClock())
        status, _ = await csms.request(
            "POST", "/api/v1/webhooks",
            json={"url": receiver.url, "secret": SECRET, "events": ["booked", "cancelled"]},
        )
        assert status == 201
        receiver.release = asyncio.Event()  # Answers wait: csms is stopped mid-delivery.
        _, first = await world.book(1, world.window(starts_in=60))
        _, second = await world.book(2, world.window(starts_in=60))
        await eventually(lambda: asyncio.sleep(0, receiver.ids()), lambda ids: len(ids) == 2)
        # Cancelled while its booked event is in flight: the cancellation waits behind it.
        async with (
            aiohttp.ClientSession(headers=csms.headers(world.driver)) as http,
            http.delete(f"{csms.http_url}/api/v1/reservations/{first['id']}") as response,
        ):
            assert response.status == 200
        await asyncio.sleep(0.3)
        assert len(receiver.ids()) == 2
        assert csms.process is not None
        await asyncio.to_thread(stop, csms.process)
        in_flight = set(receiver.ids())
        receiver.release.set()

        again = await asyncio.to_thread(
            start_csms_process, csms.env, int(csms.http_url.rsplit(":", 1)[1]),
            tmp_path / "restarted.log",
        )
        try:
            await eventually(
                lambda: asyncio.sleep(0, receiver.unique()), lambda u: len(u) == 3, timeout=30
            )
            await asyncio.sleep(1.0)  # Nothing more comes.
        finally:
            await asyncio.to_thread(stop_csms_process, again)

    ids = receiver.ids()
    assert all(item.signed_by(SECRET) for item in receiver.received)
    # At least once: the two cut short (received, never answered) came again; nothing else
    # came twice, and nothing more than twice.
    assert {i for i in ids if ids.count(i) > 1} == in_flight
    assert all(ids.count(i) <= 2 for i in ids)
    kinds = [(e["reservation_id"], e["type"]) for e in receiver.unique().values()]
    assert sorted(kinds) == sorted(
        [(first["id"], "booked"), (first["id"], "cancelled"), (second["id"], "booked")]
    )
    # In order per booking: its booked event (each copy) before its cancellation.
    order = [(r.event["reservation_id"], r.event["type"]) for r in receiver.received]
    last_booked = max(i for i, k in enumerate(order) if k == (first["id"], "booked"))
    assert order.index((first["id"], "cancelled")) > last_booked

