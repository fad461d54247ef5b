"""The OCPP 1.6 security extension ("Improved security for OCPP 1.6-J") over real sockets and a
real PostgreSQL: the charger's four messages, certificate signing, the operator's seven commands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from csms.store.security import latest_status_report
from tests.conftest import ServerHandle, ShiftableClock, serving, test_settings
from tests.integration.api.test_events import listening
from tests.ocpp_client import BOOT, OcppTestClient
from tests.unit.domain.test_certificates import authority_files, csr_pem, ec_key
from tests.waiting import eventually
from tests.world import sign_up_driver

T0 = "2026-03-01T10:00:00Z"
#: CertificateHashDataType of the extension (GetInstalledCertificateIds, DeleteCertificate).
HASH = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "ab" * 32,
    "issuerKeyHash": "cd" * 32,
    "serialNumber": "1f2e",
}
SOME_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def command(
    server: ServerHandle, cp_id: str, action: str, payload: dict[str, Any]
) -> asyncio.Task[tuple[int, Any]]:
    return asyncio.create_task(
        server.request("POST", f"/api/v1/charge-points/{cp_id}/commands/{action}", json=payload)
    )


async def security_events(
    server: ServerHandle, cp_id: str, query: str = "", token: str | None = None
) -> tuple[int, Any]:
    return await server.request(
        "GET", f"/api/v1/charge-points/{cp_id}/security-events{query}", token=token
    )


async def recent_events(server: ServerHandle, cp_id: str) -> list[dict[str, Any]]:
    status, detail = await server.request("GET", f"/api/v1/charge-points/{cp_id}")
    assert status == 200, detail
    return detail["recent_events"]  # type: ignore[no-any-return]


async def nothing_sent(client: OcppTestClient, wait: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await client.recv(timeout=wait)


async def booted(server: ServerHandle) -> tuple[str, OcppTestClient]:
    cp_id = await server.register_charge_point()
    client = await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}")
    await client.result("BootNotification", BOOT)
    return cp_id, client


@pytest.fixture
async def charger(server: ServerHandle) -> AsyncIterator[tuple[str, OcppTestClient]]:
    """A registered charger, connected and booted; ``server`` has no CA configured."""
    cp_id, client = await booted(server)
    yield cp_id, client
    await client.close()


@pytest.fixture
async def ca_server(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> AsyncIterator[tuple[ServerHandle, x509.Certificate]]:
    """The app with CSMS_CSR_CA_CERT / CSMS_CSR_CA_KEY set; and the CA's certificate."""
    now = clock()
    cert_path, key_path, ca = authority_files(
        tmp_path, now - timedelta(hours=1), now + timedelta(days=3650)
    )
    settings = test_settings(database_url, tmp_path, csr_ca_cert=cert_path, csr_ca_key=key_path)
    async with serving(settings, clock) as handle:
        yield handle, ca


# --- SecurityEventNotification -------------------------------------------------------------


