"""``/metrics`` as Prometheus reads it: every family with HELP and TYPE, the node label on
every sample, a strictly valid exposition, and figures that move when chargers, drivers and
operators do things; the Grafana dashboard asks only for families csms exposes."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from csms.api import service
from csms.api.context import WORKERS
from csms.domain.timestamps import format_timestamp
from csms.server import running
from tests.conftest import ShiftableClock, test_settings
from tests.prometheus_text import MetricFamily, parse
from tests.waiting import eventually
from tests.world import World

DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana" / "csms-dashboard.json"

FAMILIES = {
    "csms_connected_charge_points": "gauge",
    "csms_ocpp_calls_received_total": "counter",
    "csms_ocpp_call_errors_sent_total": "counter",
    "csms_ocpp_call_errors_received_total": "counter",
    "csms_ocpp_call_duration_seconds": "histogram",
    "csms_worker_failures_total": "counter",
    "csms_worker_restarts_total": "counter",
    "csms_worker_up": "gauge",
    "csms_db_pool_connections": "gauge",
    "csms_db_pool_idle_connections": "gauge",
    "csms_db_pool_max_connections": "gauge",
    "csms_bookings": "gauge",
    "csms_booking_transitions_total": "counter",
    "csms_scheduler_overdue_seconds": "gauge",
    "csms_scheduler_lag_seconds": "histogram",
    "csms_reserve_now_total": "counter",
    "csms_http_request_duration_seconds": "histogram",
    "csms_live_state_flush_duration_seconds": "histogram",
    "csms_live_state_flush_lag_seconds": "histogram",
    "csms_message_log_queued_total": "counter",
    "csms_message_log_written_total": "counter",
    "csms_message_log_dropped_total": "counter",
}


async def scrape(http_url: str) -> tuple[str, dict[str, MetricFamily]]:
    async with aiohttp.ClientSession() as http, http.get(f"{http_url}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return text, parse(text)


@pytest.fixture
def fresh_booking_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Booking figures read at every scrape (they are cached for seconds otherwise)."""
    monkeypatch.setattr(service, "BOOKING_FIGURES_TTL", 0.0)


def count(families: dict[str, MetricFamily], name: str, **labels: str) -> float:
    return families[name].value(f"{name}_count", **labels)


async def test_every_family_is_exposed_and_labelled_with_the_node(world: World) -> None:
    _text, families = await scrape(world.server.http_url)
    for name, kind in FAMILIES.items():
        assert name in families, f"{name} missing"
        assert families[name].type == kind and families[name].help, name
    nodes = {dict(labels).get("node") for f in families.values() for _, labels, _ in f.samples}
    assert len(nodes) == 1 and None not in nodes, nodes
    assert families["csms_db_pool_max_connections"].value() == 10  # CSMS_DB_POOL_MAX default
    assert 1 <= families["csms_db_pool_connections"].value() <= 10
    statuses = {dict(ls)["status"] for _, ls, _ in families["csms_bookings"].samples}
    assert statuses == {"booked", "active", "charging", "completed", "cancelled", "expired",
                        "failed"}


