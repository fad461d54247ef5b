"""The operator console with a fleet: 10,000 registered chargers (seeded by COPY), two real
simulated chargers, the paged and filtered list, the alerts panel, and the management forms
with their confirmations — in headless Chromium against a ``csms serve`` of this module's own
(the fleet must not reach other tests' pages)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip(
    "playwright", reason="the `playwright` package is missing: pip install -e '.[test]'"
)

from playwright.async_api import Page, expect

from simulators import SimulatedChargePoint
from simulators.charge_point import Backoff
from tests.browser.conftest import DESKTOP, OpenTab, Site, Tab, unique_email
from tests.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, CsmsProcess, csms_serving

pytestmark = pytest.mark.browser

FLEET = 10_000
SITES = 20
SEEN_ONCE = 40  # seeded chargers that were connected once: offline alerts
SLOW = 15_000
BERLIN = ZoneInfo("Europe/Berlin")
VENDORS = ("ABB", "Alpitronic", "Kempower", "Wallbox")
#: Generous bounds for this machine (issue #12); the figures measured are printed.
FIRST_SCREEN_MS = 2000
FILTER_MS = 300


@pytest.fixture(scope="module")
async def csms(
    postgres_uri: str, template_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CsmsProcess]:
    """This module's own ``csms serve`` (it overrides the shared one for ``open_tab`` and
    ``make_site``), with 10,000 chargers at 20 sites."""
    workdir: Path = tmp_path_factory.mktemp("fleet-serve")
    async with csms_serving(postgres_uri, workdir) as handle:
        await seed_fleet(handle)
        yield handle


async def seed_fleet(handle: CsmsProcess) -> None:
    """Sites and chargers by COPY (10,000 HTTP calls would take the test's whole budget)."""
    assert handle.pool is not None
    async with handle.pool.acquire() as connection, connection.transaction():
        site_ids = [
            row["id"]
            for row in await connection.fetch(
                """INSERT INTO sites (name, timezone)
                   SELECT 'Fleet Depot ' || lpad(n::text, 2, '0'), 'UTC'
                   FROM generate_series(1, $1) n RETURNING id""",
                SITES,
            )
        ]
        seen = datetime.now(UTC) - timedelta(hours=1)
        await connection.copy_records_to_table(
            "charge_points",
            columns=["id", "site_id", "vendor", "model", "serial_number", "last_seen_at"],
            records=[
                (
                    fleet_id(i),
                    site_ids[i % SITES],
                    VENDORS[i % len(VENDORS)],
                    f"M{i % 9}",
                    f"SER{i:05d}",
                    seen if i % (FLEET // SEEN_ONCE) == 7 else None,
                )
                for i in range(FLEET)
            ],
        )
        await connection.copy_records_to_table(
            "connectors",
            columns=["charge_point_id", "connector_id", "connector_type", "max_power_kw", "status"],
            records=[
                (
                    fleet_id(i),
                    n,
                    "Type2",
                    22,
                    "Faulted" if i % 1000 == 7 and n == 1 else "Available",
                )
                for i in range(FLEET)
                for n in (1, 2)
            ],
        )
        await connection.execute("ANALYZE charge_points; ANALYZE connectors")


def fleet_id(i: int) -> str:
    return f"FLEET-{i:05d}"


@pytest.fixture(scope="module")
async def live_chargers(
    csms: CsmsProcess,
) -> AsyncIterator[dict[str, tuple[Site, SimulatedChargePoint]]]:
    """Two real simulated chargers at sites with a tariff; the first reports connector 1
    Faulted."""
    from tests.world import TARIFF

    found: dict[str, tuple[Site, SimulatedChargePoint]] = {}
    for role in ("faulty", "fine"):
        _, site = await csms.request(
            "POST", "/api/v1/sites", json={"name": f"Live {role}", "timezone": "Europe/Berlin"}
        )
        assert (await csms.request("PUT", f"/api/v1/sites/{site['id']}/tariff", json=TARIFF))[
            0
        ] == 200
        cp_id = await csms.register_charge_point(f"LIVE-{role.upper()}", site_id=site["id"])
        charger = SimulatedChargePoint(
            csms.ocpp_url, cp_id, connectors=2, backoff=Backoff(0.05, 0.5)
        )
        await charger.start(timeout=15)
        found[role] = (Site(site["id"], site["name"], cp_id), charger)
    await found["faulty"][1].fault(1, "GroundFailure")
    yield found
    for _, charger in found.values():
        await charger.close()


async def sign_in(tab: Tab) -> Page:
    page = tab.page
    await page.get_by_label("Email").fill(OPERATOR_EMAIL)
    await page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#live-state")).to_have_text("Live", timeout=SLOW)
    await expect(page.locator("#chargers article").first).to_be_visible()
    return page


_UNTIL_SHOWN = """
async ([action, wanted]) => {
    const list = document.querySelector("#chargers");
    const started = performance.now();
    if (action.chip !== undefined) {
        document.querySelector(`.state-filter .chip[data-state="${action.chip}"]`).click();
    } else {
        const input = document.querySelector("#charger-filter");
        input.value = action.text;
        input.dispatchEvent(new Event("input", { bubbles: true }));
    }
    await new Promise((resolve) => {
        const check = () => (list.dataset.query.endsWith(wanted) && !list.dataset.loading
            ? resolve() : requestAnimationFrame(check));
        check();
    });
    return performance.now() - started;
}
"""


async def measured(page: Page, action: dict[str, str], query_tail: str) -> float:
    """Milliseconds from the action (a chip clicked, a text typed) until the list shows the
    answer to the query ending in ``query_tail``, measured in the page."""
    return float(await page.evaluate(_UNTIL_SHOWN, [action, query_tail]))


def shown_ids(page: Page) -> Awaitable[list[str]]:
    return page.eval_on_selector_all(
        "#chargers article", "items => items.map(i => i.dataset.chargePoint)"
    )


async def test_ten_thousand_chargers_first_screen_and_filters_are_fast(
    csms: CsmsProcess, open_tab: OpenTab, live_chargers: dict[str, Any]
) -> None:
    faulty = live_chargers["faulty"][0]
    tab = await open_tab(DESKTOP, "/operator")
    page = await sign_in(tab)
    await expect(page.locator('[data-count="faulted"]')).to_have_text("1", timeout=SLOW)

    # A fresh load with the session kept: navigation start until the list is on screen.
    await page.reload()
    await expect(page.locator("#chargers article")).to_have_count(50)
    first_screen = await page.evaluate(
        "performance.getEntriesByName('chargers-rendered')[0].startTime"
    )
    assert await page.locator('[data-count="total"]').text_content() == str(FLEET + 2)

    faulted = await measured(page, {"chip": "faulted"}, "state=faulted")
    assert await shown_ids(page) == [faulty.cp_id]
    everything = await measured(page, {"chip": ""}, "limit=50")
    assert len(await shown_ids(page)) == 50
    text = await measured(page, {"text": "fleet-0999"}, "q=fleet-0999")
    assert await shown_ids(page) == [fleet_id(i) for i in range(9990, 10000)]
    print(
        f"\n10,000 chargers: first screen {first_screen:.0f} ms, state=faulted {faulted:.0f} ms, "
        f"all again {everything:.0f} ms, text {text:.0f} ms (includes the 100 ms typing pause)"
    )
    assert first_screen < FIRST_SCREEN_MS
    assert max(faulted, everything, text) < FILTER_MS
    # Never the whole fleet in the DOM.
    assert await page.locator("article").count() <= 50
    tab.assert_clean()


async def test_the_list_pages_filters_by_site_and_state_and_shows_alerts(
    csms: CsmsProcess, open_tab: OpenTab, live_chargers: dict[str, Any]
) -> None:
    faulty_site, faulty = live_chargers["faulty"]
    tab = await open_tab(DESKTOP, "/operator")
    page = await sign_in(tab)
    articles = page.locator("#chargers article")
    await expect(articles).to_have_count(50)
    assert (await shown_ids(page))[0] == fleet_id(0)
    await page.get_by_role("button", name="Next page").click()
    await expect(articles.first).to_have_attribute("data-charge-point", fleet_id(50))
    await expect(page.locator("#page-label")).to_have_text("Page 2: chargers 51–100")
    await page.get_by_role("button", name="Previous page").click()
    await expect(articles.first).to_have_attribute("data-charge-point", fleet_id(0))

    # A site, then only its offline chargers; the counts follow the site.
    await page.get_by_label("Site", exact=True).select_option(label="Fleet Depot 03")
    await expect(articles.first).to_have_attribute("data-charge-point", fleet_id(2))
    await expect(page.locator('[data-count="total"]')).to_have_text(str(FLEET // SITES))
    for text in await articles.locator(".charger-meta").all_text_contents():
        assert text.startswith("Fleet Depot 03")
    await page.get_by_role("button", name=re.compile("^Offline")).click()
    await expect(page.locator(".chip[aria-pressed=true]")).to_contain_text("Offline")
    await expect(articles.first.locator('[data-role="state"]')).to_have_text("Offline")
    await page.get_by_label("Site", exact=True).select_option(label="All sites")
    await page.get_by_role("button", name=re.compile("^All")).click()

    # Alerts: the faulted charger (its connector 1 reported by the simulator) and the chargers
    # that were seen once and are gone.
    alerts = page.locator("#alerts")
    fault = alerts.locator(f'li[data-kind="faulted"][data-charge-point="{faulty_site.cp_id}"]')
    await expect(fault).to_contain_text("connector 1 — Connector 1 reports Faulted: GroundFailure")
    await expect(alerts.locator('li[data-kind="offline"]').first).to_be_visible()

    # A booking fails: the panel shows it without a reload.
    fine_site = live_chargers["fine"][0]
    booking = await book_tomorrow(csms, fine_site)
    assert csms.pool is not None
    await csms.pool.execute(  # the scheduler's verdict, written as its one writer writes it
        """WITH failed AS (
               UPDATE reservations SET status = 'failed', updated_at = now(),
                      status_reason = 'the charger was offline until the window ended'
               WHERE id = $1 RETURNING id)
           INSERT INTO reservation_history (reservation_id, at, status, reason)
           SELECT id, now(), 'failed', 'the charger was offline until the window ended'
           FROM failed""",
        booking["id"],
    )
    failed = alerts.locator('li[data-kind="booking_failed"]')
    await expect(failed.first).to_contain_text(
        f"Booking #{booking['id']} failed: the charger was offline", timeout=SLOW
    )

    # Live on the page shown: the fault clears, the charger turns Online, the alert goes.
    await page.get_by_label("Find a charger").fill(faulty_site.cp_id)
    await expect(articles).to_have_count(1)
    card = articles.first
    await expect(card.locator('[data-role="state"]')).to_have_text("Faulted")
    await faulty.clear(1)
    status = card.locator('[data-connector="1"] [data-role="connector-status"]')
    await expect(status).to_have_text("Available", timeout=SLOW)
    await expect(card.locator('[data-role="state"]')).to_have_text("Online", timeout=SLOW)
    await expect(fault).to_have_count(0, timeout=SLOW)
    # Each charger links to its detail page.
    link = card.get_by_role("link", name=faulty_site.cp_id)
    assert await link.get_attribute("href") == f"/operator/charge-points/{faulty_site.cp_id}"
    await tab.screenshot("operator-desktop-fleet")
    await faulty.fault(1, "GroundFailure")  # as the module's other tests expect it
    tab.assert_clean()


async def book_tomorrow(csms: CsmsProcess, site: Site, hour: int = 10) -> dict[str, Any]:
    email = unique_email("fleet-driver")
    assert (
        await csms.request(
            "POST", "/api/v1/users", json={"email": email, "password": "driver-password"}
        )
    )[0] == 201
    _, token = await csms.request(
        "POST", "/api/v1/tokens", json={"email": email, "password": "driver-password"}
    )
    start = (datetime.now(BERLIN) + timedelta(days=1)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )
    status, booking = await csms.request(
        "POST",
        "/api/v1/reservations",
        token=token["token"],
        json={
            "charge_point_id": site.cp_id,
            "connector_id": 2,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert status == 201, booking
    return booking  # type: ignore[no-any-return]


async def confirm(page: Page, button: str, answer: str) -> None:
    """Press ``button``, see the confirmation dialog, answer it with ``answer``."""
    await page.get_by_role("button", name=button, exact=True).click()
    dialog = page.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name=answer, exact=True).click()
    await expect(dialog).to_be_hidden()


async def test_sites_tariffs_and_cards_are_managed_on_the_page(
    csms: CsmsProcess, open_tab: OpenTab
) -> None:
    tab = await open_tab(DESKTOP, "/operator")
    page = await sign_in(tab)
    name = f"Harbour {unique_email('s')[:24]}"
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Time zone").fill("Europe/Lisbon")
    await page.get_by_label("Address").fill("Rua do Porto 1, Lisboa")
    await page.get_by_label("Latitude").fill("38.7071")
    await page.get_by_label("Longitude").fill("-9.1355")
    await page.get_by_role("button", name="Add site").click()
    item = page.locator("#site-list li").filter(has_text=name)
    await expect(item).to_contain_text("No tariff: cannot be booked")
    await expect(item).to_contain_text("Rua do Porto 1, Lisboa · 38.7071, -9.1355")
    site_id = int(await item.get_attribute("data-site-id") or "0")
    _, site = await csms.request("GET", f"/api/v1/sites/{site_id}")
    assert (site["timezone"], site["latitude"], site["problems"]) == (
        "Europe/Lisbon",
        38.7071,
        ["no_tariff"],
    )

    # Edit it, then give it a tariff: it can be booked.
    await item.get_by_role("button", name=f"Edit {name}").click()
    await page.get_by_label("Address").fill("Rua do Porto 2, Lisboa")
    await page.get_by_role("button", name="Save site").click()
    await expect(item).to_contain_text("Rua do Porto 2, Lisboa")
    await item.get_by_role("button", name=f"Tariff of {name}").click()
    await page.get_by_label("Energy price per kWh").fill("0.39")
    await page.get_by_role("button", name="Save tariff").click()
    await expect(item.locator('[data-role="problems"]')).to_have_text("Bookable")
    _, tariff = await csms.request("GET", f"/api/v1/sites/{site_id}/tariff")
    assert tariff["periods"][0]["energy_price_per_kwh"] in ("0.39", "0.390", "0.3900")

    # Removing asks first; a dismissed question changes nothing.
    await confirm(page, f"Remove {name}", "Keep it")
    assert (await csms.request("GET", f"/api/v1/sites/{site_id}"))[0] == 200
    await expect(item).to_be_visible()
    await confirm(page, f"Remove {name}", "Remove site")
    await expect(item).to_have_count(0)
    assert (await csms.request("GET", f"/api/v1/sites/{site_id}"))[0] == 404

    # A card: added, blocked, removed (after confirming).
    card_id = f"FC-{site_id}"
    await page.get_by_label("Card id (idTag)").fill(card_id)
    await page.get_by_label("Group (parent idTag)").fill("FLEET-GROUP")
    await page.get_by_role("button", name="Add card").click()
    card = page.locator(f'#card-list li[data-id-tag="{card_id}"]')
    await expect(card).to_contain_text("group FLEET-GROUP")
    await card.get_by_role("button", name=f"Block {card_id}").click()
    await expect(card.locator('[data-role="blocked"]')).to_have_text("Blocked")
    assert (await csms.request("GET", f"/api/v1/id-tags/{card_id}"))[1]["blocked"] is True
    await confirm(page, f"Remove {card_id}", "Remove card")
    await expect(card).to_have_count(0)
    assert (await csms.request("GET", f"/api/v1/id-tags/{card_id}"))[0] == 404
    await tab.screenshot("operator-desktop-manage")
    tab.assert_clean()


async def test_an_operator_moves_and_cancels_a_drivers_booking(
    csms: CsmsProcess, open_tab: OpenTab, live_chargers: dict[str, Any]
) -> None:
    site, charger = live_chargers["fine"]
    booking = await book_tomorrow(csms, site, hour=8)
    tab = await open_tab(DESKTOP, "/operator")
    page = await sign_in(tab)
    item = page.locator(f'#booking-list li[data-id="{booking["id"]}"]')
    await expect(item).to_contain_text(f"{site.cp_id} · connector 2")
    assert booking["code"] not in await page.content()  # the code is its driver's alone

    # Move it two hours later, to connector 1 (times in the site's zone).
    await item.get_by_role("button", name=f"Move booking #{booking['id']}").click()
    await item.get_by_label("From").fill("10:00")
    await item.get_by_label("Until").fill("11:30")
    await item.get_by_label("Connector").fill("1")
    await item.get_by_role("button", name="Save move").click()
    await expect(item.locator(".answer")).to_have_text(f"Moved booking #{booking['id']}.")
    _, moved = await csms.request("GET", f"/api/v1/reservations/{booking['id']}")
    start = datetime.fromisoformat(moved["start"]).astimezone(BERLIN)
    assert (start.hour, start.minute, moved["connector_id"], moved["status"]) == (
        10,
        0,
        1,
        "booked",
    )
    assert datetime.fromisoformat(moved["end"]) - datetime.fromisoformat(
        moved["start"]
    ) == timedelta(minutes=90)

    # Cancelling asks first: dismissed, it stays booked; confirmed, it is cancelled.
    await confirm(page, f"Cancel booking #{booking['id']}", "Keep it")
    assert (await csms.request("GET", f"/api/v1/reservations/{booking['id']}"))[1][
        "status"
    ] == "booked"
    await confirm(page, f"Cancel booking #{booking['id']}", "Cancel booking")
    await expect(item).to_have_count(0)
    _, cancelled = await csms.request("GET", f"/api/v1/reservations/{booking['id']}")
    assert cancelled["status"] == "cancelled"
    assert cancelled["history"][-1]["reason"] == "cancelled by an operator"

    # Hard reset asks first too; dismissed, nothing reaches the charger.
    await page.get_by_label("Find a charger").fill(site.cp_id)
    card = page.locator(f'#chargers article[data-charge-point="{site.cp_id}"]')
    await expect(page.locator("#chargers article")).to_have_count(1)
    await card.get_by_text(f"Commands for {site.cp_id}").click()
    await card.get_by_role("button", name="Hard reset").click()
    dialog = page.locator("#confirm-dialog")
    await expect(dialog).to_contain_text(f"Hard reset {site.cp_id}?")
    await dialog.get_by_role("button", name="Keep it").click()
    await expect(card.locator(".answer")).to_have_text("Hard reset: not sent.")
    assert charger.connected
    tab.assert_clean()
