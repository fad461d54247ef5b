"""Security profiles per charger (OCA security white paper for 1.6-J, section 2): one
deployment serves profiles 0-3 side by side, a charger cannot connect below its registered
profile, and raising a profile follows the white paper's migration."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from csms.api.context import POOL
from csms.server import running
from tests.certificates import TestPki
from tests.conftest import ServerHandle, ShiftableClock, free_port, sign_in_operator, test_settings
from tests.ocpp_client import OcppTestClient

KEY = "profile-key-0123456789"


@dataclass
class Deployment:
    """csms with TLS (client certificates optional) on one port and plain WebSocket on another."""

    server: ServerHandle
    pki: TestPki
    plain_url: str
    tls_url: str

    def tls(self, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_path))
        if cert is not None:
            context.load_cert_chain(*cert)
        return context

    async def register(self, profile: int, *, key: str | None = KEY) -> str:
        cp_id = await self.server.register_charge_point(key=key)
        status, body = await self.profile(cp_id, profile, offline=True)
        assert status == 200, body
        return cp_id

    async def profile(self, cp_id: str, profile: Any, *, offline: bool = False, token: str | None = None) -> tuple[int, Any]:
        query = "?offline=true" if offline else ""
        return await self.server.request(
            "PUT", f"/api/v1/charge-points/{cp_id}/security-profile{query}",
            json={"profile": profile}, token=token,
        )

    async def connects(self, cp_id: str, *, tls: bool, key: str | None = KEY, cert: tuple[Path, Path] | None = None) -> int:
        """101 when the upgrade is accepted, else the HTTP status of the refusal."""
        url = f"{self.tls_url if tls else self.plain_url}/{cp_id}"
        try:
            client = await OcppTestClient.open(url, key=key, ssl=self.tls(cert) if tls else None)
        except InvalidStatus as refused:
            return refused.response.status_code
        await client.result("Heartbeat", {})
        await client.close()
        return 101


@pytest.fixture
async def deployment(database_url: str, tmp_path: Path, clock: ShiftableClock) -> AsyncIterator[Deployment]:
    pki = TestPki(tmp_path)
    cert, key = pki.issue("server", "127.0.0.1", server=True)
    settings = test_settings(
        database_url, tmp_path, tls_cert=cert, tls_key=key, tls_client_ca=pki.ca_path,
        ocpp_plain_port=free_port(),
    )
    async with running(settings, clock) as runner:
        server = ServerHandle(f"http://127.0.0.1:{settings.http_port}", f"wss://127.0.0.1:{settings.ocpp_port}/ocpp")
        server.token = await sign_in_operator(runner.app[POOL], server.http_url)
        yield Deployment(
            server, pki, f"ws://127.0.0.1:{settings.ocpp_plain_port}/ocpp",
            f"wss://127.0.0.1:{settings.ocpp_port}/ocpp",
        )


async def test_profiles_0_to_3_side_by_side_and_none_below_its_own(deployment: Deployment) -> None:
    d = deployment
    open_charger = await d.register(0, key=None)
    assert await d.connects(open_charger, tls=False, key=None) == 101
    basic = await d.register(1)
    assert await d.connects(basic, tls=False) == 101
    assert await d.connects(basic, tls=False, key=None) == 401
    over_tls = await d.register(2)
    assert await d.connects(over_tls, tls=True) == 101
    assert await d.connects(over_tls, tls=False) == 403  # the key alone, without TLS: below 2
    with_cert = await d.register(3, key=None)
    own = d.pki.issue("own", with_cert, server=False)
    assert await d.connects(with_cert, tls=True, key=None, cert=own) == 101
    assert await d.connects(with_cert, tls=True, key=None) == 403  # no certificate
    someone_elses = d.pki.issue("other", over_tls, server=False)
    assert await d.connects(with_cert, tls=True, key=None, cert=someone_elses) == 403


async def answer_change(client: OcppTestClient, status: str) -> tuple[str, dict[str, Any]]:
    return await client.serve_one(lambda action, payload: {"status": status})


async def test_raising_a_profile_waits_for_a_connection_that_proves_it(deployment: Deployment) -> None:
    d = deployment
    cp_id = await d.register(1)
    async with await OcppTestClient.open(f"{d.plain_url}/{cp_id}", key=KEY) as charger:
        (status, body), (action, payload) = await asyncio.gather(
            d.profile(cp_id, 2), answer_change(charger, "Accepted")
        )
    assert (action, payload) == ("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
    assert status == 200 and (body["profile"], body["pending"]) == (1, 2)
    # Until the charger proves profile 2, it may fall back to 1 (SEC: the previous profile).
    assert await d.connects(cp_id, tls=False) == 101
    assert (await d.server.request("GET", f"/api/v1/charge-points/{cp_id}/security-profile"))[1]["profile"] == 1
    assert await d.connects(cp_id, tls=True) == 101
    _, now = await d.server.request("GET", f"/api/v1/charge-points/{cp_id}/security-profile")
    assert (now["profile"], now["pending"]) == (2, None)
    assert await d.connects(cp_id, tls=False) == 403


async def test_a_charger_refusing_the_new_profile_keeps_the_old(deployment: Deployment) -> None:
    d = deployment
    cp_id = await d.register(1)
    async with await OcppTestClient.open(f"{d.plain_url}/{cp_id}", key=KEY) as charger:
        (status, body), _ = await asyncio.gather(d.profile(cp_id, 2), answer_change(charger, "Rejected"))
    assert status == 409, body
    _, now = await d.server.request("GET", f"/api/v1/charge-points/{cp_id}/security-profile")
    assert (now["profile"], now["pending"]) == (1, None)


async def test_lowering_is_at_once_and_bad_requests_are_refused(deployment: Deployment) -> None:
    d = deployment
    cp_id = await d.register(2)
    status, body = await d.profile(cp_id, 1)
    assert status == 200 and (body["profile"], body["pending"]) == (1, None)
    assert await d.connects(cp_id, tls=False) == 101
    keyless = await d.server.register_charge_point()
    status, body = await d.profile(keyless, 1, offline=True)  # profile 1 needs a key
    assert status == 409 and "AuthorizationKey" in body["error"]["message"]
    assert (await d.profile(cp_id, 7))[0] == 422
    assert (await d.profile(cp_id, "2"))[0] == 422
    assert (await d.profile("NO-SUCH-CHARGER", 1))[0] == 404
    status, _ = await d.profile(keyless, 3, offline=False)  # not connected: cannot be told
    assert status == 409


async def test_a_driver_cannot_change_a_profile(deployment: Deployment) -> None:
    from tests.world import sign_up_driver

    cp_id = await deployment.register(1)
    driver = await sign_up_driver(deployment.server)
    assert (await deployment.profile(cp_id, 0, token=driver))[0] == 403


async def test_the_key_of_a_charger_that_authenticates_with_it_cannot_be_removed(
    deployment: Deployment,
) -> None:
    cp_id = await deployment.register(2)
    path = f"/api/v1/charge-points/{cp_id}/authorization-key"
    status, body = await deployment.server.request("DELETE", path)
    assert status == 409 and "security profile 2" in body["error"]["message"], body
    assert await deployment.connects(cp_id, tls=True) == 101  # the key still works
    assert (await deployment.profile(cp_id, 0))[0] == 200
    assert (await deployment.server.request("DELETE", path))[0] == 200
    assert await deployment.connects(cp_id, tls=False, key=None) == 101


async def test_a_charger_is_registered_at_its_profile(deployment: Deployment) -> None:
    d = deployment

    async def register(**fields: Any) -> tuple[int, Any, str]:
        cp_id = f"REG-{next(_ids)}"
        body = {"id": cp_id, "connectors": [{"connector_id": 1, "connector_type": "Type2",
                                              "max_power_kw": 22}], **fields}
        status, answer = await d.server.request("POST", "/api/v1/charge-points", json=body)
        return status, answer, cp_id

    async def registered_profile(cp_id: str) -> int:
        status, body = await d.server.request(
            "GET", f"/api/v1/charge-points/{cp_id}/security-profile"
        )
        assert status == 200, body
        return int(body["profile"])

    status, _, keyed = await register(authorization_key=KEY)
    assert status == 201 and await registered_profile(keyed) == 1  # a key is there to be used
    assert await d.connects(keyed, tls=False, key=None) == 401
    status, _, over_tls = await register(authorization_key=KEY, security_profile=2)
    assert status == 201 and await registered_profile(over_tls) == 2
    assert await d.connects(over_tls, tls=False) == 403
    assert await d.connects(over_tls, tls=True) == 101
    status, _, with_cert = await register(security_profile=3)
    assert status == 201 and await registered_profile(with_cert) == 3
    assert await d.connects(with_cert, tls=True, key=None) == 403
    status, _, bare = await register()
    assert status == 201 and await registered_profile(bare) == 0
    status, body, keyless = await register(security_profile=1)
    assert status == 422 and "AuthorizationKey" in body["error"]["message"], body
    assert (await d.server.request("GET", f"/api/v1/charge-points/{keyless}"))[0] == 404
    for bad in (4, -1, "2", True):
        assert (await register(security_profile=bad))[0] == 422, bad


_ids = iter(range(1_000_000))
