"""OCTT 1.6 central-system cases of the Local Auth List Management profile (TC_042_x_CSMS,
TC_043_x_CSMS). csms keeps lists in step by itself (``local_lists=True``); GetLocalListVersion
also goes out on an operator's command."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.charger_stub import ChargerStub
from tests.conftest import ServerHandle, ShiftableClock, serving, test_settings
from tests.octt.steps import boot, connect, sent_and_answered
from tests.waiting import eventually


@pytest.fixture
async def listing_server(
    database_url: str, tmp_path: Path, clock: ShiftableClock
) -> AsyncIterator[ServerHandle]:
    settings = test_settings(
        database_url,
        tmp_path,
        local_lists=True,
        local_list_settle_seconds=0.1,
        local_list_sync_seconds=0.3,
    )
    async with serving(settings, clock) as handle:
        yield handle


@pytest.mark.parametrize("version", [-1, 0], ids=["tc_042_1_not_supported", "tc_042_2_empty"])
async def test_tc_042_1_and_042_2_csms_get_local_list_version(
    server: ServerHandle, version: int
) -> None:
    cp_id = await server.register_charge_point()
    async with await connect(server, cp_id) as charger:
        await boot(charger)
        await sent_and_answered(
            server, charger, cp_id, "GetLocalListVersion", {}, {"listVersion": version}
        )


def list_keeper(answer: str, updates: list[dict[str, Any]]) -> dict[str, Callable[[Any], Any]]:
    def send_local_list(payload: dict[str, Any]) -> dict[str, Any]:
        updates.append(payload)
        return {"status": answer}

    return {
        "GetConfiguration": lambda p: {
            "configurationKey": [
                {
                    "key": "SupportedFeatureProfiles",
                    "readonly": True,
                    "value": "Core,LocalAuthListManagement",
                },
                {"key": "LocalAuthListMaxLength", "readonly": True, "value": "100"},
                {"key": "SendLocalListMaxLength", "readonly": True, "value": "100"},
            ]
        },
        "GetLocalListVersion": lambda p: {"listVersion": 0},
        "SendLocalList": send_local_list,
    }


@pytest.mark.parametrize(
    "answer",
    ["NotSupported", "Failed", "Accepted"],
    ids=["tc_043_1_not_supported", "tc_043_3_failed", "tc_043_4_full"],
)
async def test_tc_043_1_043_3_043_4_csms_send_local_list_full(
    listing_server: ServerHandle, answer: str
) -> None:
    server = listing_server
    await server.add_id_tag("OCTT-LIST-A", parent_id_tag="OCTT-FLEET")
    await server.add_id_tag("OCTT-LIST-B", blocked=True)
    cp_id = await server.register_charge_point()
    updates: list[dict[str, Any]] = []
    charger = await ChargerStub.connect(
        f"{server.ocpp_url}/{cp_id}", **list_keeper(answer, updates)
    )
    async with charger:
        await boot(charger)
        for _ in range(200):
            if updates:
                break
            await asyncio.sleep(0.05)
        [first, *_] = updates
        assert first["updateType"] == "Full"
        entries = first["localAuthorizationList"]
        assert {e["idTag"] for e in entries} == {"OCTT-LIST-A", "OCTT-LIST-B"}
        assert all("idTagInfo" in e for e in entries)
        # csms takes the answer for what it is: a refusal is recorded, an acceptance is the
        # charger's new version.
        expected = (
            (first["listVersion"], None)
            if answer == "Accepted"
            else (-1, f"SendLocalList {answer}")
        )
        assert server.pool is not None
        pool = server.pool

        async def recorded() -> tuple[int, str | None] | None:
            row = await pool.fetchrow(
                "SELECT version, problem FROM local_lists WHERE charge_point_id = $1", cp_id
            )
            return None if row is None else (row["version"], row["problem"])

        await eventually(recorded, lambda r: r == expected)