async def test_a_security_event_right_after_boot_is_answered_and_listed(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    startup = {"type": "StartupOfTheDevice", "timestamp": T0}
    assert await client.result("SecurityEventNotification", startup) == {}
    invalid = {"type": "InvalidMessages", "timestamp": "2026-03-01T12:00:00+01:00", "techInfo": "x"}
    assert await client.result("SecurityEventNotification", invalid) == {}
    assert await client.result("Heartbeat", {})  # still connected, still talking
    status, page = await security_events(server, cp_id)
    assert status == 200, page
    assert page["next_cursor"] is None
    newest, oldest = page["items"]
    assert (newest["type"], newest["critical"], newest["tech_info"]) == ("InvalidMessages", False, "x")
    assert newest["occurred_at"] == "2026-03-01T11:00:00Z"  # the charger's time, in UTC
    assert (oldest["type"], oldest["critical"], oldest["tech_info"]) == ("StartupOfTheDevice", True, None)
    assert oldest["charge_point_id"] == cp_id and oldest["occurred_at"] == T0
    assert oldest["received_at"] <= newest["received_at"]


async def test_security_events_are_paged_newest_first_per_charger(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, client = charger
    other_id, other = await booted(server)
    async with other:
        await other.result("SecurityEventNotification", {"type": "Elsewhere", "timestamp": T0})
    for n in range(5):
        await client.result("SecurityEventNotification", {"type": f"Vendor{n}", "timestamp": T0})
    seen, cursor = [], ""
    for _ in range(3):
        status, page = await security_events(server, cp_id, f"?limit=2{cursor}")
        assert status == 200, page
        seen.append([item["type"] for item in page["items"]])
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [["Vendor4", "Vendor3"], ["Vendor2", "Vendor1"], ["Vendor0"]]
    assert page["next_cursor"] is None
    _, theirs = await security_events(server, other_id)
    assert [item["type"] for item in theirs["items"]] == ["Elsewhere"]


async def test_security_events_are_for_operators_of_known_chargers(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    cp_id, _ = charger
    status, body = await security_events(server, "NO-SUCH-CP")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await security_events(server, cp_id, token=await sign_up_driver(server))
    assert status == 403
    for query in ("?limit=0", "?limit=501", "?cursor=bm9wZQ"):
        status, body = await security_events(server, cp_id, query)
        assert status == 422, (query, body)


async def test_a_critical_event_reaches_operators_live_and_the_log(
    server: ServerHandle, charger: tuple[str, OcppTestClient], caplog: pytest.LogCaptureFixture
) -> None:
    cp_id, client = charger
    caplog.set_level(logging.INFO, logger="csms.services.security")
    driver = await sign_up_driver(server)
    async with (
        listening(server.http_url, server.token) as operators,
        listening(server.http_url, driver) as drivers,
    ):
        await client.result("SecurityEventNotification", {"type": "InvalidMessages", "timestamp": T0})
        tamper = {"type": "TamperDetectionActivated", "timestamp": T0, "techInfo": "lid opened"}
        await client.result("SecurityEventNotification", tamper)
        await eventually(lambda: asyncio.sleep(0, operators.of("security_event")), bool)
        await asyncio.sleep(1.2)  # more polls: nothing more, nothing twice
    [event] = operators.of("security_event")
    assert {k: v for k, v in event.items() if k not in ("id", "received_at")} == {
        "charge_point_id": cp_id,
        "type": "TamperDetectionActivated",
        "tech_info": "lid opened",
        "occurred_at": T0,
    }
    _, page = await security_events(server, cp_id)
    assert event["id"] == page["items"][0]["id"]
    assert event["received_at"] == page["items"][0]["received_at"]
    assert drivers.of("security_event") == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("TamperDetectionActivated" in message for message in warnings) == 1
    assert not any("InvalidMessages" in message for message in warnings)


async def test_a_nul_in_tech_info_is_kept_not_refused(
    server: ServerHandle, charger: tuple[str, OcppTestClient]
) -> None:
    """PostgreSQL text holds no NUL; a charger that re-sends an unanswered event forever must
    still be answered."""
    cp_id, client = charger
    event = {"type": "InvalidMessages", "timestamp": T0, "techInfo": "frame\u0000garbage"}
    assert await client.result("SecurityEventNotification", event) == {}
    _, page = await security_events(server, cp_id)
    assert page["items"][0]["tech_info"] == "frame\ufffdgarbage"


# --- LogStatusNotification, SignedFirmwareStatusNotification -------------------------------


async def test_log_and_signed_firmware_status_are_answered_and_stored(
    server: ServerHandle, charger: tuple[str, OcppTestClient], clock: ShiftableClock
) -> None:
    cp_id, client = charger
    assert server.pool is not None
    for status in ("Uploading", "Uploaded"):
        answer = await client.result("LogStatusNotification", {"status": status, "requestId": 7})
        assert answer == {}
    firmware = {"status": "SignatureVerified", "requestId": 3}
    assert await client.result("SignedFirmwareStatusNotification", firmware) == {}
    assert await client.result("SignedFirmwareStatusNotification", {"status": "Idle"}) == {}
    log_report = await latest_status_report(server.pool, cp_id, "log")
    firmware_report = await latest_status_report(server.pool, cp_id, "signed_firmware")
    assert log_report is not None and firmware_report is not None
    assert (log_report.status, log_report.request_id) == ("Uploaded", 7)
    assert (firmware_report.status, firmware_report.request_id) == ("Idle", None)
    assert abs(firmware_report.reported_at - clock()) < timedelta(seconds=30)
    kinds = [event["kind"] for event in await recent_events(server, cp_id)]
    assert kinds.count("LogStatusNotification") == 2
    assert kinds.count("SignedFirmwareStatusNotification") == 2


# --- SignCertificate and CertificateSigned -------------------------------------------------


async def test_a_csr_for_its_own_id_is_accepted_and_the_certificate_follows(
    ca_server: tuple[ServerHandle, x509.Certificate], clock: ShiftableClock
) -> None:
    server, ca = ca_server
    cp_id, client = await booted(server)
    key = ec_key()
    async with client:
        # The answer comes first (client.result checks that the next frame answers our call).
        answer = await client.result("SignCertificate", {"csr": csr_pem(cp_id, key)})
        assert answer == {"status": "Accepted"}
        action, payload = await client.serve_one(lambda a, p: {"status": "Accepted"}, timeout=10)
    assert action == "CertificateSigned"
    certificate, *chain = x509.load_pem_x509_certificates(payload["certificateChain"].encode())
    assert chain == [ca]
    certificate.verify_directly_issued_by(ca)
    [common_name] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert common_name.value == cp_id
    assert certificate.public_key() == key.public_key()
    lasts = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lasts == timedelta(days=365, minutes=5)  # CSMS_CSR_VALIDITY_DAYS + clock skew
    assert abs(certificate.not_valid_after_utc - (clock() + timedelta(days=365))) < timedelta(
        minutes=1
    )
    outcome = {"serialNumber": format(certificate.serial_number, "x"), "status": "Accepted"}
    await eventually(
        lambda: recent_events(server, cp_id),
        lambda events: any(e["kind"] == "CertificateSigned" and e["payload"] == outcome for e in events),
    )


@pytest.mark.parametrize(
    "case", ["another id", "broken PEM", "not PEM", "weak key"]
)
async def test_a_csr_it_must_not_sign_is_rejected_and_nothing_is_sent(
    ca_server: tuple[ServerHandle, x509.Certificate], case: str
) -> None:
    server, _ = ca_server
    cp_id, client = await booted(server)
    csr = {
        "another id": csr_pem("SOMEONE-ELSE"),
        "broken PEM": "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n",
        "not PEM": "hello",
        "weak key": csr_pem(cp_id, rsa.generate_private_key(65537, 1024)),
    }[case]
    async with client:
        assert await client.result("SignCertificate", {"csr": csr}) == {"status": "Rejected"}
        await nothing_sent(client)
        assert await client.result("Heartbeat", {})


async def test_with_the_cpo_name_configured_only_requests_carrying_it_are_signed(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> None:
    now = clock()
    cert_path, key_path, _ = authority_files(
        tmp_path, now - timedelta(hours=1), now + timedelta(days=3650)
    )
    settings = test_settings(
        database_url, tmp_path, csr_ca_cert=cert_path, csr_ca_key=key_path,
        csr_organization="Other CPO",
    )
    async with serving(settings, clock) as server:
        cp_id, client = await booted(server)
        async with client:
            # csr_pem writes O = "Test CPO" (the charger's CpoName), not this operator's name.
            rejected = await client.result("SignCertificate", {"csr": csr_pem(cp_id)})
            assert rejected == {"status": "Rejected"}
            await nothing_sent(client)
    settings = test_settings(
        database_url, tmp_path, csr_ca_cert=cert_path, csr_ca_key=key_path,
        csr_organization="Test CPO",
    )
    async with serving(settings, clock) as server:
        cp_id, client = await booted(server)
        async with client:
            accepted = await client.result("SignCertificate", {"csr": csr_pem(cp_id)})
            assert accepted == {"status": "Accepted"}
            action, _ = await client.serve_one(lambda a, p: {"status": "Accepted"}, timeout=10)
            assert action == "CertificateSigned"


async def test_without_a_ca_every_csr_is_rejected(charger: tuple[str, OcppTestClient]) -> None:
    cp_id, client = charger
    assert await client.result("SignCertificate", {"csr": csr_pem(cp_id)}) == {"status": "Rejected"}
    await nothing_sent(client)


async def test_one_request_at_a_time_per_charger(
    ca_server: tuple[ServerHandle, x509.Certificate],
) -> None:
    server, _ = ca_server
    cp_id, client = await booted(server)
    async with client:
        assert await client.result("SignCertificate", {"csr": csr_pem(cp_id)}) == {"status": "Accepted"}
        delivery = await client.recv(timeout=10)
        assert delivery[:3] == [2, delivery[1], "CertificateSigned"]
        # Not answered yet: another request is refused, and nothing more is sent.
        assert await client.result("SignCertificate", {"csr": csr_pem(cp_id)}) == {"status": "Rejected"}
        await client.send_raw(orjson.dumps([3, delivery[1], {"status": "Accepted"}]).decode())
        for _ in range(100):  # The delivery ends once the answer is read.
            answer = await client.result("SignCertificate", {"csr": csr_pem(cp_id)})
            if answer == {"status": "Accepted"}:
                break
            await asyncio.sleep(0.05)
        assert answer == {"status": "Accepted"}
        action, _ = await client.serve_one(lambda a, p: {"status": "Accepted"}, timeout=10)
        assert action == "CertificateSigned"


async def test_the_operator_has_the_charger_renew_its_certificate(
    ca_server: tuple[ServerHandle, x509.Certificate],
) -> None:
    """A02: ExtendedTriggerMessage(SignChargePointCertificate) → SignCertificate → CertificateSigned."""
    server, ca = ca_server
    cp_id, client = await booted(server)
    async with client:
        pending = command(
            server, cp_id, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
        )
        await client.serve_one(lambda a, p: {"status": "Accepted"})
        assert await pending == (200, {"status": "Accepted"})
        assert await client.result("SignCertificate", {"csr": csr_pem(cp_id)}) == {"status": "Accepted"}
        action, payload = await client.serve_one(lambda a, p: {"status": "Accepted"}, timeout=10)
    assert action == "CertificateSigned"
    x509.load_pem_x509_certificates(payload["certificateChain"].encode())[0].verify_directly_issued_by(ca)


# --- The operator's commands ---------------------------------------------------------------

COMMANDS = [
    (
        "ExtendedTriggerMessage",
        {"requestedMessage": "StatusNotification", "connectorId": 1},
        {"status": "NotImplemented"},
    ),
    (
        "InstallCertificate",
        {"certificateType": "CentralSystemRootCertificate", "certificate": SOME_PEM},
        {"status": "Accepted"},
    ),
    (
        "GetInstalledCertificateIds",
        {"certificateType": "ManufacturerRootCertificate"},
        {"status": "Accepted", "certificateHashData": [HASH]},
    ),
    ("DeleteCertificate", {"certificateHashData": HASH}, {"status": "NotFound"}),
    (
        "GetLog",
        {
            "logType": "SecurityLog",
            "requestId": 11,
            "retries": 2,
            "log": {"remoteLocation": "https://logs.example.com/up", "oldestTimestamp": T0},
        },
        {"status": "Accepted", "filename": "security.log"},
    ),
    (
        "SignedUpdateFirmware",
        {
            "requestId": 12,
            "firmware": {
                "location": "https://firmware.example.com/2.0.bin",
                "retrieveDateTime": T0,
                "signingCertificate": SOME_PEM,
                "signature": "c2lnbmF0dXJl",
            },
        },
        {"status": "InvalidCertificate"},
    ),
    ("CertificateSigned", {"certificateChain": SOME_PEM}, {"status": "Rejected"}),
]


@pytest.mark.parametrize(("action", "payload", "answer"), COMMANDS, ids=[c[0] for c in COMMANDS])
async def test_each_security_command_goes_out_and_its_answer_comes_back(
    server: ServerHandle,
    charger: tuple[str, OcppTestClient],
    action: str,
    payload: dict[str, Any],
    answer: dict[str, Any],
) -> None:
    cp_id, client = charger
    pending = command(server, cp_id, action, payload)
    assert await client.serve_one(lambda a, p: answer) == (action, payload)
    assert await pending == (200, answer)


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("ExtendedTriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}),
        ("InstallCertificate", {"certificateType": "CentralSystemRootCertificate"}),
        ("GetLog", {"logType": "AllLogs", "requestId": 1, "log": {"remoteLocation": "x"}}),
        ("DeleteCertificate", {"certificateHashData": {**HASH, "hashAlgorithm": "MD5"}}),
        ("CertificateSigned", {"certificateChain": "x" * 10_001}),
        ("SignCertificate", {"csr": "x"}),  # the charger's to send, not ours
    ],
)
async def test_invalid_security_commands_are_refused_before_sending(
    server: ServerHandle, charger: tuple[str, OcppTestClient], action: str, payload: dict[str, Any]
) -> None:
    cp_id, client = charger
    status, body = await command(server, cp_id, action, payload)
    assert status == 422, body
    await nothing_sent(client, 0.2)


# --- Malformed security messages -----------------------------------------------------------

MALFORMED = [
    ("SecurityEventNotification", {}, "ProtocolError"),
    ("SecurityEventNotification", {"type": "StartupOfTheDevice"}, "ProtocolError"),
    ("SecurityEventNotification", {"type": 5, "timestamp": T0}, "TypeConstraintViolation"),
    ("SecurityEventNotification", {"type": "x" * 51, "timestamp": T0}, "PropertyConstraintViolation"),
    ("SecurityEventNotification", {"type": "ResetOrReboot", "timestamp": "yesterday"}, "PropertyConstraintViolation"),
    (
        "SecurityEventNotification",
        {"type": "ResetOrReboot", "timestamp": "9999-12-31T23:59:59-01:00"},
        "PropertyConstraintViolation",
    ),
    (
        "SecurityEventNotification",
        {"type": "ResetOrReboot", "timestamp": T0, "techInfo": "y" * 256},
        "PropertyConstraintViolation",
    ),
    ("SecurityEventNotification", {"type": "ResetOrReboot", "timestamp": T0, "severity": 1}, "FormationViolation"),
    ("LogStatusNotification", {"status": "Lost"}, "PropertyConstraintViolation"),
    ("LogStatusNotification", {"requestId": 1}, "ProtocolError"),
    ("SignedFirmwareStatusNotification", {"status": "Installed", "requestId": "1"}, "TypeConstraintViolation"),
    ("SignCertificate", {}, "ProtocolError"),
    ("SignCertificate", {"csr": "x" * 5501}, "PropertyConstraintViolation"),
    ("SignCertificate", {"csr": ["pem"]}, "TypeConstraintViolation"),
]


@pytest.mark.parametrize(("action", "payload", "code"), MALFORMED)
async def test_a_malformed_security_message_gets_the_1_6_call_error(
    server: ServerHandle,
    charger: tuple[str, OcppTestClient],
    action: str,
    payload: dict[str, Any],
    code: str,
) -> None:
    cp_id, client = charger
    answer = await client.call(action, payload)
    assert answer[0] == 4 and answer[2] == code, answer
    assert await client.result("Heartbeat", {})
    _, page = await security_events(server, cp_id)
    assert page["items"] == []
