"""OCPP 1.6 Firmware Management over real sockets and a real PostgreSQL: firmware images
uploaded by an operator, UpdateFirmware to a charger that then downloads the image from the
location it was sent (on the OCPP port), GetDiagnostics and the charger's upload (raw PUT and
multipart POST), the statuses chargers report, and the bounds: tokens, sizes, names, roles."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from csms.services.files import NAME_PATTERN
from tests.charger_stub import ChargerStub
from tests.conftest import ServerHandle, ShiftableClock, serving, test_settings
from tests.openapi_contract import check_exchange
from tests.world import sign_up_driver

IMAGE = os.urandom(700_000)  # Several read chunks: the upload and the download are streamed.
DIAGNOSTICS = b"2026-03-01T10:00:00Z boot ok\n" * 2000


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: CIMultiDictProxy[str]

    def json(self) -> Any:
        return orjson.loads(self.body)


async def exchange(method: str, url: str | URL, **kwargs: Any) -> Answer:
    async with aiohttp.ClientSession() as http, http.request(method, url, **kwargs) as response:
        body = await response.read()
        return Answer(response.status, response.content_type, body, response.headers)


async def api(
    server: ServerHandle, method: str, path: str, *, token: str | None = None, **kwargs: Any
) -> Answer:
    """An API call whose answer (status, content type, JSON body) is checked against the
    OpenAPI document; for bodies that are files, which ``ServerHandle.request`` cannot send."""
    headers = {**server.headers(token), **kwargs.pop("headers", {})}
    answer = await exchange(method, server.http_url + path, headers=headers, **kwargs)
    is_json = answer.content_type == "application/json"
    check_exchange(
        method,
        path,
        answer.status,
        kwargs.get("json"),
        answer.json() if is_json else None,
        response_content_type=answer.content_type,
    )
    return answer


async def upload_firmware(server: ServerHandle, name: str, image: bytes = IMAGE) -> dict[str, Any]:
    answer = await api(server, "POST", f"/api/v1/firmware?name={name}", data=image)
    assert answer.status == 201, answer.body
    return answer.json()  # type: ignore[no-any-return]


def files_on_disk(data_dir: Path) -> list[Path]:
    """Stored contents (not temporary files) under the data directory."""
    return [p for p in data_dir.rglob("*") if p.is_file() and p.parent.name != "tmp"]


def temporary_files(data_dir: Path) -> list[Path]:
    """What unfinished uploads left behind (nothing, when each cleaned up after itself)."""
    return [p for p in data_dir.rglob("*") if p.is_file() and p.parent.name == "tmp"]


async def test_firmware_update_from_upload_to_installed(server: ServerHandle) -> None:
    firmware = await upload_firmware(server, "fw-1.2.3.bin")
    assert firmware["sha256"] == hashlib.sha256(IMAGE).hexdigest()
    assert (firmware["name"], firmware["size_bytes"]) == ("fw-1.2.3.bin", len(IMAGE))
    status, listed = await server.request("GET", "/api/v1/firmware")
    assert status == 200 and [f["id"] for f in listed["items"]] == [firmware["id"]]

    cp_id = await server.register_charge_point()
    async with await ChargerStub.connect(
        f"{server.ocpp_url}/{cp_id}", UpdateFirmware=lambda p: {}
    ) as charger:
        body = {
            "firmware_id": firmware["id"],
            "retrieve_at": "2026-03-01T12:00:00+02:00",
            "retries": 3,
            "retry_interval": 60,
        }
        status, update = await server.request(
            "POST", f"/api/v1/charge-points/{cp_id}/firmware-updates", json=body
        )
        assert status == 201, update
        assert update["status"] == "requested" and update["firmware"]["id"] == firmware["id"]
        assert update["retrieve_at"] == "2026-03-01T10:00:00Z"
        sent = await charger.wait_call("UpdateFirmware")
        assert sent == {
            "location": update["location"],
            "retrieveDate": "2026-03-01T10:00:00.000Z",
            "retries": 3,
            "retryInterval": 60,
        }
        await _download_as_the_charger(server, sent["location"])
        for reported in ("Downloading", "Downloaded", "Installing", "Installed", "Idle"):
            assert await charger.result("FirmwareStatusNotification", {"status": reported}) == {}
        status, updates = await server.request(
            "GET", f"/api/v1/charge-points/{cp_id}/firmware-updates"
        )
    assert status == 200
    # Idle (only ever sent when triggered, S 4.5) does not undo a finished update.
    assert [(u["id"], u["status"]) for u in updates["items"]] == [(update["id"], "Installed")]


async def _download_as_the_charger(server: ServerHandle, location: str) -> None:
    ocpp_port = URL(server.ocpp_url).port
    url = URL(location)
    assert url.port == ocpp_port and url.path.startswith("/ocpp-files/firmware/")
    got = await exchange("GET", url)
    assert got.status == 200 and got.content_type == "application/octet-stream"
    assert got.headers["Content-Length"] == str(len(IMAGE))
    assert hashlib.sha256(got.body).digest() == hashlib.sha256(IMAGE).digest()
    assert got.body == IMAGE
    head = await exchange("HEAD", url)
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(IMAGE))
    # Chargers' file locations are served where chargers connect, not on the HTTP port.
    assert (await exchange("GET", server.http_url + url.path)).status == 404
    token, name = url.parts[-2], url.parts[-1]
    for path in (
        f"/ocpp-files/firmware/{'x' * len(token)}/{name}",  # unknown token
        f"/ocpp-files/firmware/{token}/other.bin",  # a name the update does not have
        f"/ocpp-files/firmware/{token[:-1]}/{name}",
    ):
        assert (await exchange("GET", url.with_path(path))).status == 404, path


async def test_statuses_go_to_the_latest_update(server: ServerHandle) -> None:
    first = await upload_firmware(server, "fw-1.bin", b"one")
    second = await upload_firmware(server, "fw-2.bin", b"two")
    cp_id = await server.register_charge_point()
    path = f"/api/v1/charge-points/{cp_id}/firmware-updates"
    async with await ChargerStub.connect(
        f"{server.ocpp_url}/{cp_id}", UpdateFirmware=lambda p: {}
    ) as charger:
        _, older = await server.request("POST", path, json={"firmware_id": first["id"]})
        await charger.result("FirmwareStatusNotification", {"status": "DownloadFailed"})
        _, newer = await server.request("POST", path, json={"firmware_id": second["id"]})
        await charger.result("FirmwareStatusNotification", {"status": "Downloading"})
        status, updates = await server.request("GET", path + "?limit=1")
        assert status == 200 and [u["id"] for u in updates["items"]] == [newer["id"]]
        status, rest = await server.request(
            "GET", f"{path}?limit=1&cursor={updates['next_cursor']}"
        )
    assert [(u["id"], u["status"]) for u in rest["items"]] == [(older["id"], "DownloadFailed")]
    assert updates["items"][0]["status"] == "Downloading"


async def test_not_connected_unknown_and_refused_updates_record_nothing(
    server: ServerHandle,
) -> None:
    firmware = await upload_firmware(server, "fw.bin", b"image")
    cp_id = await server.register_charge_point()
    path = f"/api/v1/charge-points/{cp_id}/firmware-updates"
    status, body = await server.request("POST", path, json={"firmware_id": firmware["id"]})
    assert status == 409 and body["error"]["code"] == "not_connected"
    status, body = await server.request(
        "POST", f"/api/v1/charge-points/{cp_id}/diagnostics", json={}
    )
    assert status == 409 and body["error"]["code"] == "not_connected"
    status, body = await server.request("POST", path, json={"firmware_id": firmware["id"] + 99})
    assert status == 404
    status, body = await server.request(
        "POST", "/api/v1/charge-points/nobody/firmware-updates", json={"firmware_id": 1}
    )
    assert status == 404
    async with await ChargerStub.connect(
        f"{server.ocpp_url}/{cp_id}", UpdateFirmware=lambda p: ("error", "NotSupported")
    ):
        status, body = await server.request("POST", path, json={"firmware_id": firmware["id"]})
        assert status == 502 and body["error"]["ocpp_error_code"] == "NotSupported"
    assert (await server.request("GET", path))[1]["items"] == []
    diagnostics = await server.request("GET", f"/api/v1/charge-points/{cp_id}/diagnostics")
    assert diagnostics == (200, {"items": [], "next_cursor": None})


@pytest.mark.parametrize(
    "body",
    [
        {"firmware_id": "1"},
        {"firmware_id": 1, "retrieve_at": "2026-03-01T12:00:00"},  # no offset
        {"firmware_id": 1, "retries": -1},
        {"firmware_id": 1, "retry_interval": 2**31},
        {"firmware_id": 1, "surprise": True},
    ],
)
async def test_bad_update_requests_are_refused(server: ServerHandle, body: dict[str, Any]) -> None:
    cp_id = await server.register_charge_point()
    status, answer = await server.request(
        "POST", f"/api/v1/charge-points/{cp_id}/firmware-updates", json=body
    )
    assert status == 422, answer


async def test_diagnostics_uploaded_raw_and_as_a_form(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    path = f"/api/v1/charge-points/{cp_id}/diagnostics"
    names = iter(["diag-1.log", "diag-2.tar.gz"])
    async with await ChargerStub.connect(
        f"{server.ocpp_url}/{cp_id}", GetDiagnostics=lambda p: {"fileName": next(names)}
    ) as charger:
        body = {"start_time": "2026-03-01T00:00:00+01:00", "stop_time": "2026-03-02T00:00:00Z"}
        status, first = await server.request("POST", path, json=body)
        assert status == 201, first
        assert (first["file_name"], first["diagnostics_available"]) == ("diag-1.log", True)
        assert (first["status"], first["file"], first["file_received"]) == ("requested", None, False)
        sent = await charger.wait_call("GetDiagnostics")
        assert sent == {
            "location": first["location"],
            "startTime": "2026-02-28T23:00:00.000Z",
            "stopTime": "2026-03-02T00:00:00.000Z",
        }
        file_path = f"/api/v1/diagnostics/{first['id']}/file"
        assert (await api(server, "GET", file_path)).status == 404  # Nothing uploaded yet.
        await charger.result("DiagnosticsStatusNotification", {"status": "Uploading"})
        # Most chargers append the fileName they answered to the location, and PUT.
        put = await exchange("PUT", sent["location"] + "diag-1.log", data=DIAGNOSTICS)
        assert put.status == 201, put.body
        await charger.result("DiagnosticsStatusNotification", {"status": "Uploaded"})
        again = await exchange("PUT", sent["location"] + "diag-1.log", data=b"again")
        assert again.status == 409 and again.json()["error"]["code"] == "already_uploaded"

        status, second = await server.request("POST", path)  # No body: everything.
        assert status == 201 and second["file_name"] == "diag-2.tar.gz"
        location = (await charger.wait_call("GetDiagnostics"))["location"]
        form = aiohttp.FormData()
        form.add_field("note", "sent by a form")
        form.add_field("file", DIAGNOSTICS[::-1], filename="C:\\logs\\..\\diag-2.tar.gz")
        posted = await exchange("POST", location, data=form)
        assert posted.status == 201, posted.body
        assert posted.json()["name"] == "diag-2.tar.gz"
        status, listed = await server.request("GET", path)
    assert status == 200
    newest, oldest = listed["items"]
    assert (oldest["status"], oldest["file_received"]) == ("Uploaded", True)
    assert oldest["file"]["sha256"] == hashlib.sha256(DIAGNOSTICS).hexdigest()
    assert (newest["status"], newest["file"]["name"]) == ("requested", "diag-2.tar.gz")
    for request, expected in ((oldest, DIAGNOSTICS), (newest, DIAGNOSTICS[::-1])):
        got = await api(server, "GET", f"/api/v1/diagnostics/{request['id']}/file")
        assert got.status == 200 and got.body == expected
        assert got.content_type == "application/octet-stream"
        disposition = f'attachment; filename="{request["file"]["name"]}"'
        assert got.headers["Content-Disposition"] == disposition


async def test_a_charger_without_diagnostics_says_so(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await ChargerStub.connect(
        f"{server.ocpp_url}/{cp_id}", GetDiagnostics=lambda p: {}
    ):
        status, request = await server.request(
            "POST", f"/api/v1/charge-points/{cp_id}/diagnostics", json={"retries": 1}
        )
    assert status == 201
    assert (request["file_name"], request["diagnostics_available"]) == (None, False)
    assert request["status"] == "no_diagnostics"


async def test_a_log_is_asked_for_with_get_log_and_tracked_by_its_request_id(
    server: ServerHandle,
) -> None:
    cp_id = await server.register_charge_point()
    path = f"/api/v1/charge-points/{cp_id}/diagnostics"
    answers = iter([
        {"status": "Accepted", "filename": "security.log"},
        {"status": "Accepted", "filename": "diag.log"},
        {"status": "Rejected"},
    ])
    async with await ChargerStub.connect(
        f"{server.ocpp_url}/{cp_id}", GetLog=lambda p: next(answers)
    ) as charger:
        body = {"log_type": "SecurityLog", "start_time": "2026-03-01T00:00:00Z", "retries": 2}
        status, security = await server.request("POST", path, json=body)
        assert status == 201, security
        assert (security["log_type"], security["file_name"]) == ("SecurityLog", "security.log")
        sent = await charger.wait_call("GetLog")
        assert sent == {
            "logType": "SecurityLog", "requestId": security["id"], "retries": 2,
            "log": {"remoteLocation": security["location"],
                    "oldestTimestamp": "2026-03-01T00:00:00.000Z"},
        }
        status, later = await server.request("POST", path, json={"log_type": "DiagnosticsLog"})
        assert status == 201 and later["status"] == "requested"
        # The older request, named by its requestId, takes the status: not the latest one.
        notify = {"status": "Uploading", "requestId": security["id"]}
        assert await charger.result("LogStatusNotification", notify) == {}
        put = await exchange("PUT", security["location"] + "security.log", data=DIAGNOSTICS)
        assert put.status == 201, put.body
        notify = {"status": "Uploaded", "requestId": security["id"]}
        assert await charger.result("LogStatusNotification", notify) == {}
        # A charger that forgets the requestId reports on its latest GetLog; Idle after a final
        # status keeps the final one.
        assert await charger.result("LogStatusNotification", {"status": "UploadFailure"}) == {}
        assert await charger.result("LogStatusNotification", {"status": "Idle"}) == {}
        # A requestId no int64 holds: a clear CALLERROR, nothing changed.
        frame = await charger.call("LogStatusNotification", {"status": "Idle", "requestId": 2**63})
        assert frame[:3] == [4, frame[1], "PropertyConstraintViolation"]
        # A DiagnosticsStatusNotification is about GetDiagnostics, never a GetLog.
        await charger.result("DiagnosticsStatusNotification", {"status": "Uploading"})
        status, rejected = await server.request("POST", path, json={"log_type": "SecurityLog"})
        assert status == 201 and rejected["status"] == "rejected"
        status, listed = await server.request("GET", path)
    assert status == 200
    by_id = {item["id"]: item for item in listed["items"]}
    assert (by_id[security["id"]]["status"], by_id[security["id"]]["file_received"]) == (
        "Uploaded", True)
    assert by_id[later["id"]]["status"] == "UploadFailure"
    got = await api(server, "GET", f"/api/v1/diagnostics/{security['id']}/file")
    assert got.status == 200 and got.body == DIAGNOSTICS


async def test_a_log_type_must_be_one_of_the_extension(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    status, error = await server.request(
        "POST", f"/api/v1/charge-points/{cp_id}/diagnostics", json={"log_type": "AllLogs"}
    )
    assert status == 422 and "log_type" in error["error"]["message"]


async def test_upload_locations_take_only_their_own_token_once(server: ServerHandle) -> None:
    cp_id = await server.register_charge_point()
    async with await ChargerStub.connect(
        f"{server.ocpp_url}/{cp_id}", GetDiagnostics=lambda p: {"fileName": "d.log"}
    ):
        _, request = await server.request("POST", f"/api/v1/charge-points/{cp_id}/diagnostics")
    location = URL(request["location"])
    unknown = location.with_path(f"/ocpp-files/diagnostics/{'A' * 32}/d.log")
    assert (await exchange("PUT", unknown, data=b"x")).status == 404
    assert (await exchange("PUT", location.with_path("/ocpp-files/diagnostics/%00/x"))).status == 404
    # The firmware download path knows nothing of upload tokens, and the reverse.
    firmware_path = location.path.replace("/diagnostics/", "/firmware/") + "d.log"
    assert (await exchange("GET", location.with_path(firmware_path))).status == 404
    assert (await exchange("PUT", str(location) + "d.log", data=b"first")).status == 201
    assert (await exchange("POST", str(location), data=b"second")).status == 409


async def test_names_are_never_paths(server: ServerHandle, tmp_path: Path) -> None:
    for name in ("../../etc/passwd", "..", ".hidden", "a%2Fb", "a\\b", "x" * 201, "a%00b"):
        answer = await api(server, "POST", f"/api/v1/firmware?name={name}", data=b"image")
        assert answer.status == 422, name
    answer = await api(server, "POST", "/api/v1/firmware", data=b"image")
    assert answer.status == 422  # No name at all.
    cp_id = await server.register_charge_point()
    async with await ChargerStub.connect(
        f"{server.ocpp_url}/{cp_id}", GetDiagnostics=lambda p: {"fileName": "../../../x.log"}
    ):
        _, request = await server.request("POST", f"/api/v1/charge-points/{cp_id}/diagnostics")
    # An encoded separator in the charger's name: reduced to its last component.
    target = URL(request["location"] + "..%2F..%2Fescape.log", encoded=True)
    answer = await exchange("PUT", target, data=b"evidence")
    assert answer.status == 201, answer.body
    stored = answer.json()["name"]
    assert stored == "escape.log" and NAME_PATTERN.fullmatch(stored)
    assert not [p for p in files_on_disk(tmp_path) if p.name == "escape.log"]
    # Contents are named by their hash only: nothing a client said names a file on disk.
    assert {p.name for p in files_on_disk(tmp_path / "data")} == {
        hashlib.sha256(b"evidence").hexdigest()
    }


async def test_operators_only(server: ServerHandle) -> None:
    driver = await sign_up_driver(server)
    firmware = await upload_firmware(server, "fw.bin", b"image")
    cp_id = await server.register_charge_point()
    calls = [
        ("POST", "/api/v1/firmware?name=mine.bin", {"data": b"image"}),
        ("GET", "/api/v1/firmware", {}),
        ("POST", f"/api/v1/charge-points/{cp_id}/firmware-updates", {"json": {"firmware_id": firmware["id"]}}),
        ("GET", f"/api/v1/charge-points/{cp_id}/firmware-updates", {}),
        ("POST", f"/api/v1/charge-points/{cp_id}/diagnostics", {"json": {}}),
        ("GET", f"/api/v1/charge-points/{cp_id}/diagnostics", {}),
        ("GET", "/api/v1/diagnostics/1/file", {}),
    ]
    for method, path, kwargs in calls:
        answer = await api(server, method, path, token=driver, **kwargs)
        assert answer.status == 403, (method, path)
        unauthenticated = await exchange(method, server.http_url + path, **kwargs)
        assert unauthenticated.status == 401, (method, path)
    assert [f["name"] for f in (await server.request("GET", "/api/v1/firmware"))[1]["items"]] == [
        "fw.bin"
    ]


@pytest.fixture
async def small(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> AsyncIterator[ServerHandle]:
    """csms that takes files of at most 1000 bytes."""
    settings = test_settings(database_url, tmp_path, max_file_bytes=1000)
    async with serving(settings, clock) as handle:
        yield handle


async def _chunked(data: bytes) -> AsyncIterator[bytes]:
    """A body without Content-Length (chunked): only counting can find it too large."""
    for start in range(0, len(data), 300):
        yield data[start : start + 300]


async def test_files_over_the_bound_are_refused_and_not_kept(
    small: ServerHandle, tmp_path: Path
) -> None:
    too_big = os.urandom(1001)
    declared = await api(small, "POST", "/api/v1/firmware?name=big.bin", data=too_big)
    assert declared.status == 413 and declared.json()["error"]["code"] == "body_too_large"
    streamed = await api(small, "POST", "/api/v1/firmware?name=big.bin", data=_chunked(too_big))
    assert streamed.status == 413
    # curl's Expect: 100-continue: refused before the body is sent.
    expecting = await api(
        small, "POST", "/api/v1/firmware?name=big.bin", data=too_big, expect100=True
    )
    assert expecting.status == 413
    assert (await small.request("GET", "/api/v1/firmware"))[1]["items"] == []
    assert files_on_disk(tmp_path / "data") == [] == temporary_files(tmp_path / "data")
    assert await upload_firmware(small, "fits.bin", too_big[:1000])

    cp_id = await small.register_charge_point()
    async with await ChargerStub.connect(
        f"{small.ocpp_url}/{cp_id}", GetDiagnostics=lambda p: {"fileName": "d.log"}
    ):
        _, request = await small.request("POST", f"/api/v1/charge-points/{cp_id}/diagnostics")
    location = request["location"]
    assert (await exchange("PUT", location + "d.log", data=_chunked(too_big))).status == 413
    form = aiohttp.FormData()
    form.add_field("file", too_big, filename="d.log")
    assert (await exchange("POST", location, data=form)).status == 413
    _, listed = await small.request("GET", f"/api/v1/charge-points/{cp_id}/diagnostics")
    assert listed["items"][0]["file_received"] is False
    assert len(files_on_disk(tmp_path / "data")) == 1  # fits.bin only.
    assert temporary_files(tmp_path / "data") == []
    # A refused upload does not use the location up.
    assert (await exchange("PUT", location + "d.log", data=b"small")).status == 201
