"""The driver page's search near a place, booking terms, changes, live notices and receipts,
in headless Chromium against ``csms serve`` and the simulated charger.

What a driver sees is asserted: distances and their order, the terms in words before booking,
the new window after a change and the plain error for a taken one, a notice that appears
without a reload when an operator moves the booking, and the receipt of a finished session.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright", reason="the `playwright` package is missing: pip install -e '.[test]'")

from playwright.async_api import Geolocation, Page, expect

from simulators import SimulatedChargePoint
from tests.browser.conftest import DESKTOP, PHONE, OpenTab, Site, unique_email
from tests.browser.test_pages import (
    BERLIN,
    DRIVER_PASSWORD,
    SLOW,
    berlin_window,
    booking_item,
    offer,
    read_code,
    search,
    sign_up,
    status_is,
)
from tests.conftest import CsmsProcess

pytestmark = pytest.mark.browser

#: Where the driver stands (the browser's location), and two sites north of it.
HERE: Geolocation = {"latitude": 52.52, "longitude": 13.405}
KM_PER_DEGREE = 6371.0088 * 3.141592653589793 / 180  # of latitude, on a sphere


def north_of_here(km: float) -> dict[str, float]:
    return {"latitude": HERE["latitude"] + km / KM_PER_DEGREE, "longitude": HERE["longitude"]}


async def patch_site(csms: CsmsProcess, site: Site, **fields: Any) -> dict[str, Any]:
    status, body = await csms.request("PATCH", f"/api/v1/sites/{site.id}", json=fields)
    assert status == 200, body
    return dict(body)


async def driver_token(page: Page) -> str:
    token = await page.evaluate("() => sessionStorage.getItem('csms.driver.token')")
    assert token
    return str(token)


async def live(page: Page) -> None:
    await expect(page.locator("#live-state")).to_have_text("Live", timeout=SLOW)


def cards(page: Page) -> Any:
    return page.locator("#result-list > li")


async def test_near_me_and_near_a_typed_place_nearest_first_page_by_page(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]]
) -> None:
    near = await make_site(connectors=21)
    far = await make_site(connectors=1)
    await patch_site(csms, near, address="Karl-Liebknecht-Str. 1, Berlin", **north_of_here(1.2))
    await patch_site(csms, far, address="Danziger Str. 50, Berlin", **north_of_here(3.4))

    driver = await open_tab(DESKTOP)
    page = driver.page
    await driver.context.grant_permissions(["geolocation"], origin=driver.origin)
    await driver.context.set_geolocation(HERE)
    await sign_up(page)
    date, start, end = berlin_window(timedelta(days=1), timedelta(hours=1))
    await page.get_by_label("Date").fill(date)
    await page.get_by_label("From").fill(start)
    await page.get_by_label("Until").fill(end)
    await page.get_by_label("Within").select_option(label="5 km")
    await page.get_by_role("button", name="Near me").click()

    # Nearest first, each with its distance; one page (20), then "Show more".
    await expect(page.get_by_role("heading", name="Free connectors")).to_be_focused()
    await expect(page.get_by_label("Place")).to_have_value("My location")
    await expect(page.locator("#results-summary")).to_contain_text(
        "within 5 km of your location, nearest first"
    )
    await expect(cards(page)).to_have_count(20)
    await expect(cards(page).first).to_contain_text("1.2 km away")
    await expect(cards(page).first).to_contain_text(near.name)
    await expect(cards(page).first).to_contain_text("Karl-Liebknecht-Str. 1, Berlin")
    more = page.get_by_role("button", name="Show more")
    await more.click()
    await expect(cards(page)).to_have_count(22)
    await expect(more).to_be_hidden()
    await expect(cards(page).nth(20).locator("h3")).to_be_focused()
    await expect(cards(page).nth(20)).to_contain_text("1.2 km away")
    await expect(cards(page).last).to_contain_text("3.4 km away")
    await expect(cards(page).last).to_contain_text(far.name)
    distances = [
        float(text.split()[0])
        for text in await page.locator('#result-list [data-role="distance"]').all_text_contents()
    ]
    assert distances == sorted(distances) and len(distances) == 22
    await driver.screenshot("driver-desktop-near-me")

    # A typed place: a site's name, part of a site's address, then coordinates.
    await page.get_by_label("Place").fill(near.name.lower())
    await page.get_by_label("Place").press("Enter")
    await expect(page.locator("#results-summary")).to_contain_text(f"within 5 km of {near.name}")
    await expect(cards(page).first).to_contain_text("0.0 km away")
    await expect(cards(page).first).to_contain_text(near.name)
    await page.get_by_label("Place").fill("danziger")
    await page.get_by_role("button", name="Find free chargers").click()
    await expect(page.locator("#results-summary")).to_contain_text(f"within 5 km of {far.name}")
    await expect(cards(page).first).to_contain_text(far.name)
    await expect(cards(page).first).to_contain_text("0.0 km away")
    await expect(cards(page).nth(1)).to_contain_text("2.2 km away")
    coordinates = north_of_here(3.4)
    await page.get_by_label("Place").fill(f"{coordinates['latitude']:.5f}, 13.405")
    await page.get_by_role("button", name="Find free chargers").click()
    await expect(cards(page).first).to_contain_text(far.name)
    await page.get_by_label("Place").fill("Nowhere Street")
    await page.get_by_role("button", name="Find free chargers").click()
    await expect(page.locator("#place-error")).to_contain_text("No site we know matches")
    await expect(page.get_by_label("Place")).to_be_focused()
    driver.assert_clean()

    # Location refused: a plain message, and the button still works.
    refused = await open_tab(PHONE)
    await sign_up(refused.page)
    button = refused.page.get_by_role("button", name="Near me")
    await button.click()
    await expect(refused.page.locator("#place-error")).to_contain_text(
        "Type a place or coordinates instead.", timeout=SLOW
    )
    await expect(button).to_be_enabled()
    await refused.assert_fits(360)
    refused.assert_clean()


async def test_the_terms_are_said_before_booking_and_a_late_cancellation_costs_the_fee(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]]
) -> None:
    site = await make_site(connectors=1)
    await patch_site(csms, site, terms={
        "cancel_until_minutes": 60, "cancel_fee": "2.50", "noshow_timeout_minutes": 10,
        "early_start_minutes": 5, "buffer_minutes": 10,
    })
    driver = await open_tab(PHONE)
    page = driver.page
    await sign_up(page)
    await search(page, site, berlin_window(timedelta(minutes=40), timedelta(hours=1)))
    result = offer(page, site, 1)
    terms = result.locator('[data-role="terms"]')
    await expect(terms).to_contain_text(
        "Free cancellation until 1 hour before the start; after that, cancelling costs €2.50."
    )
    await expect(terms).to_contain_text(
        "If you have not started charging 10 minutes after the start, the booking ends as a "
        "no-show and you pay the booking fee (€1.00)."
    )
    await expect(terms).to_contain_text("You can change the time until the start; after that, only the end.")
    await expect(terms).to_contain_text("Your code works from 5 minutes before the start.")
    await expect(terms).to_contain_text("The connector is kept free for 10 minutes after your booking")
    await driver.screenshot("driver-phone-terms")
    await result.get_by_role("button", name="Book").click()
    await read_code(page)
    await expect(page.locator("#confirmation-details")).to_contain_text("Free cancellation until 1 hour")

    # The window starts in 40 minutes: past the free cancellation, the fee is said first.
    item = page.locator("#reservation-list li").first
    await item.get_by_role("button", name="Cancel booking").click()
    await expect(item.locator('[data-role="cancel-cost"]')).to_have_text(
        "Cancel this booking? Cancelling now costs €2.50 "
        "(free cancellation ended 1 hour before the start)."
    )
    yes = item.get_by_role("button", name="Yes, cancel and pay €2.50")
    await expect(yes).to_be_focused()
    await yes.click()
    await expect(item.locator('[data-role="status"]')).to_have_text("Cancelled")
    await expect(item).to_contain_text("It cost €2.50 (cancelled late).")
    await item.get_by_role("button", name="Receipt").click()
    receipt = item.locator(".receipt")
    await expect(receipt.get_by_role("heading", name=re.compile("Receipt for booking"))).to_be_focused()
    await expect(receipt).to_contain_text("Late cancellation")
    await expect(receipt.get_by_role("row", name=re.compile("Late cancellation fee"))).to_contain_text("€2.50")
    await expect(receipt.locator('[data-role="receipt-total"]')).to_have_text("€2.50")
    await driver.assert_fits(360)
    driver.assert_clean()


async def test_changing_a_booking_and_a_change_into_a_taken_slot(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]]
) -> None:
    site = await make_site(connectors=1)
    driver = await open_tab(DESKTOP)
    page = driver.page
    await sign_up(page)
    window = berlin_window(timedelta(days=1), timedelta(hours=1))
    date, start, end = window
    await search(page, site, window)
    await offer(page, site, 1).get_by_role("button", name="Book").click()
    await read_code(page)
    await expect(page.locator("#confirmation-details")).to_contain_text("Free cancellation at any time")

    # Someone else holds the same connector from two hours after the start.
    starts = datetime.fromisoformat(f"{date}T{start}").replace(tzinfo=BERLIN)
    someone = unique_email("someone")
    assert (await csms.request(
        "POST", "/api/v1/users", json={"email": someone, "password": DRIVER_PASSWORD}
    ))[0] == 201
    _, token = await csms.request(
        "POST", "/api/v1/tokens", json={"email": someone, "password": DRIVER_PASSWORD}
    )
    status, _ = await csms.request("POST", "/api/v1/reservations", token=token["token"], json={
        "charge_point_id": site.cp_id, "connector_id": 1,
        "start": (starts + timedelta(hours=2)).isoformat(),
        "end": (starts + timedelta(hours=3)).isoformat(),
    })
    assert status == 201

    item = page.locator("#reservation-list li").first
    when = item.locator('[data-role="when"]')
    await expect(when).to_contain_text(f"{start}–{end}")
    await item.get_by_role("button", name="Add to calendar").focus()
    async with page.expect_download() as download_info:
        await page.keyboard.press("Enter")
    download = await download_info.value
    assert download.suggested_filename.endswith(".ics")
    ics = await asyncio.to_thread(Path(await download.path()).read_text)
    assert "BEGIN:VCALENDAR" in ics and site.cp_id in ics

    # Extend it by half an hour, by keyboard.
    await item.get_by_role("button", name="Change time").focus()
    await page.keyboard.press("Enter")
    await expect(item.get_by_label("New date")).to_be_focused()
    await expect(item.get_by_label("New start")).to_have_value(start)
    longer = (starts + timedelta(minutes=90)).strftime("%H:%M")
    await item.get_by_label("New end").fill(longer)
    await item.get_by_label("New end").press("Enter")
    await expect(when).to_contain_text(f"{start}–{longer}")
    await expect(item.get_by_role("button", name="Change time")).to_be_focused()
    await expect(page.locator("#announcer")).to_contain_text("Booking changed: now")

    # Into the other booking's time: said plainly, the window stays.
    await item.get_by_role("button", name="Change time").click()
    taken = (starts + timedelta(hours=2, minutes=30)).strftime("%H:%M")
    await item.get_by_label("New end").fill(taken)
    await item.get_by_role("button", name="Save new time").click()
    alert = item.get_by_role("alert")
    await expect(alert).to_have_text(
        "That time is taken: another booking holds this connector then. Choose another time."
    )
    await expect(item.get_by_label("New end")).to_be_focused()
    await driver.screenshot("driver-desktop-change-taken")
    await item.get_by_role("button", name="Keep the time").click()
    await expect(when).to_contain_text(f"{start}–{longer}")
    await expect(item.get_by_role("button", name="Change time")).to_be_focused()
    driver.assert_clean()


async def test_an_operator_moving_the_booking_shows_a_live_notice(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]]
) -> None:
    site = await make_site(connectors=2)
    driver = await open_tab(PHONE)
    page = driver.page
    await sign_up(page)
    await live(page)
    await search(page, site, berlin_window(timedelta(days=2), timedelta(hours=1)))
    await offer(page, site, 1).get_by_role("button", name="Book").click()
    code = await read_code(page)
    item = page.locator("#reservation-list li").first
    reservation_id = await item.get_attribute("data-id")
    notices = page.locator("#notice-list")
    await expect(notices).to_have_attribute("aria-live", "polite")
    await expect(notices.locator('li[data-type="booked"]')).to_contain_text(
        f"Booked: {site.cp_id} connector 1", timeout=SLOW
    )

    await page.evaluate("window.__sameDocument = true")
    status, moved = await csms.request(
        "PATCH", f"/api/v1/reservations/{reservation_id}",
        json={"charge_point_id": site.cp_id, "connector_id": 2},
    )
    assert status == 200, moved
    notice = notices.locator('li[data-type="moved"]')
    await expect(notice).to_have_text(
        re.compile(
            rf"^Your booking was moved to {re.escape(site.cp_id)} connector 2: "
            r"the operator moved it\.\d\d:\d\d$"
        ),
        timeout=SLOW,
    )
    item = booking_item(page, str(reservation_id))
    await expect(item.locator("h3")).to_have_text(f"{site.cp_id} · connector 2", timeout=SLOW)
    assert await page.evaluate("window.__sameDocument") is True  # no reload
    assert code not in (await notices.text_content() or "")
    await driver.screenshot("driver-phone-moved-notice")
    driver.assert_clean()


async def test_a_booking_the_csms_moves_off_a_faulted_connector_says_why(
    csms: CsmsProcess,
    open_tab: OpenTab,
    make_site: Callable[..., Awaitable[Site]],
    simulated_charger: Callable[..., Awaitable[SimulatedChargePoint]],
) -> None:
    site = await make_site(connectors=2)
    charger = await simulated_charger(site, connectors=2)
    driver = await open_tab(PHONE)
    page = driver.page
    await sign_up(page)
    await live(page)
    await search(page, site, berlin_window(timedelta(0), timedelta(hours=1)))
    result = offer(page, site, 1)
    await expect(result).to_be_visible()
    await charger.fault(1)  # broken between search and booking: ReserveNow answers Faulted
    await result.get_by_role("button", name="Book").click()
    await read_code(page)
    await expect(page.locator('#notice-list li[data-type="moved"]')).to_contain_text(
        f"Your booking was moved to {site.cp_id} connector 2: the connector is faulted.",
        timeout=SLOW,
    )
    await expect(page.locator('#notice-list li[data-type="reserved"]')).to_contain_text(
        f"{site.cp_id} connector 2 is ready for you.", timeout=SLOW
    )
    driver.assert_clean()


async def test_the_receipt_of_a_finished_session(
    csms: CsmsProcess,
    open_tab: OpenTab,
    make_site: Callable[..., Awaitable[Site]],
    simulated_charger: Callable[..., Awaitable[SimulatedChargePoint]],
) -> None:
    site = await make_site(connectors=1)
    await patch_site(csms, site, terms={"tax_rate_percent": "19"})
    charger = await simulated_charger(site, connectors=1)
    driver = await open_tab(PHONE)
    page = driver.page
    await sign_up(page)
    window = berlin_window(timedelta(0), timedelta(hours=1))
    await search(page, site, window)
    await offer(page, site, 1).get_by_role("button", name="Book").click()
    code = await read_code(page)
    item = page.locator("#reservation-list li").first
    badge = item.locator('[data-role="status"]')
    await charger.wait_for(status_is(1, "Reserved"), timeout=15)
    await charger.plug(1)
    await charger.code(1, code)
    await expect(badge).to_have_text("Charging", timeout=SLOW)
    await expect(item.get_by_role("button", name="Receipt")).to_have_count(0)

    # While charging only the end moves: extended by half an hour.
    date, start, _ = window
    later = datetime.fromisoformat(f"{date}T{start}").replace(tzinfo=BERLIN) + timedelta(minutes=90)
    await item.get_by_role("button", name="Change time").click()
    await expect(item.get_by_label("End date")).to_be_focused()
    await expect(item.get_by_label("New start")).to_have_count(0)
    await expect(item.locator("form.change")).to_contain_text("While charging, only the end can move")
    await item.get_by_label("End date").fill(later.strftime("%Y-%m-%d"))
    await item.get_by_label("New end").fill(later.strftime("%H:%M"))
    await item.get_by_role("button", name="Save new time").click()
    await expect(item.locator('[data-role="when"]')).to_contain_text(later.strftime("%H:%M"))
    await expect(badge).to_have_text("Charging")
    await charger.stop(1)
    await charger.unplug(1)
    await expect(badge).to_have_text("Completed", timeout=SLOW)
    cost = re.search(r"cost (€\d+\.\d\d)", await item.text_content() or "")
    assert cost is not None

    await item.get_by_role("button", name="Receipt").click()
    receipt = item.locator(".receipt")
    await expect(receipt.get_by_role("heading", name=re.compile("Receipt for booking"))).to_be_focused()
    await expect(receipt).to_contain_text("Charging session")
    await expect(receipt).to_contain_text(site.name)
    energy = receipt.get_by_role("row", name=re.compile(r"^Energy \d\d:\d\d–\d\d:\d\d"))
    await expect(energy.first).to_contain_text(re.compile(r"kWh.*€0\.\d\d per kWh"))
    await expect(receipt.get_by_role("row", name=re.compile("^Session fee"))).to_contain_text("€0.50")
    await expect(receipt.get_by_role("row", name=re.compile("^Booking fee"))).to_contain_text("€")
    await expect(receipt.locator('[data-role="receipt-total"]')).to_have_text(cost.group(1))
    await expect(receipt).to_contain_text(re.compile(r"Includes 19 % tax: €\d+\.\d\d"))
    await driver.screenshot("driver-phone-receipt")
    await item.get_by_role("button", name="Hide receipt").click()
    await expect(receipt).to_have_count(0)
    await driver.assert_fits(360)
    driver.assert_clean()
