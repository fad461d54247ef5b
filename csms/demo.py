"""``csms serve --demo``: a ready-to-try system — demo accounts, a site, chargers, and
simulated chargers connected to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
from collections.abc import AsyncIterator

import asyncpg

from csms.domain.tariffs import parse_tariff
from csms.errors import AlreadyExists
from csms.services import accounts
from csms.services import charge_points as charge_point_service
from csms.settings import Settings
from csms.store import id_tags, tariffs

log = logging.getLogger(__name__)

OPERATOR_EMAIL = "operator@demo.local"
OPERATOR_PASSWORD = "demo-operator"
SITE_NAME = "Demo Yard"
CHARGER_PREFIX = "DEMO-"
CHARGERS = 3  # driven by the demo's csms-sim fleet
#: One more charger, registered but left for a person to drive with ``csms-sim run`` (the
#: README's example): a second connection under a fleet charger's id would replace it.
SPARE_CHARGER_NUMBER = CHARGERS + 1
CARD = "DEMO-CARD"
_EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: Cheap nights, dearer days: enough to see time-of-use prices in a quote.
DEMO_TARIFF = {
    "currency": "EUR",
    "reservation_fee_per_hour": "0.50",
    "session_fee": "0.35",
    "periods": [
        {
            "days": _EVERY_DAY,
            "start": "00:00",
            "end": "07:00",
            "energy_price_per_kwh": "0.29",
            "time_price_per_hour": "0",
        },
        {
            "days": _EVERY_DAY,
            "start": "07:00",
            "end": "22:00",
            "energy_price_per_kwh": "0.49",
            "time_price_per_hour": "0",
        },
        {
            "days": _EVERY_DAY,
            "start": "22:00",
            "end": "24:00",
            "energy_price_per_kwh": "0.29",
            "time_price_per_hour": "0",
        },
    ],
}


async def seed(pool: asyncpg.Pool) -> None:
    """Create the demo data; what already exists is left as it is."""
    with contextlib.suppress(AlreadyExists):
        await accounts.sign_up(
            pool, OPERATOR_EMAIL, OPERATOR_PASSWORD, role="operator", name="Demo"
        )
    site_id = await pool.fetchval("SELECT id FROM sites WHERE name = $1", SITE_NAME)
    if site_id is None:
        site_id = await pool.fetchval(
            "INSERT INTO sites (name, timezone) VALUES ($1, 'Europe/Berlin') RETURNING id",
            SITE_NAME,
        )
    for number in range(1, SPARE_CHARGER_NUMBER + 1):
        connectors = [
            {"connector_id": 1, "connector_type": "Type2", "max_power_kw": 22},
            {
                "connector_id": 2,
                "connector_type": "CCS2" if number == 1 else "Type2",
                "max_power_kw": 150 if number == 1 else 22,
            },
        ]
        with contextlib.suppress(AlreadyExists):
            await charge_point_service.register(
                pool,
                charger_id(number),
                site_id=site_id,
                authorization_key=None,
                connectors=connectors,
            )
    if await tariffs.get(pool, site_id) is None:
        await tariffs.put(pool, site_id, parse_tariff(DEMO_TARIFF))
    with contextlib.suppress(AlreadyExists):
        await id_tags.create(pool, CARD)


@contextlib.asynccontextmanager
async def simulated_chargers(settings: Settings) -> AsyncIterator[None]:
    """Run ``csms-sim fleet`` against this server for as long as the block runs."""
    simulator = shutil.which("csms-sim") or shutil.which("csms-sim", path=str(sys.prefix) + "/bin")
    if simulator is None:
        log.warning("csms-sim not found: no simulated chargers")
        yield
        return
    process = await asyncio.create_subprocess_exec(
        simulator,
        "fleet",
        "--url",
        f"ws://127.0.0.1:{settings.ocpp_port}/ocpp",
        "--count",
        str(CHARGERS),
        "--prefix",
        CHARGER_PREFIX,
        "--first",
        "1",
        "--sessions",
        "4",
        "--id-tag",
        CARD,
        stdout=asyncio.subprocess.DEVNULL,
    )
    log.info(
        "simulated chargers %s..%s running (csms-sim pid %d)",
        charger_id(1),
        charger_id(CHARGERS),
        process.pid,
    )
    try:
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 10)


def charger_id(number: int) -> str:
    """The id ``csms-sim fleet --prefix DEMO-`` gives its ``number``-th charger."""
    return f"{CHARGER_PREFIX}{number:05d}"


def banner(settings: Settings) -> str:
    return (
        f"csms demo is running\n"
        f"  driver page:   http://{settings.host}:{settings.http_port}/\n"
        f"  operator page: http://{settings.host}:{settings.http_port}/operator\n"
        f"  API:       http://{settings.host}:{settings.http_port}/api/v1/\n"
        f"  chargers:  ws://{settings.host}:{settings.ocpp_port}/ocpp/{{id}}"
        f"  ({charger_id(1)}..{charger_id(CHARGERS)} simulated)\n"
        f"  yours to drive: csms-sim run --url ws://{settings.host}:{settings.ocpp_port}/ocpp"
        f" --id {charger_id(SPARE_CHARGER_NUMBER)}\n"
        f"  operator:  {OPERATOR_EMAIL} / {OPERATOR_PASSWORD}\n"
        f"  RFID card: {CARD}\n"
        f"Stop with Ctrl-C."
    )
