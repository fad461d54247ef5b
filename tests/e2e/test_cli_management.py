"""``csms site|tariff|charge-point|connector|card|booking …`` as an operator runs them: real
processes on the test's database, their text and ``--json`` answers, exit codes, and nothing
else on stdout or stderr (no PostgreSQL chatter, no traceback)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import csms_env
from tests.world import TARIFF, World

#: What the embedded PostgreSQL or csms's own logging would print.
CHATTER = ("initdb", "pg_ctl", "PostgreSQL", "LOG:", " INFO ", "migration", "Traceback", "Warning")


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return csms_env(database_url=database_url, data_dir=str(tmp_path / "cli-data"))


async def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "csms", *args], env=env, capture_output=True,
        text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    for chatter in CHATTER:
        assert chatter not in done.stderr, (args, done.stderr)
        assert chatter not in done.stdout or args[-1] == "--json", (args, done.stdout)
    return done


async def ok(env: dict[str, str], *args: str) -> str:
    done = await run(env, *args)
    assert done.returncode == 0, (args, done.stderr)
    assert done.stderr == "", done.stderr
    return done.stdout


async def as_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(await ok(env, *args, "--json"))


async def refused(env: dict[str, str], *args: str) -> str:
    """One clear line on stderr, exit code 2, nothing on stdout."""
    done = await run(env, *args)
    assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("csms: "), done.stderr
    return done.stderr


async def test_site_tariff_charge_point_connector_card_lifecycle(
    env: dict[str, str], tmp_path: Path
) -> None:
    site_id = (await ok(env, "site", "add", "--name", "Yard", "--timezone", "Europe/Berlin",
                        "--address", "Main St 1", "--latitude", "52.5")).strip()  # fmt: skip
    site = await as_json(env, "site", "show", "--id", site_id)
    assert (site["address"], site["latitude"], site["longitude"]) == ("Main St 1", 52.5, None)
    assert (site["has_tariff"], site["problems"]) == (False, ["no_tariff"])
    listed = await ok(env, "site", "list")
    assert listed.splitlines()[0].split() == ["id", "name", "timezone", "has_tariff", "problems"]
    assert "no_tariff" in listed.splitlines()[1]
    tariff_file = tmp_path / "tariff.json"
    tariff_file.write_bytes(orjson.dumps(TARIFF))
    await ok(env, "tariff", "set", "--site-id", site_id, "--file", str(tariff_file))
    assert (await as_json(env, "tariff", "show", "--site-id", site_id))["currency"] == "EUR"
    assert (await as_json(env, "site", "list")) [0]["problems"] == []
    changed = await as_json(env, "site", "update", "--id", site_id, "--no-address",
                            "--timezone", "Europe/Paris")  # fmt: skip
    assert (changed["address"], changed["timezone"]) == (None, "Europe/Paris")
    termed = await as_json(env, "site", "update", "--id", site_id,
                           "--terms", '{"noshow_fee": "2.5", "buffer_minutes": 10}')  # fmt: skip
    assert (termed["terms"]["noshow_fee"], termed["terms"]["buffer_minutes"]) == ("2.50", 10)
    assert termed["terms_set"] == ["buffer_minutes", "noshow_fee"]

    out = await ok(env, "charge-point", "add", "--id", "CLI-CP", "--site-id", site_id,
                   "--connector", "1:Type2:22")  # fmt: skip
    assert out.strip() == "charge point CLI-CP registered with 1 connector(s)"
    added = await as_json(env, "connector", "add", "--charge-point", "CLI-CP",
                          "--connector-id", "2", "--type", "CCS2", "--power-kw", "150")  # fmt: skip
    assert (added["connector_id"], added["connector_type"], added["max_power_kw"]) == (
        2, "CCS2", 150.0,
    )
    updated = await as_json(env, "connector", "update", "--charge-point", "CLI-CP",
                            "--connector-id", "2", "--out-of-service", "on")  # fmt: skip
    assert updated["out_of_service"] is True
    cps = await as_json(env, "charge-point", "list", "--site-id", site_id)
    assert [(cp["id"], len(cp["connectors"])) for cp in cps] == [("CLI-CP", 2)]
    await ok(env, "connector", "remove", "--charge-point", "CLI-CP", "--connector-id", "2", "--yes")
    assert len((await as_json(env, "charge-point", "show", "--id", "CLI-CP"))["connectors"]) == 1
    error = await refused(env, "site", "remove", "--id", site_id, "--yes")
    assert "charge point(s) stand at site" in error
    moved = await as_json(env, "charge-point", "update", "--id", "CLI-CP", "--no-site",
                          "--registration-status", "pending")  # fmt: skip
    assert (moved["site_id"], moved["registration_status"]) == (None, "pending")
    await ok(env, "charge-point", "remove", "--id", "CLI-CP", "--yes")
    await ok(env, "tariff", "remove", "--site-id", site_id, "--yes")
    assert (await ok(env, "site", "remove", "--id", site_id, "--yes")).strip() == (
        f"site {site_id} removed"
    )
    assert await as_json(env, "site", "list") == []

    await ok(env, "card", "add", "--id-tag", "CLI-CARD", "--parent", "FLEET")
    await ok(env, "id-tag", "update", "--id-tag", "cli-card", "--blocked")
    card = await as_json(env, "card", "show", "--id-tag", "cli-card")
    assert (card["id_tag"], card["blocked"], card["parent_id_tag"]) == ("CLI-CARD", True, "FLEET")
    assert [c["id_tag"] for c in await as_json(env, "id-tag", "list")] == ["CLI-CARD"]
    await ok(env, "card", "remove", "--id-tag", "CLI-CARD", "--yes")
    assert await as_json(env, "card", "list") == []


async def test_booking_list_show_move_cancel(world: World, env: dict[str, str]) -> None:
    status, booked = await world.book(window=world.window(starts_in=120))
    assert status == 201, booked
    bookings = await as_json(env, "booking", "list")
    assert [(b["id"], b["status"]) for b in bookings] == [(booked["id"], "booked")]
    assert "code" not in bookings[0], "an operator never sees a driver's code"
    start, end = world.window(starts_in=240)
    out = await ok(env, "booking", "move", "--id", str(booked["id"]), "--connector-id", "2",
                   "--start", start, "--end", end)  # fmt: skip
    assert out.startswith(f"booking {booked['id']} booked at {world.cp_id} connector 2, ")
    mine = await world.reservation(booked["id"])
    assert (mine["connector_id"], mine["start"][:16]) == (2, start[:16])
    shown = await as_json(env, "booking", "show", "--id", str(booked["id"]))
    assert shown["history"][-1]["reason"].startswith("moved by an operator")
    other = await world.new_driver()
    status, second = await world.book(connector_id=1, window=(start, end), token=other)
    assert status == 201, second
    error = await refused(env, "booking", "move", "--id", str(booked["id"]), "--connector-id", "1")
    assert "already booked" in error
    error = await refused(env, "booking", "cancel", "--id", str(booked["id"]))
    assert "--yes" in error
    cancelled = await as_json(env, "booking", "cancel", "--id", str(booked["id"]), "--yes")
    assert cancelled["status"] == "cancelled"
    assert (await world.reservation(booked["id"]))["status"] == "cancelled"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["site", "show", "--id", "18446744073709551616"], "must be an integer"),
        (["site", "show", "--id", "7"], "no site 7"),
        (["site", "add", "--name", "X", "--timezone", "Mars/Base"], "unknown time zone"),
        (["site", "add", "--name", "X", "--timezone", "UTC", "--latitude", "91"], "latitude"),
        (["site", "add", "--name", "x" * 5000, "--timezone", "UTC"], "name must be"),
        (["site", "update", "--id", "1"], "nothing to change"),
        (["site", "add", "--name", "X", "--timezone", "UTC", "--terms", "{"], "not valid JSON"),
        (["site", "add", "--name", "X", "--timezone", "UTC", "--terms", '{"buffer_minutes": -1}'],
         "terms.buffer_minutes"),
        (["charge-point", "add", "--id", "CP", "--connector", "1:Type2:0"], "max_power_kw"),
        (["charge-point", "add", "--id", "CP", "--site-id", "9", "--connector", "1:T:1"], ""),
        (["charge-point", "remove", "--id", "NOPE"], "--yes"),
        (["charge-point", "remove", "--id", "NOPE", "--yes"], "no charge point"),
        (["connector", "update", "--charge-point", "X", "--connector-id", "1"], "nothing"),
        (["card", "add", "--id-tag", "C", "--expiry", "tomorrow"], "--expiry must be"),
        (["card", "show", "--id-tag", "NOPE"], "no idTag"),
        (["tariff", "set", "--site-id", "1", "--file", "/nonexistent.json"], "--file"),
        (["booking", "show", "--id", "3000000000"], "must be a booking's id"),
        (["booking", "move", "--id", "1", "--start", "soon"], "RFC 3339"),
        (["booking", "move", "--id", "1"], "nothing to change"),
    ],
)
async def test_bad_input_is_one_clear_line(
    env: dict[str, str], args: list[str], message: str
) -> None:
    assert message in await refused(env, *args)


async def test_duplicate_card_is_one_clear_line(env: dict[str, str]) -> None:
    await ok(env, "card", "add", "--id-tag", "TWICE")
    assert "already registered" in await refused(env, "id-tag", "add", "--id-tag", "twice")
