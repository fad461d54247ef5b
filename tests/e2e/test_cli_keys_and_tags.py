"""``csms charge-point set-key`` and ``csms id-tag update`` as an operator runs them: real
processes on the test's database, checked through the running app (handshakes, the API)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.conftest import ServerHandle, csms_env
from tests.ocpp_client import OcppTestClient

OLD = "old-key-0123456789ab"
NEW = "cli-key-zyxwvutsrq-9"


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI run on the database the ``server`` fixture serves."""
    return csms_env(database_url=database_url, data_dir=str(tmp_path / "cli-data"))


async def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "csms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def ok(env: dict[str, str], *args: str) -> str:
    done = await run(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def refused(env: dict[str, str], *args: str) -> str:
    """A clear refusal: exit code 2, a message, no traceback."""
    done = await run(env, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stderr.strip(), done.stderr
    return done.stderr


async def admitted(server: ServerHandle, cp_id: str, key: str) -> bool:
    try:
        client = await OcppTestClient.open(f"{server.ocpp_url}/{cp_id}", key=key)
    except InvalidStatus as refusal:
        assert refusal.response.status_code == 401
        return False
    await client.close()
    return True


async def test_set_key_stores_a_new_key_offline(server: ServerHandle, env: dict[str, str]) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    assert await admitted(server, cp_id, OLD)
    out = await ok(env, "charge-point", "set-key", "--id", cp_id, "--key", NEW)
    assert f"AuthorizationKey of {cp_id} stored" in out and NEW not in out
    assert await admitted(server, cp_id, NEW)
    assert not await admitted(server, cp_id, OLD)


async def test_set_key_refuses_bad_keys_and_unknown_chargers(
    server: ServerHandle, env: dict[str, str]
) -> None:
    cp_id = await server.register_charge_point(key=OLD)
    for bad in ["too-short", "with:colon-0123456789", "k" * 41]:
        error = await refused(env, "charge-point", "set-key", "--id", cp_id, "--key", bad)
        assert error.startswith("csms: authorization_key must")
    error = await refused(env, "charge-point", "set-key", "--id", "NO-SUCH-CP", "--key", NEW)
    assert "no charge point" in error
    assert await admitted(server, cp_id, OLD)


async def card(server: ServerHandle, id_tag: str) -> dict[str, object]:
    _, page = await server.request("GET", "/api/v1/id-tags?limit=500")
    [found] = [item for item in page["items"] if item["id_tag"] == id_tag]
    return found  # type: ignore[no-any-return]


async def test_id_tag_update_changes_what_it_is_told(
    server: ServerHandle, env: dict[str, str]
) -> None:
    await server.add_id_tag("CLI-CARD", parent_id_tag="FLEET")
    out = await ok(env, "id-tag", "update", "--id-tag", "cli-card", "--blocked")
    assert out.strip() == "idTag CLI-CARD updated: blocked, never expires, parent FLEET"
    out = await ok(
        env, "id-tag", "update", "--id-tag", "CLI-CARD", "--unblocked",
        "--expiry", "2030-01-01T01:00:00+01:00", "--parent", "OTHER",
    )  # fmt: skip
    assert "not blocked, expires 2030-01-01T00:00:00.000Z, parent OTHER" in out
    assert (await card(server, "CLI-CARD"))["expiry_date"] == "2030-01-01T00:00:00Z"
    await ok(env, "id-tag", "update", "--id-tag", "CLI-CARD", "--no-expiry", "--no-parent")
    found = await card(server, "CLI-CARD")
    assert (found["expiry_date"], found["parent_id_tag"], found["blocked"]) == (None, None, False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expiry", "tomorrow"], "csms: --expiry must be an RFC 3339 date-time with an offset"),
        (["--expiry", "2030-01-01T00:00:00"], "with an offset"),
        (["--expiry", "2030-02-30T00:00:00Z"], "not '2030-02-30T00:00:00Z'"),
        (["--parent", "x" * 21], "csms: --parent must be 1-20 printable characters"),
        ([], "csms: nothing to change"),
        (["--expiry", "2030-01-01T00:00:00Z", "--no-expiry"], "not allowed with argument"),
        (["--blocked", "--unblocked"], "not allowed with argument"),
    ],
)
async def test_id_tag_update_refuses_clearly(
    server: ServerHandle, env: dict[str, str], args: list[str], message: str
) -> None:
    await server.add_id_tag("CLI-KEEP", blocked=True)
    error = await refused(env, "id-tag", "update", "--id-tag", "CLI-KEEP", *args)
    assert message in error
    assert (await card(server, "CLI-KEEP"))["blocked"] is True


async def test_id_tag_update_of_an_unknown_card_and_add_with_a_bad_expiry(
    server: ServerHandle, env: dict[str, str]
) -> None:
    error = await refused(env, "id-tag", "update", "--id-tag", "NOBODY", "--blocked")
    assert "no idTag 'NOBODY'" in error
    error = await refused(env, "id-tag", "add", "--id-tag", "NEW-CARD", "--expiry", "soon")
    assert "csms: --expiry must be an RFC 3339 date-time" in error
    _, page = await server.request("GET", "/api/v1/id-tags")
    assert page["items"] == []


async def test_site_codes_on_local_list_set_at_add_and_update(
    server: ServerHandle, env: dict[str, str]
) -> None:
    site_id = (await ok(env, "site", "add", "--name", "Depot", "--timezone", "Europe/Berlin",
                        "--codes-on-local-list")).strip()
    assert (await server.request("GET", f"/api/v1/sites/{site_id}"))[1]["codes_on_local_list"]
    out = await ok(env, "site", "update", "--id", site_id, "--codes-on-local-list", "off")
    assert out.strip() == f"site {site_id} 'Depot': codes on local lists off"
    site = (await server.request("GET", f"/api/v1/sites/{site_id}"))[1]
    assert site["codes_on_local_list"] is False and site["name"] == "Depot"
    error = await refused(env, "site", "update", "--id", "999999", "--name", "x")
    assert "no site 999999" in error
