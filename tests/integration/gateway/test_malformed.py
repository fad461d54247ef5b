"""Bad input gets the CALLERROR J 4 prescribes (or is dropped), the connection stays open, and
nothing stored is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import ServerHandle
from tests.ocpp_client import BOOT, OcppTestClient

T0 = "2026-03-01T10:00:00Z"


@pytest.fixture
async def client(server: ServerHandle) -> AsyncIterator[OcppTestClient]:
    cp_id = await server.register_charge_point()
    client = await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}")
    await client.result("BootNotification", BOOT)
    yield client
    await client.close()


async def still_alive(client: OcppTestClient) -> None:
    assert (await client.result("Heartbeat", {}))["currentTime"].endswith("Z")


@pytest.mark.parametrize(
    "text",
    [
        "not json at all",
        '{"an": "object"}',
        "[]",
        '[9, "x", "Heartbeat", {}]',  # unknown message type: ignored (J 4.1.3)
        '[3, "nobody-asked", {}]',  # a CALLRESULT for no call of ours
        '[2, 42, "Heartbeat", {}]',  # no string id to answer to
    ],
)
async def test_dropped_without_answer(client: OcppTestClient, text: str) -> None:
    await client.send_raw(text)
    await still_alive(client)  # The next answer is the heartbeat's, so nothing answered the junk.


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2, "a1", "Heartbeat"]', "FormationViolation"),
        ('[2, "a2", "Heartbeat", []]', "FormationViolation"),
        ('[2, "a3", 17, {}]', "FormationViolation"),
        ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', "FormationViolation"),
        ('[2, "a4", "NoSuchAction", {}]', "NotImplemented"),
        ('[2, "a5", "ReserveNow", {}]', "NotSupported"),  # a CSMS-to-charger action
        ('[2, "a6", "Authorize", {}]', "ProtocolError"),
        ('[2, "a7", "Authorize", {"idTag": 12}]', "TypeConstraintViolation"),
        (
            '[2, "a8", "Authorize", {"idTag": "123456789012345678901"}]',
            "PropertyConstraintViolation",
        ),
        ('[2, "a9", "Heartbeat", {"extra": 1}]', "FormationViolation"),
        (
            '[2, "b1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "b2", "StartTransaction", {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": "01/03/2026 10:00"}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "b3", "StartTransaction", {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": "2026-03-01"}]',
            "PropertyConstraintViolation",
        ),
        ('[2, "", "Heartbeat", {}]', "FormationViolation"),  # an empty id identifies nothing
        *(
            (
                f'[2, "y{n}", "StartTransaction", ' + '{"connectorId": 1, "idTag": "X", "meterStart": 0, '
                f'"timestamp": "{stamp}"' + "}]",
                "PropertyConstraintViolation",
            )
            for n, stamp in enumerate(
                ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z"]
            )
        ),
        *(
            (
                f'[2, "m{n}", "StartTransaction", ' + '{"connectorId": 1, "idTag": "X", '
                f'"meterStart": {value}, ' + '"timestamp": "2026-03-01T10:00:00Z"}]',
                "PropertyConstraintViolation",
            )
            for n, value in enumerate([2**63, 2**64, -(2**63) - 1, 10**30])
        ),
        (
            '[2, "m9", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "9999-12-31T23:59:59-01:00", "sampledValue": [{"value": "1"}]}]}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "c1", "StatusNotification", {"connectorId": 2147483648, "errorCode": "NoError", "status": "Available"}]',
            "PropertyConstraintViolation",
        ),
        # NUL characters PostgreSQL cannot keep in text.
        ('[2, "n1", "Authorize", {"idTag": "AB\\u0000CD"}]', "PropertyConstraintViolation"),
        ('[2, "n2", "DataTransfer", {"vendorId": "v", "data": "x\\u0000y"}]', "PropertyConstraintViolation"),
        (
            '[2, "n3", "BootNotification", {"chargePointVendor": "V\\u0000", "chargePointModel": "M"}]',
            "PropertyConstraintViolation",
        ),
    ],
)
async def test_answered_with_call_error(client: OcppTestClient, frame: str, code: str) -> None:
    await client.send_raw(frame)
    answer = await client.recv()
    assert answer[0] == 4, answer
    assert answer[2] == code, answer
    assert isinstance(answer[3], str) and isinstance(answer[4], dict)
    await still_alive(client)


async def test_binary_frame_is_dropped(client: OcppTestClient) -> None:
    await client.send_raw(b'[2, "bin", "Heartbeat", {}]')
    await still_alive(client)


async def test_oversized_frame_closes_only_that_connection(
    server: ServerHandle, client: OcppTestClient
) -> None:
    from websockets.exceptions import ConnectionClosed

    await server.add_id_tag("KEEP-ME")
    cp_id = await server.register_charge_point()
    other = await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}")
    await client.send_raw(
        '[2, "big", "DataTransfer", {"vendorId": "v", "data": "' + "x" * 70000 + '"}]'
    )
    with pytest.raises(ConnectionClosed) as caught:
        await client.recv()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009
    assert (await other.result("Authorize", {"idTag": "KEEP-ME"}))["idTagInfo"][
        "status"
    ] == "Accepted"
    await other.close()


async def test_the_frame_limit_is_exactly_the_documented_one(
    server: ServerHandle, client: OcppTestClient
) -> None:
    """CSMS_MAX_BODY_BYTES (65,536 by default) bytes are read; one byte more closes (1009)."""
    from websockets.exceptions import ConnectionClosed

    from csms.settings import Settings

    limit = Settings().max_body_bytes
    head, tail = '[2, "lim", "DataTransfer", {"vendorId": "v", "data": "', '"}]'
    await client.send_raw(head + "x" * (limit - len(head) - len(tail)) + tail)
    answer = await client.recv()
    assert answer[:2] == [3, "lim"], answer  # a whole frame of exactly the limit is answered
    await client.send_raw(head + "x" * (limit + 1 - len(head) - len(tail)) + tail)
    with pytest.raises(ConnectionClosed) as caught:
        await client.recv()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009


async def test_unparsable_frames_are_logged_with_a_limit(
    client: OcppTestClient, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.WARNING, logger="csms.gateway.session")
    for n in range(200):
        await client.send_raw(f"garbage {n}")
    await still_alive(client)
    logged = [r for r in caplog.records if "unparsable" in r.getMessage()]
    assert 1 <= len(logged) <= 10


async def test_bad_input_loses_nothing_stored(server: ServerHandle, client: OcppTestClient) -> None:
    await server.add_id_tag("CARD-SAFE")
    started = await client.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "CARD-SAFE", "meterStart": 10, "timestamp": T0},
    )
    await client.send_raw("][")
    for junk in [
        '[2, "j1", "StopTransaction", {"transactionId": "x"}]',
        '[2, "j2", "MeterValues", {}]',
    ]:
        await client.send_raw(junk)
        assert (await client.recv())[0] == 4
    await still_alive(client)
    _, page = await server.request("GET", "/api/v1/transactions?open=true")
    assert [row["id"] for row in page["items"]] == [started["transactionId"]]
