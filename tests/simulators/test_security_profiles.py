"""Security profiles (SEC, use case A05): ChangeConfiguration SecurityProfile / AuthorizationKey,
the reconnection with TLS and the charger's own client certificate, and the fallback to the
previous profile when the new one does not connect."""

from __future__ import annotations

from pathlib import Path

from simulators import EventKind, SimulatedChargePoint
from simulators.charge_point import Backoff
from simulators.protocol import CallResult
from tests.simulators.fake_csms import FakeCsms
from tests.simulators.helpers import sent
from tests.simulators.pki import Ca, pem
from tests.simulators.sim_bench import Bench

FAST = Backoff(0.05, 0.3)
KEY = "0123456789abcdef0123"


def _change(bench: Bench, key: str, value: str) -> str:
    return str(bench.ask("ChangeConfiguration", {"key": key, "value": value})["status"])


def test_a_profile_is_accepted_only_when_the_charger_can_use_it() -> None:
    bench = Bench()
    assert _change(bench, "SecurityProfile", "1") == "Rejected"  # no AuthorizationKey
    assert _change(bench, "SecurityProfile", "3") == "Rejected"  # no client certificate
    assert _change(bench, "SecurityProfile", "4") == "Rejected"
    assert _change(bench, "AuthorizationKey", KEY) == "Accepted"
    assert bench.calls("SecurityEventNotification")[-1]["type"] == (
        "ReconfigurationOfSecurityParameters")
    assert bench.calls("SecurityEventNotification")[-1]["techInfo"] == "AuthorizationKey changed"
    assert _change(bench, "SecurityProfile", "2") == "Accepted"
    assert bench.model.take_effects()[-1].reason == "security profile 0 -> 2"  # type: ignore[union-attr]
    assert bench.session.data_to_send(bench.now) == []  # nothing more on this connection
    bench.disconnect()
    bench.connect()
    assert _change(bench, "SecurityProfile", "1") == "Rejected"  # never down (OCTT TC_084)
    assert _change(bench, "SecurityProfile", "2") == "Accepted"  # the same: nothing to do
    assert bench.model.take_effects() == []


async def test_upgrade_to_profile_3_reconnects_with_the_new_client_certificate(
    tmp_path: Path,
) -> None:
    server_ca, client_ca = Ca("server CA"), Ca("client CA")
    tls = server_ca.server_context(tmp_path, "server", client_ca=client_ca)
    async with (FakeCsms(keys={"CP-UP": KEY}, tls_also=tls) as csms,
                SimulatedChargePoint(csms.url, "CP-UP", key=KEY, tls_url=csms.tls_url,
                                     ca_file=server_ca.write(tmp_path / "ca.pem"),
                                     backoff=FAST, strict=True) as cp):
        assert cp.model.config.get("SecurityProfile") == "1"
        assert (await _set(csms, "CP-UP", "3")) == "Rejected"  # no client certificate yet
        await csms.call("CP-UP", "ExtendedTriggerMessage",
                        {"requestedMessage": "SignChargePointCertificate"})
        event = await cp.wait_for(sent("SignCertificate"))
        assert event.payload is not None
        chain = pem(client_ca.sign_csr(event.payload["csr"])) + client_ca.pem
        signed = await csms.call("CP-UP", "CertificateSigned", {"certificateChain": chain})
        assert isinstance(signed, CallResult) and signed.payload == {"status": "Accepted"}
        cp.mark()
        assert (await _set(csms, "CP-UP", "3")) == "Accepted"
        await cp.wait_for(lambda e: e.text == "disconnected (1000 security profile 1 -> 3)")
        await cp.wait_for(lambda e: e.text == "connected with security profile 3")
        done = await cp.wait_for(sent("SecurityEventNotification",
                                      type="ReconfigurationOfSecurityParameters"))
        assert done.payload is not None and done.payload["techInfo"] == "SecurityProfile 1 -> 3"
        assert csms.peers == [("CP-UP", False, None), ("CP-UP", True, "CP-UP")]
        assert csms.handshakes[-1][1]["Authorization"].startswith("Basic ")
        assert csms.actions("CP-UP").count("BootNotification") == 1  # reconnected, no reboot


async def test_a_profile_that_does_not_connect_falls_back_to_the_previous_one(
    tmp_path: Path,
) -> None:
    impostor, trusted = Ca("impostor CA"), Ca("trusted CA")
    tls = impostor.server_context(tmp_path, "server")  # a certificate we will not trust
    async with (FakeCsms(keys={"CP-FB": KEY}, tls_also=tls) as csms,
                SimulatedChargePoint(csms.url, "CP-FB", key=KEY, tls_url=csms.tls_url,
                                     ca_file=trusted.write(tmp_path / "ca.pem"),
                                     backoff=FAST, strict=True) as cp):
        cp.mark()
        assert (await _set(csms, "CP-FB", "2")) == "Accepted"
        await cp.wait_for(lambda e: e.kind is EventKind.ERROR and e.text.startswith(
            "security profile 2 failed"), timeout=5)
        back = await cp.wait_for(sent("SecurityEventNotification",
                                      type="ReconfigurationOfSecurityParameters"), timeout=5)
        assert back.payload is not None
        assert back.payload["techInfo"].startswith("SecurityProfile 2 failed (")
        assert back.payload["techInfo"].endswith("); back to 1")
        assert cp.model.config.get("SecurityProfile") == "1"
        assert all(not tls_used for _, tls_used, _ in csms.peers)  # plain both times
        assert len(csms.peers) == 2
        types = [p["type"] for p in csms.payloads("CP-FB", "SecurityEventNotification")]
        assert "InvalidCentralSystemCertificate" in types
        failures = [e for e in cp.history if e.text.startswith("connection failed")]
        assert len(failures) == 3 and "CERTIFICATE_VERIFY_FAILED" in failures[0].text


async def test_profile_on_next_connection_quirk_waits_for_the_reset(tmp_path: Path) -> None:
    server_ca = Ca("server CA")
    tls = server_ca.server_context(tmp_path, "server")
    async with (FakeCsms(keys={"CP-NX": KEY}, tls_also=tls) as csms,
                SimulatedChargePoint(csms.url, "CP-NX", key=KEY, tls_url=csms.tls_url,
                                     ca_file=server_ca.write(tmp_path / "ca.pem"),
                                     quirks=["profile-on-next-connection"], backoff=FAST,
                                     strict=True) as cp):
        assert (await _set(csms, "CP-NX", "2")) == "Accepted"
        reset = await csms.call("CP-NX", "Reset", {"type": "Hard"})  # still connected: OCTT
        assert isinstance(reset, CallResult) and reset.payload == {"status": "Accepted"}
        await csms.until(lambda: csms.actions("CP-NX").count("BootNotification") == 2)
        await cp.wait_for(sent("SecurityEventNotification",
                               type="ReconfigurationOfSecurityParameters"))
        assert csms.peers == [("CP-NX", False, None), ("CP-NX", True, None)]


async def _set(csms: FakeCsms, cp_id: str, profile: str) -> str:
    answer = await csms.call(cp_id, "ChangeConfiguration",
                             {"key": "SecurityProfile", "value": profile})
    assert isinstance(answer, CallResult)
    return str(answer.payload["status"])
