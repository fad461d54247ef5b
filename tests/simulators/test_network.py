"""The asyncio layer against a minimal in-process CSMS: handshake, auth, TLS, reconnects, the
offline queue, flow control — loopback only, every wait bounded."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulators import EventKind, SimulatedChargePoint
from simulators.charge_point import Backoff
from simulators.protocol import CallResult, parse_time
from tests.certificates import TestPki
from tests.simulators.fake_csms import FakeCsms
from tests.simulators.helpers import is_status, result, sent

FAST = Backoff(0.05, 0.3)
KEY = "0123456789abcdef0123"


async def test_handshake_path_subprotocol_and_no_compression() -> None:
    async with FakeCsms() as csms, SimulatedChargePoint(csms.url, "CP/1 x", backoff=FAST):
        cp_id, headers = csms.handshakes[0]
        assert cp_id == "CP%2F1%20x"  # the id is one path segment, percent-encoded
        assert headers["Sec-WebSocket-Protocol"] == "ocpp1.6"
        assert "Sec-WebSocket-Extensions" not in headers
        assert "Authorization" not in headers


async def test_boot_then_status_for_every_connector() -> None:
    async with FakeCsms() as csms, SimulatedChargePoint(csms.url, "CP-B", connectors=3,
                                                        backoff=FAST):
        await csms.until(lambda: len(csms.actions("CP-B")) >= 5)
        assert csms.actions("CP-B")[:5] == ["BootNotification"] + ["StatusNotification"] * 4
        for payload in csms.payloads("CP-B", "StatusNotification"):
            assert payload["timestamp"].endswith("Z")


async def test_basic_auth_with_the_key() -> None:
    async with (FakeCsms(keys={"CP-K": KEY}) as csms,
                SimulatedChargePoint(csms.url, "CP-K", key=KEY, backoff=FAST) as cp):
        assert cp.model.booted
        assert csms.handshakes[0][1]["Authorization"].startswith("Basic ")


async def test_a_wrong_key_is_refused_and_retried() -> None:
    async with FakeCsms(keys={"CP-K": KEY}) as csms:
        cp = SimulatedChargePoint(csms.url, "CP-K", key="not-the-key-at-all", backoff=FAST)
        with pytest.raises(TimeoutError, match="HTTP 401"):
            await cp.start(timeout=1.0)
        assert len(csms.handshakes) >= 2  # it keeps trying, with backoff
        await cp.close()


async def test_a_server_that_will_not_speak_ocpp16_is_left() -> None:
    async with FakeCsms(subprotocol=False) as csms:
        cp = SimulatedChargePoint(csms.url, "CP-P", backoff=FAST)
        with pytest.raises(TimeoutError):
            await cp.start(timeout=1.0)
        assert cp.last_error is not None and "ocpp1.6" in cp.last_error
        await cp.close()


async def test_heartbeats_at_the_interval_given_at_boot() -> None:
    async with (FakeCsms(interval=1) as csms,
                SimulatedChargePoint(csms.url, "CP-H", backoff=FAST) as cp):
        assert cp.model.config.get_int("HeartbeatInterval") == 1
        await csms.until(lambda: csms.actions("CP-H").count("Heartbeat") >= 2, timeout=4)


async def test_one_outstanding_call_at_a_time() -> None:
    async with (FakeCsms(answer_delay=0.05) as csms,
                SimulatedChargePoint(csms.url, "CP-O", backoff=FAST) as cp):
        await cp.plug(1)
        await cp.plug(2)
        await cp.fault(2)
        await cp.tap(1, "TAG")
        await cp.wait_for(is_status(1, "Charging"))
        await cp.wait_for(sent("StatusNotification", connectorId=1, status="Charging"))
        assert csms.max_in_flight == 1


async def test_reconnects_after_a_drop_without_booting_again() -> None:
    async with (FakeCsms() as csms,
                SimulatedChargePoint(csms.url, "CP-R", backoff=FAST) as cp):
        csms.drop("CP-R")
        await cp.wait_for(lambda e: e.kind is EventKind.CONNECTION
                          and e.text.startswith("disconnected"))
        await cp.fault(1)  # while the link is down
        await cp.wait_for(lambda e: e.kind is EventKind.CONNECTION
                          and e.text.startswith("connected"))
        await cp.wait_for(sent("StatusNotification", connectorId=1, status="Faulted"))
        assert csms.actions("CP-R").count("BootNotification") == 1
        assert cp.connects == 2


async def test_offline_transaction_messages_arrive_in_order_with_their_times() -> None:
    config = {"MeterValueSampleInterval": "1"}
    async with (FakeCsms() as csms,
                SimulatedChargePoint(csms.url, "CP-Q", config=config, backoff=FAST) as cp):
        await cp.plug(1)
        await cp.tap(1, "TAG")
        await cp.wait_for(result("StartTransaction"))
        await cp.go_offline()
        offline_at = datetime.now(UTC)
        await asyncio.sleep(2.3)
        await cp.stop(1)
        await cp.unplug(1)
        assert csms.actions("CP-Q").count("StopTransaction") == 0
        await cp.go_online()
        await csms.until(lambda: "StopTransaction" in csms.actions("CP-Q"))
        online_at = datetime.now(UTC)
        tail = [call for who, call, _ in csms.calls if who == "CP-Q"
                and call.action in ("MeterValues", "StopTransaction")]
        offline = [c for c in tail if parse_time(_time_of(c.payload)) >= offline_at]
        assert [c.action for c in offline] == ["MeterValues", "MeterValues", "StopTransaction"]
        assert all(parse_time(_time_of(c.payload)) < online_at for c in offline)
        assert {c.payload["transactionId"] for c in offline} == {500}


async def test_a_start_transaction_whose_answer_was_lost_is_sent_again() -> None:
    async with (FakeCsms(answer_delay=0.3) as csms,
                SimulatedChargePoint(csms.url, "CP-L", backoff=FAST) as cp):
        await cp.plug(1)
        await cp.tap(1, "TAG")
        await csms.until(lambda: "StartTransaction" in csms.actions("CP-L"))
        csms.drop("CP-L")  # before the answer
        await csms.until(lambda: csms.actions("CP-L").count("StartTransaction") == 2)
        first, second = csms.payloads("CP-L", "StartTransaction")
        assert first == second  # same idTag, meterStart and original timestamp
        await cp.wait_for(result("StartTransaction"))


def _time_of(payload: dict[str, object]) -> str:
    if "timestamp" in payload:
        return str(payload["timestamp"])
    return str(payload["meterValue"][0]["timestamp"])  # type: ignore[index]


async def test_reset_stops_charging_and_boots_again() -> None:
    async with (FakeCsms() as csms,
                SimulatedChargePoint(csms.url, "CP-Z", backoff=FAST) as cp):
        await cp.plug(1)
        await cp.tap(1, "TAG")
        await cp.wait_for(sent("StartTransaction"))
        answer = await csms.call("CP-Z", "Reset", {"type": "Hard"})
        assert isinstance(answer, CallResult) and answer.payload == {"status": "Accepted"}
        await csms.until(lambda: csms.actions("CP-Z").count("BootNotification") == 2)
        assert csms.payloads("CP-Z", "StopTransaction")[0]["reason"] == "HardReset"
        await cp.wait_booted()
        assert cp.connects == 2


async def test_a_new_authorization_key_is_used_on_the_next_connection() -> None:
    new_key = "fedcba9876543210fedc"
    keys = {"CP-N": KEY}
    async with (FakeCsms(keys=keys) as csms,
                SimulatedChargePoint(csms.url, "CP-N", key=KEY, backoff=FAST) as cp):
        answer = await csms.call("CP-N", "ChangeConfiguration",
                                 {"key": "AuthorizationKey", "value": new_key})
        assert answer.payload == {"status": "Accepted"}  # type: ignore[union-attr]
        keys["CP-N"] = new_key
        csms.drop("CP-N")
        await csms.until(lambda: len(csms.handshakes) == 2)
        await cp.wait_for(lambda e: e.text.startswith("connected"))


async def test_tls_and_mutual_tls(tmp_path: Path) -> None:
    pki = TestPki(tmp_path)
    server_cert, server_key = pki.issue("server", "127.0.0.1", server=True)
    client_cert, client_key = pki.issue("client", "CP-T", server=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca_path))
    context.load_cert_chain(server_cert, server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    async with FakeCsms(tls=context) as csms:
        assert csms.url.startswith("wss://")
        async with SimulatedChargePoint(csms.url, "CP-T", ca_file=str(pki.ca_path),
                                        cert_file=str(client_cert), key_file=str(client_key),
                                        backoff=FAST) as cp:
            assert cp.model.booted
        anonymous = SimulatedChargePoint(csms.url, "CP-U", ca_file=str(pki.ca_path),
                                         backoff=FAST)
        with pytest.raises(TimeoutError):
            await anonymous.start(timeout=1.0)
        await anonymous.close()
        untrusting = SimulatedChargePoint(csms.url, "CP-V", backoff=FAST)  # system CAs only
        with pytest.raises(TimeoutError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusting.start(timeout=1.0)
        await untrusting.close()


async def test_wait_for_matches_successive_events_and_events_streams() -> None:
    async with FakeCsms() as csms, SimulatedChargePoint(csms.url, "CP-E", backoff=FAST) as cp:
        seen: list[str] = []

        stream = cp.events()

        async def collect() -> None:
            async for event in stream:
                if event.kind is EventKind.STATUS:
                    seen.append(f"{event.connector}:{event.status}")

        collector = asyncio.get_running_loop().create_task(collect())
        await cp.plug(1)
        # After an action, waits may come in any order: the frame first, then the status event.
        await cp.wait_for(sent("StatusNotification", connectorId=1, status="Preparing"))
        status = await cp.wait_for(lambda e: e.kind is EventKind.STATUS)
        assert status.status == "Preparing"
        with pytest.raises(TimeoutError, match="no matching event"):  # each event once
            await cp.wait_for(lambda e: e.kind is EventKind.STATUS, timeout=0.2)
        await cp.unplug(1)
        with pytest.raises(TimeoutError, match="connector 1: Available"):
            await cp.wait_for(is_status(1, "Preparing"), timeout=0.2)  # only since unplug
        assert cp.seen(is_status(1, "Available")) is not None
        assert (await cp.wait_for(is_status(1, "Available"))).status == "Available"
        await asyncio.sleep(0.05)
        assert seen == ["1:Preparing", "1:Available"]
        assert cp.status(1) == "Available"
        collector.cancel()


async def test_close_stops_running_sessions_cleanly() -> None:
    async with FakeCsms() as csms:
        async with SimulatedChargePoint(csms.url, "CP-C", backoff=FAST) as cp:
            await cp.plug(1)
            await cp.tap(1, "TAG")
            await cp.wait_for(sent("StartTransaction"))
        assert csms.payloads("CP-C", "StopTransaction")[0]["reason"] == "Local"
        assert not cp.connected
