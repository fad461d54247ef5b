"""Several csms processes on one PostgreSQL behave as one CSMS (real processes, the real
simulator, real sockets): commands reach a charger on any node, one charger id keeps one
connection, and event streams show what happens on every node."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed

from csms.store.charge_points import NODE_HEARTBEAT_SECONDS
from csms.store.nodes import NODE_LEASE_SECONDS
from simulators import SimulatedChargePoint
from simulators.charge_point import Backoff
from tests.charger_stub import ChargerStub
from tests.cluster.nodes import Balancer, Node, cluster
from tests.e2e.test_booking_with_simulator import FAST_METER, book, received, reservation, window
from tests.integration.api.test_events import listening
from tests.simulators.helpers import is_status, result, unique
from tests.waiting import eventually
from tests.world import TARIFF, sign_up_driver

FAST = Backoff(0.05, 0.5)


@pytest.fixture(scope="module")
async def nodes(
    postgres_uri: str, template_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[Node]]:
    async with cluster(postgres_uri, tmp_path_factory.mktemp("cluster"), 2) as started:
        yield started


async def charger_detail(node: Node, cp_id: str) -> dict[str, Any]:
    status, body = await node.request("GET", f"/api/v1/charge-points/{cp_id}")
    assert status == 200, body
    return dict(body)


async def online_on(node: Node, cp_id: str, holder: Node) -> None:
    """The charger is online, held by ``holder``, as ``node`` sees it."""
    await eventually(
        lambda: charger_detail(node, cp_id),
        lambda cp: cp["online"] and cp["connected_node"] == holder.node_id, timeout=10,
    )


async def test_a_command_through_one_node_reaches_a_charger_on_another(
    nodes: list[Node],
) -> None:
    a, b = nodes
    cp_id = await a.register_charge_point()
    async with SimulatedChargePoint(b.ocpp_url, cp_id, backoff=FAST, strict=True) as cp:
        await online_on(a, cp_id, b)
        status, answer = await a.request(
            "POST", f"/api/v1/charge-points/{cp_id}/commands/GetConfiguration",
            json={"key": ["HeartbeatInterval"]},
        )
        assert status == 200, answer
        [entry] = answer["configurationKey"]
        assert entry["key"] == "HeartbeatInterval" and entry["value"] == cp.model.config.get(
            "HeartbeatInterval")


async def test_errors_across_nodes_are_the_errors_of_one_node(nodes: list[Node]) -> None:
    a, b = nodes
    cp_id = await a.register_charge_point()
    path = f"/api/v1/charge-points/{cp_id}/commands"
    status, body = await a.request("POST", f"{path}/ClearCache", json={})
    assert status == 409 and body["error"]["code"] == "not_connected"
    async with await ChargerStub.connect(
        f"{b.ocpp_url}/{cp_id}", ClearCache=lambda p: None,  # never answered
        UnlockConnector=lambda p: ("error", "NotSupported"),
    ):
        await online_on(a, cp_id, b)
        status, body = await a.request(
            "POST", f"{path}/UnlockConnector", json={"connectorId": 1}
        )
        assert status == 502 and body["error"]["ocpp_error_code"] == "NotSupported", body
        status, body = await a.request("POST", f"{path}/ClearCache?timeout=1", json={})
        assert status == 504 and body["error"]["code"] == "charge_point_timeout", body


async def test_one_charger_id_on_two_nodes_keeps_only_the_newer_connection(
    nodes: list[Node],
) -> None:
    a, b = nodes
    cp_id = await a.register_charge_point()
    async with await ChargerStub.connect(f"{a.ocpp_url}/{cp_id}") as first:
        await online_on(b, cp_id, a)
        async with await ChargerStub.connect(f"{b.ocpp_url}/{cp_id}") as second:
            await asyncio.wait_for(first.connection.wait_closed(), timeout=10)
            await online_on(a, cp_id, b)
            assert await second.result("Heartbeat", {})
            await asyncio.sleep(1)  # and it stays that way
            assert (await charger_detail(a, cp_id))["connected_node"] == b.node_id
        await eventually(
            lambda: charger_detail(a, cp_id), lambda cp: not cp["online"], timeout=10
        )


async def test_an_event_stream_on_one_node_shows_a_charger_on_another(
    nodes: list[Node],
) -> None:
    a, b = nodes
    cp_id = await a.register_charge_point()
    async with listening(a.http_url, a.token) as stream, SimulatedChargePoint(
        b.ocpp_url, cp_id, backoff=FAST, strict=True
    ) as cp:
        await cp.plug(1)
        await cp.wait_for(is_status(1, "Preparing"))

        def seen(events: list[tuple[str, Any]]) -> bool:
            return any(
                kind == "connector" and data.get("charge_point_id") == cp_id
                and data.get("status") == "Preparing" for kind, data in events
            )

        await eventually(lambda: _value(stream.events), seen, timeout=10)


async def _value(value: Any) -> Any:
    return value


async def bookable_charger(node: Node, connectors: int = 1) -> str:
    status, site = await node.request(
        "POST", "/api/v1/sites", json={"name": unique("Yard"), "timezone": "Europe/Berlin"}
    )
    assert status == 201
    assert (await node.request("PUT", f"/api/v1/sites/{site['id']}/tariff", json=TARIFF))[0] == 200
    return await node.register_charge_point(connectors=connectors, site_id=site["id"])


async def test_a_booking_reaches_its_charger_on_another_node_and_follows_it_when_it_moves(
    nodes: list[Node],
) -> None:
    a, b = nodes
    cp_id = await bookable_charger(a)
    driver = await sign_up_driver(a)
    async with Balancer([b.ocpp_port, a.ocpp_port]) as balancer, SimulatedChargePoint(
        balancer.url, cp_id, connectors=1, backoff=FAST, config=FAST_METER, strict=True
    ) as cp:
        await online_on(a, cp_id, b)
        booking = await book(a, driver, cp_id, 1, window(starts_in=3))
        reserve = await cp.wait_for(received("ReserveNow"), timeout=15)
        assert reserve.payload["idTag"] == booking["code"]
        await eventually(lambda: reservation(a, driver, booking["id"]),
                         lambda r: r["status"] == "active", timeout=10)
        # The charger's connection drops and comes back through the balancer: to node a.
        await cp.go_offline()
        await cp.go_online()
        await online_on(b, cp_id, a)
        await cp.plug(1)
        await cp.code(1, booking["code"])
        started = await cp.wait_for(result("StartTransaction"), timeout=10)
        assert started.payload is not None
        assert started.payload["idTagInfo"]["status"] == "Accepted"
        await eventually(lambda: reservation(b, driver, booking["id"]),
                         lambda r: r["status"] == "charging", timeout=10)
        await cp.stop(1)
        await cp.wait_for(result("StopTransaction"), timeout=10)
    done = await eventually(lambda: reservation(b, driver, booking["id"]),
                            lambda r: r["status"] == "completed", timeout=10)
    assert [h["status"] for h in done["history"]] == ["booked", "active", "charging", "completed"]


async def test_after_kill_9_of_a_node_its_chargers_move_and_bookings_are_dispatched(
    postgres_uri: str, template_uri: str, tmp_path: Path
) -> None:
    async with cluster(postgres_uri, tmp_path, 2) as (a, b):
        cp_id = await bookable_charger(b)
        stranded = await b.register_charge_point()
        driver = await sign_up_driver(b)
        left_behind = await ChargerStub.connect(f"{a.ocpp_url}/{stranded}")
        async with Balancer([a.ocpp_port, b.ocpp_port]) as balancer, SimulatedChargePoint(
            balancer.url, cp_id, connectors=1, backoff=FAST, strict=True
        ) as cp:
            await online_on(b, cp_id, a)
            await online_on(b, stranded, a)
            booking = await book(b, driver, cp_id, 1, window(starts_in=4))
            a.kill()
            killed = time.monotonic()
            # The balancer sends the charger's next connection to the node still alive ...
            await online_on(b, cp_id, b)
            # ... where its booking is dispatched when the window opens.
            reserve = await cp.wait_for(received("ReserveNow"), timeout=20)
            assert reserve.payload["reservationId"] == booking["id"]
            await eventually(lambda: reservation(b, driver, booking["id"]),
                             lambda r: r["status"] == "active", timeout=10)
            # A charger left on the dead node's socket is offline once the node's lease ran out
            # (15 s), and released by the live node at its next beat (5 s).
            await eventually(
                lambda: charger_detail(b, stranded),
                lambda c: not c["online"] and c["connected_node"] is None, timeout=25,
            )
            assert time.monotonic() - killed < NODE_LEASE_SECONDS + NODE_HEARTBEAT_SECONDS + 3
        with contextlib.suppress(ConnectionClosed):  # its node died under it
            await left_behind.close()


async def test_each_node_labels_its_metrics_with_its_id(nodes: list[Node]) -> None:
    for node in nodes:
        async with aiohttp.ClientSession() as http, http.get(f"{node.http_url}/metrics") as got:
            text = await got.text()
        samples = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert samples and all(f'{{node="{node.node_id}"' in line for line in samples), text