async def test_figures_move_under_load(world: World, fresh_booking_figures: None) -> None:
    server = world.server
    _, before = await scrape(server.http_url)
    charger = await world.connect(free=(1, 2), ClearCache=lambda p: {"status": "Accepted"})
    async with charger:
        # A booking whose window opens in two seconds: the scheduler sleeps until it is due.
        start = (world.clock() + timedelta(seconds=2)).replace(microsecond=0)
        status, booking = await world.book(
            1, (format_timestamp(start), format_timestamp(start + timedelta(minutes=30)))
        )
        assert status == 201, booking
        await charger.wait_call("ReserveNow")
        await eventually(
            lambda: world.reservation(booking["id"]), lambda r: r["status"] == "active"
        )
        started = await charger.result("StartTransaction", {
            "connectorId": 1, "idTag": booking["code"], "meterStart": 0,
            "timestamp": format_timestamp(world.clock()), "reservationId": booking["id"],
        })
        assert started["idTagInfo"]["status"] == "Accepted"
        # A command answered, one refused with a CALLERROR, and a CALLERROR sent to the charger.
        path = f"/api/v1/charge-points/{world.cp_id}/commands"
        assert (await server.request("POST", f"{path}/ClearCache", json={}))[0] == 200
        refused = await server.request(
            "POST", f"{path}/TriggerMessage", json={"requestedMessage": "Heartbeat"}
        )
        assert refused[0] == 502, refused
        assert (await charger.call("NoSuchAction", {}))[0] == 4
        # A path no route has: counted, but never as a label of its own.
        probe = f"/no-such-{secrets.token_hex(4)}"
        async with aiohttp.ClientSession() as http, http.get(server.http_url + probe) as got:
            assert got.status == 404

        text, after = await eventually(
            lambda: scrape(server.http_url),
            lambda scraped: scraped[1]["csms_message_log_written_total"].value()
            >= scraped[1]["csms_message_log_queued_total"].value() > 0,
        )
    assert probe not in text

    def grew(name: str, sample: str | None = None, **labels: str) -> bool:
        return after[name].value(sample, **labels) > before[name].value(sample, **labels)

    assert after["csms_connected_charge_points"].value() == 1
    assert after["csms_bookings"].value(status="charging") == 1
    transitions = after["csms_booking_transitions_total"]
    for old, new in (("(new)", "booked"), ("booked", "active"), ("active", "charging")):
        assert transitions.value(**{"from": old, "to": new}) == 1, (old, new)
    assert grew("csms_reserve_now_total", status="Accepted")
    histogram = "csms_ocpp_call_duration_seconds"
    assert grew(histogram, f"{histogram}_count", action="ReserveNow", outcome="result")
    assert grew(histogram, f"{histogram}_count", action="TriggerMessage", outcome="call_error")
    assert grew("csms_ocpp_call_errors_received_total", code="NotImplemented")
    assert grew("csms_ocpp_call_errors_sent_total", code="NotImplemented")
    assert grew("csms_ocpp_calls_received_total", action="StartTransaction")
    http = "csms_http_request_duration_seconds"
    assert grew(http, f"{http}_count", route="/api/v1/reservations", method="POST", status="2xx")
    assert grew(http, f"{http}_count", route="/api/v1/charge-points/{cp_id}/commands/{action}",
                method="POST", status="5xx")
    assert grew(http, f"{http}_count", route="(unmatched)", method="GET", status="4xx")
    lag = "csms_scheduler_lag_seconds"
    assert grew(lag, f"{lag}_count")
    for flush in ("csms_live_state_flush_duration_seconds", "csms_live_state_flush_lag_seconds"):
        assert grew(flush, f"{flush}_count"), flush
    assert grew("csms_message_log_queued_total") and grew("csms_message_log_written_total")


async def test_a_worker_restart_is_counted(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> None:
    settings = test_settings(database_url, tmp_path)
    async with running(settings, clock) as runner:
        supervisor = runner.app[WORKERS]
        supervisor.delay = lambda failures, *, database_away: 0.01
        failed = asyncio.Event()

        async def fails_once() -> None:
            if not failed.is_set():
                failed.set()
                raise RuntimeError("first run fails")
            await asyncio.Event().wait()

        supervisor.start("flaky", fails_once)
        url = f"http://127.0.0.1:{settings.http_port}"
        _, families = await eventually(
            lambda: scrape(url),
            lambda s: s[1]["csms_worker_up"].value(worker="flaky") == 1
            and s[1]["csms_worker_restarts_total"].value(worker="flaky") == 1,
        )
        assert families["csms_worker_failures_total"].value(worker="flaky") == 1
        assert families["csms_worker_restarts_total"].value(worker="scheduler") == 0


async def test_the_dashboard_asks_only_for_exposed_families(world: World) -> None:
    _, families = await scrape(world.server.http_url)
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    assert len(expressions) >= len(FAMILIES) - 3
    queried: set[str] = set()
    for expression in expressions:
        queried |= set(re.findall(r"\bcsms_[a-z_]+", expression))
    # Exposed only by a csms that runs its own embedded PostgreSQL (this one is given a URL).
    exposed = set(families) | {"csms_embedded_postgres_restarts_total"}
    for name in queried:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in exposed or (base in exposed and families[base].type == "histogram"), name
    # Every family has a panel.
    assert {re.sub(r"_(bucket|sum|count)$", "", n) for n in queried} >= set(FAMILIES)
    node = next(v for v in dashboard["templating"]["list"] if v["name"] == "node")
    assert node["query"]["query"] == "label_values(csms_worker_up, node)"
    assert all('node=~"$node"' in e for e in expressions), expressions
