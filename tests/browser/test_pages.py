"""The web pages in headless Chromium against ``csms serve`` and simulated chargers.

What a person sees is asserted (text on the page), with bounded waits. The driver books by
clicking, reads the code off the page and types it at the simulated charger's keypad; the
driver's page follows the booking to charging and completed, and the operator's page shows the
connector go Reserved → Charging → Available, all pushed through ``GET /api/v1/events``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("playwright", reason="the `playwright` package is missing: pip install -e '.[test]'")

from playwright.async_api import Locator, Page, expect

from simulators import EventKind, SimulatedChargePoint
from simulators.charge_point import Backoff
from simulators.events import Event
from tests.browser.conftest import DESKTOP, PHONE, OpenTab, Site, Tab, unique_email
from tests.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, CsmsProcess

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")
DRIVER_PASSWORD = "driver-password"
SLOW = 15_000  # ms: a live update crosses the charger, the database and the event feed


def status_is(connector: int, status: str) -> Callable[[Event], bool]:
    def test(event: Event) -> bool:
        return (
            event.kind is EventKind.STATUS
            and event.connector == connector
            and event.status == status
        )

    return test


@pytest.fixture
async def charger_for(
    csms: CsmsProcess,
) -> AsyncIterator[Callable[[Site], Awaitable[SimulatedChargePoint]]]:
    """Connect the simulated charger of a site (meter values every second)."""
    started: list[SimulatedChargePoint] = []

    async def connect(site: Site) -> SimulatedChargePoint:
        charger = SimulatedChargePoint(
            csms.ocpp_url,
            site.cp_id,
            connectors=2,
            config={"MeterValueSampleInterval": "1"},
            backoff=Backoff(0.05, 0.5),
        )
        started.append(charger)
        await charger.start(timeout=15)
        return charger

    yield connect
    for charger in started:
        await charger.close()


def berlin_window(starts_in: timedelta, length: timedelta) -> tuple[str, str, str]:
    """The date, start and end fields (as typed into the page) of a window in Berlin time."""
    start = (datetime.now(BERLIN) + starts_in).replace(second=0, microsecond=0)
    end = start + length
    return start.strftime("%Y-%m-%d"), start.strftime("%H:%M"), end.strftime("%H:%M")


async def sign_up(page: Page, email: str | None = None) -> str:
    email = email or unique_email()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(DRIVER_PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="When do you want to charge?")).to_be_visible()
    await expect(page.get_by_text(email)).to_be_visible()
    return email


async def search(page: Page, site: Site, window: tuple[str, str, str]) -> None:
    date, start, end = window
    await page.get_by_label("Where").select_option(label=site.name)
    await page.get_by_label("Date").fill(date)
    await page.get_by_label("From").fill(start)
    await page.get_by_label("Until").fill(end)
    await page.get_by_role("button", name="Find free chargers").click()


async def read_code(page: Page) -> str:
    """The booking code as the page shows it, once it shows one."""
    element = page.get_by_test_id("booking-code")
    await expect(element).to_have_text(re.compile(r"^\d{4,20}$"))
    return (await element.text_content() or "").strip()


def offer(page: Page, site: Site, connector: int) -> Locator:
    return page.locator(
        f'#result-list li[data-charge-point="{site.cp_id}"][data-connector="{connector}"]'
    )


def booking_item(page: Page, reservation_id: str) -> Locator:
    return page.locator(f'#reservation-list li[data-id="{reservation_id}"]')


async def sign_in_operator(tab: Tab) -> None:
    page = tab.page
    await page.get_by_label("Email").fill(OPERATOR_EMAIL)
    await page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Chargers")).to_be_visible()
    await expect(page.locator("#live-state")).to_have_text("Live", timeout=SLOW)


async def watch_statuses(page: Page, selector: str) -> None:
    """Record, in the page, every text the element shows (to check the order of changes)."""
    await page.evaluate(
        """selector => {
            window.__seen = [];
            window.__sameDocument = true;
            setInterval(() => {
                const element = document.querySelector(selector);
                const text = element ? element.textContent : null;
                if (text && window.__seen[window.__seen.length - 1] !== text) window.__seen.push(text);
            }, 25);
        }""",
        selector,
    )


def in_order(seen: list[str], wanted: list[str]) -> bool:
    position = 0
    for text in seen:
        if position < len(wanted) and text == wanted[position]:
            position += 1
    return position == len(wanted)


async def test_book_by_clicking_type_the_code_and_watch_it_charge(
    csms: CsmsProcess,
    open_tab: OpenTab,
    make_site: Callable[..., Awaitable[Site]],
    charger_for: Callable[[Site], Awaitable[SimulatedChargePoint]],
) -> None:
    site = await make_site(connectors=2)
    charger = await charger_for(site)

    # The operator watches the charger, signed in on a desktop.
    operator = await open_tab(DESKTOP, "/operator")
    await sign_in_operator(operator)
    card = operator.page.locator(f'article[data-charge-point="{site.cp_id}"]')
    await expect(card.locator('[data-role="online"]')).to_have_text("Online", timeout=SLOW)
    status = card.locator('[data-connector="1"] [data-role="connector-status"]')
    await expect(status).to_have_text("Available", timeout=SLOW)
    await watch_statuses(
        operator.page,
        f'article[data-charge-point="{site.cp_id}"] [data-connector="1"] '
        '[data-role="connector-status"]',
    )

    # The driver signs up on a phone, searches the next hour and books connector 1.
    driver = await open_tab(PHONE)
    page = driver.page
    await sign_up(page)
    await expect(page.get_by_text("Europe/Berlin", exact=False).first).to_be_visible()
    await search(page, site, berlin_window(timedelta(0), timedelta(hours=1)))
    result = offer(page, site, 1)
    await expect(result).to_be_visible()
    await expect(result).to_contain_text("Type2")
    await expect(result).to_contain_text("22 kW")
    await expect(result).to_contain_text("per kWh")
    await expect(result).to_contain_text("About")
    await driver.screenshot("driver-phone-search-results")
    await result.get_by_role("button", name="Book").click()

    code = await read_code(page)
    confirmation = page.locator("#confirmation")
    await expect(confirmation).to_contain_text(f"{site.cp_id}, connector 1")
    await expect(confirmation).to_contain_text("Europe/Berlin")
    await expect(confirmation).to_contain_text("About")
    await driver.screenshot("driver-phone-booked")
    await driver.assert_fits(360)
    await driver.screenshot("driver-desktop-booked", DESKTOP)
    item = page.locator("#reservation-list li").first
    reservation_id = await item.get_attribute("data-id")
    assert reservation_id is not None
    item = booking_item(page, reservation_id)
    badge = item.locator('[data-role="status"]')

    # The window is open: the CSMS reserves the connector on the charger.
    await charger.wait_for(status_is(1, "Reserved"), timeout=15)
    await expect(status).to_have_text("Reserved", timeout=SLOW)
    await expect(badge).to_have_text("Ready at the charger", timeout=SLOW)
    await expect(item).to_contain_text(code)

    # The driver plugs in and types the code read off the page.
    await charger.plug(1)
    await charger.code(1, code)
    await charger.wait_for(status_is(1, "Charging"), timeout=10)
    await expect(badge).to_have_text("Charging", timeout=SLOW)
    await expect(status).to_have_text("Charging", timeout=SLOW)
    await expect(item).to_contain_text(re.compile(r"0\.0*[1-9]\d* kWh so far"), timeout=SLOW)
    await driver.screenshot("driver-phone-charging")
    await operator.page.locator(f'article[data-charge-point="{site.cp_id}"] summary').click()
    await expect(operator.page.locator("#tx-body")).to_contain_text(
        f"booking #{reservation_id}", timeout=SLOW
    )
    await operator.screenshot("operator-desktop-charging")
    await operator.screenshot("operator-phone-charging", PHONE)
    await operator.assert_fits(360)

    # The driver stops and unplugs: completed with its cost; the connector is free again.
    await charger.stop(1)
    await charger.unplug(1)
    await expect(badge).to_have_text("Completed", timeout=SLOW)
    await expect(item).to_contain_text(re.compile(r"Completed — .* kWh, cost €\d+\.\d\d"))
    await expect(status).to_have_text("Available", timeout=SLOW)
    await driver.screenshot("driver-phone-completed")

    seen = await operator.page.evaluate("window.__seen")
    assert in_order(seen, ["Available", "Reserved", "Charging", "Available"]), seen
    assert await operator.page.evaluate("window.__sameDocument") is True  # never reloaded
    # The booking's code is shown to its driver only.
    assert code not in (await operator.page.content())
    driver.assert_clean()
    operator.assert_clean()


async def test_a_booking_moved_to_another_connector_shows_where_to_charge(
    csms: CsmsProcess,
    open_tab: OpenTab,
    make_site: Callable[..., Awaitable[Site]],
    charger_for: Callable[[Site], Awaitable[SimulatedChargePoint]],
) -> None:
    site = await make_site(connectors=2)
    charger = await charger_for(site)
    driver = await open_tab(PHONE)
    page = driver.page
    await sign_up(page)
    await search(page, site, berlin_window(timedelta(0), timedelta(hours=1)))
    result = offer(page, site, 1)
    await expect(result).to_be_visible()
    await charger.fault(1)  # broken between search and booking: ReserveNow answers Faulted
    await result.get_by_role("button", name="Book").click()
    code = await read_code(page)
    item = page.locator("#reservation-list li").first
    await expect(item.locator("h3")).to_have_text(f"{site.cp_id} · connector 2", timeout=SLOW)
    await expect(item.locator('[data-role="status"]')).to_have_text(
        "Ready at the charger", timeout=SLOW
    )
    await charger.wait_for(status_is(2, "Reserved"), timeout=10)
    await charger.plug(2)
    await charger.code(2, code)
    await expect(item.locator('[data-role="status"]')).to_have_text("Charging", timeout=SLOW)
    driver.assert_clean()


async def test_a_slot_taken_between_search_and_click_is_explained(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]]
) -> None:
    site = await make_site(connectors=1)
    driver = await open_tab(PHONE)
    page = driver.page
    await sign_up(page)
    window = berlin_window(timedelta(days=1), timedelta(hours=1))
    await search(page, site, window)
    result = offer(page, site, 1)
    await expect(result).to_be_visible()

    # Someone else books the same connector for the same window meanwhile.
    someone = unique_email("someone")
    status, _ = await csms.request(
        "POST", "/api/v1/users", json={"email": someone, "password": DRIVER_PASSWORD}
    )
    assert status == 201
    status, token = await csms.request(
        "POST", "/api/v1/tokens", json={"email": someone, "password": DRIVER_PASSWORD}
    )
    date, start, _ = window
    starts = datetime.fromisoformat(f"{date}T{start}").replace(tzinfo=BERLIN)
    status, taken = await csms.request(
        "POST",
        "/api/v1/reservations",
        token=token["token"],
        json={
            "charge_point_id": site.cp_id,
            "connector_id": 1,
            "start": starts.isoformat(),
            "end": (starts + timedelta(hours=1)).isoformat(),
        },
    )
    assert status == 201, taken

    await result.get_by_role("button", name="Book").click()
    alert = page.locator("#search-error")
    await expect(alert).to_be_visible()
    await expect(alert).to_have_text(
        re.compile(r"Sorry, someone else just booked .* connector 1 for this time")
    )
    await expect(alert).to_have_attribute("role", "alert")
    await expect(page.locator("#results-summary")).to_contain_text("Nothing is free")
    await expect(page.locator("#confirmation")).to_be_hidden()
    await driver.screenshot("driver-phone-slot-taken")

    # The page still works: a later hour is free and can be booked.
    later = berlin_window(timedelta(days=1, hours=2), timedelta(hours=1))
    await search(page, site, later)
    await expect(alert).to_be_hidden()
    await offer(page, site, 1).get_by_role("button", name="Book").click()
    await expect(page.get_by_test_id("booking-code")).to_have_text(re.compile(r"^\d{4,20}$"))
    driver.assert_clean()


async def test_bad_windows_and_an_expired_session_are_said_in_plain_words(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]]
) -> None:
    site = await make_site(connectors=1)
    driver = await open_tab(PHONE)
    page = driver.page
    email = await sign_up(page)
    alert = page.locator("#search-error")

    await search(page, site, berlin_window(timedelta(days=-1), timedelta(hours=1)))
    await expect(alert).to_have_text("The window starts in the past.")
    await search(page, site, berlin_window(timedelta(hours=2), timedelta(minutes=5)))
    await expect(alert).to_have_text("The window must be at least 15 minutes long.")
    await page.get_by_label("From").fill("")
    await page.get_by_role("button", name="Find free chargers").click()
    await expect(alert).to_have_text("Choose a date, a start time and an end time.")

    # The session ends on the server: the next action says so and offers to sign in again.
    assert csms.pool is not None
    await csms.pool.execute(
        """UPDATE api_tokens SET expires_at = now() - interval '1 second'
           WHERE user_id = (SELECT id FROM users WHERE lower(email) = lower($1))""",
        email,
    )
    await search(page, site, berlin_window(timedelta(hours=2), timedelta(hours=1)))
    await expect(page.locator("#notice")).to_have_text(
        "Your session expired. Please sign in again."
    )
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.get_by_label("Email")).to_be_focused()
    await driver.screenshot("driver-phone-session-expired")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(DRIVER_PASSWORD)
    await page.get_by_label("Password").press("Enter")  # the keyboard is enough
    await expect(page.get_by_role("heading", name="When do you want to charge?")).to_be_visible()
    await expect(page.locator("#notice")).to_be_hidden()
    driver.assert_clean()


async def test_booking_with_the_keyboard_alone(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]]
) -> None:
    site = await make_site(connectors=1)
    driver = await open_tab(DESKTOP)
    page = driver.page
    await expect(page.get_by_label("Email")).to_be_focused()  # the form is ready to type in
    await page.keyboard.type(unique_email())
    await page.keyboard.press("Tab")
    await page.keyboard.type(DRIVER_PASSWORD)
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Create account")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="When do you want to charge?")).to_be_focused()

    date, start, end = berlin_window(timedelta(days=2), timedelta(hours=1))
    await page.get_by_label("Where").select_option(label=site.name)
    await page.get_by_label("Date").fill(date)
    await page.get_by_label("From").fill(start)
    await page.get_by_label("Until").fill(end)
    await page.get_by_label("Until").press("Enter")  # submits the search form
    await expect(page.get_by_role("heading", name="Free connectors")).to_be_focused()
    book = offer(page, site, 1).get_by_role("button", name="Book")
    await book.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Booked! Your code is")).to_be_focused()
    await expect(page.get_by_test_id("booking-code")).to_have_text(re.compile(r"^\d{4,20}$"))

    # Every form field has a label; every control is a real button, link, input or select.
    unlabeled = await page.evaluate(
        """() => [...document.querySelectorAll('input, select')]
            .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
            .map(e => e.id || e.name)"""
    )
    assert unlabeled == []

    # Cancel from "my reservations", with a confirmation step, by keyboard.
    item = page.locator("#reservation-list li").first
    await item.get_by_role("button", name="Cancel booking").focus()
    await page.keyboard.press("Enter")
    await expect(item.get_by_role("button", name="Yes, cancel it")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(item.locator('[data-role="status"]')).to_have_text("Cancelled")
    await expect(item).to_contain_text("cancelled by the driver")
    await driver.screenshot("driver-desktop-cancelled")
    await driver.screenshot("driver-phone-cancelled", PHONE)
    driver.assert_clean()


async def test_operator_commands_show_the_chargers_answer(
    csms: CsmsProcess,
    open_tab: OpenTab,
    make_site: Callable[..., Awaitable[Site]],
    charger_for: Callable[[Site], Awaitable[SimulatedChargePoint]],
) -> None:
    site = await make_site(connectors=2)
    charger = await charger_for(site)
    tag = f"CARD-{site.id}"
    await csms.add_id_tag(tag)
    operator = await open_tab(PHONE, "/operator")
    page = operator.page
    await sign_in_operator(operator)
    card = page.locator(f'article[data-charge-point="{site.cp_id}"]')
    status = card.locator('[data-connector="1"] [data-role="connector-status"]')
    online = card.locator('[data-role="online"]')
    answer = card.locator(".answer")
    await expect(online).to_have_text("Online", timeout=SLOW)
    await card.get_by_text(f"Commands for {site.cp_id}").click()
    await card.get_by_label("Connector", exact=True).select_option(label="Connector 1")

    async def press(button: str, expected: str) -> None:
        await card.get_by_role("button", name=button, exact=True).click()
        await expect(answer).to_have_text(expected, timeout=SLOW)

    await press("Unlock", f"Unlock: {site.cp_id} answered Unlocked")
    await press("Make unavailable", f"Make unavailable: {site.cp_id} answered Accepted")
    await expect(status).to_have_text("Unavailable", timeout=SLOW)
    await press("Make available", f"Make available: {site.cp_id} answered Accepted")
    await expect(status).to_have_text("Available", timeout=SLOW)

    await press("Start charging", "Start charging: enter the ID tag to start charging with.")
    await card.get_by_label("ID tag (for start charging)").fill(tag)
    await press("Start charging", f"Start charging: {site.cp_id} answered Accepted")
    await charger.plug(1)
    await expect(status).to_have_text("Charging", timeout=SLOW)
    await expect(page.locator("#tx-body")).to_contain_text(tag, timeout=SLOW)
    await operator.screenshot("operator-phone-commands")
    await press("Stop charging", f"Stop charging: {site.cp_id} answered Accepted")
    await expect(status).not_to_have_text("Charging", timeout=SLOW)

    # A charger that drops off: the flag turns, and a command says so plainly.
    await charger.go_offline()
    await expect(online).to_have_text("Offline", timeout=SLOW)
    await press("Unlock", "Unlock: The charger is not connected right now.")
    await charger.go_online()
    await expect(online).to_have_text("Online", timeout=SLOW)
    operator.assert_clean()


async def test_a_driver_account_is_not_an_operator(open_tab: OpenTab, csms: CsmsProcess) -> None:
    email = unique_email()
    status, _ = await csms.request(
        "POST", "/api/v1/users", json={"email": email, "password": DRIVER_PASSWORD}
    )
    assert status == 201
    operator = await open_tab(DESKTOP, "/operator")
    page = operator.page
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(DRIVER_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#notice")).to_have_text(
        "This account is not an operator account. Sign in with an operator account."
    )
    await page.get_by_label("Password").fill("wrong-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#auth-error")).to_have_text("Wrong email or password.")
    operator.assert_clean()


async def test_signing_out_revokes_the_token(open_tab: OpenTab, csms: CsmsProcess) -> None:
    operator = await open_tab(DESKTOP, "/operator")
    page = operator.page
    await sign_in_operator(operator)
    token = await page.evaluate(
        "() => Object.entries(sessionStorage).find(([k]) => k.endsWith('.token'))[1]"
    )
    assert (await csms.request("GET", "/api/v1/me", token=token))[0] == 200
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    # Gone on the server too, not only forgotten by this tab.
    assert (await csms.request("GET", "/api/v1/me", token=token))[0] == 401
    operator.assert_clean()


async def test_screenshots_of_both_pages_signed_out(open_tab: OpenTab) -> None:
    for path, name in (("/", "driver"), ("/operator", "operator")):
        tab = await open_tab(PHONE, path)
        await expect(tab.page.get_by_label("Email")).to_be_visible()
        await tab.screenshot(f"{name}-phone-signed-out")
        await tab.screenshot(f"{name}-desktop-signed-out", DESKTOP)
        await tab.assert_fits(360)
        tab.assert_clean()

