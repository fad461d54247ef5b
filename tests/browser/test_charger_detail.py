"""The charger detail page (/operator/charge-points/{id}) in headless Chromium, against
``csms serve`` and a real simulated charger (csms-sim) connected to it.

What an operator reads is asserted: the charger's identity and connectors with their status
history, the configuration table as the charger sent it, the charger's own answers to
ChangeConfiguration and TriggerMessage, the message log's older pages, and a Hard reset that
asks first (and sends nothing when dismissed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

import pytest

pytest.importorskip("playwright", reason="the `playwright` package is missing: pip install -e '.[test]'")

from playwright.async_api import Page, expect

from simulators import SimulatedChargePoint
from tests.browser.conftest import DESKTOP, PHONE, OpenTab, Site, Tab
from tests.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD, CsmsProcess
from tests.waiting import eventually

pytestmark = pytest.mark.browser

SLOW = 15_000  # ms: a change crosses the charger, the database and the event feed
Connect = Callable[..., Awaitable[SimulatedChargePoint]]


async def open_detail(open_tab: OpenTab, cp_id: str, viewport: dict[str, int] = DESKTOP) -> Tab:
    tab = await open_tab(viewport, f"/operator/charge-points/{quote(cp_id)}")
    page = tab.page
    await page.get_by_label("Email").fill(OPERATOR_EMAIL)
    await page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name=cp_id)).to_be_visible()
    return tab


def connector(page: Page, n: int):  # type: ignore[no-untyped-def]
    return page.locator(f'#connectors [data-connector="{n}"]')


async def test_identity_connectors_and_their_history(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]],
    simulated_charger: Connect,
) -> None:
    site = await make_site(connectors=2)
    await simulated_charger(site)
    tab = await open_detail(open_tab, site.cp_id)
    page = tab.page
    await expect(page.locator("#online")).to_have_text("Online", timeout=SLOW)
    facts = page.locator("#identity-facts")
    await expect(facts.locator('[data-fact="Vendor"]')).to_have_text("csms-sim")
    await expect(facts.locator('[data-fact="Model"]')).to_have_text("Simulator")
    await expect(facts.locator('[data-fact="Firmware version"]')).to_have_text("csms-sim 0.1.0")
    await expect(facts.locator('[data-fact="Serial number"]')).to_have_text(site.cp_id[:25])
    await expect(facts.locator('[data-fact="Site"]')).to_contain_text(site.name)
    await expect(facts.locator('[data-fact="Security profile"]')).to_have_text("0")
    for n in (1, 2):
        row = connector(page, n)
        await expect(row).to_contain_text(f"Connector {n}")
        await expect(row).to_contain_text("Type2")
        await expect(row.locator('[data-role="history"] li[data-status="Available"]')).to_have_count(1)
    await expect(connector(page, 0)).to_contain_text("Whole charger (0)")

    # A change at the charger: the badge turns and the history grows, newest first, live.
    status, answer = await csms.request(
        "POST", f"/api/v1/charge-points/{site.cp_id}/commands/ChangeAvailability",
        json={"connectorId": 1, "type": "Inoperative"},
    )
    assert (status, answer) == (200, {"status": "Accepted"})
    one = connector(page, 1)
    await expect(one.locator('.connector-line [data-role="connector-status"]')).to_have_text(
        "Unavailable", timeout=SLOW)
    history = one.locator('[data-role="history"] li')
    await expect(history.first).to_have_attribute("data-status", "Unavailable", timeout=SLOW)
    await expect(history.nth(1)).to_have_attribute("data-status", "Available")
    await expect(connector(page, 2).locator('[data-role="history"] li')).to_have_count(1)
    await tab.screenshot("charger-detail-desktop")
    await tab.screenshot("charger-detail-phone", PHONE)
    await tab.assert_fits(360)
    tab.assert_clean()


async def test_configuration_from_the_charger_and_its_answers_to_changes(
    open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]], simulated_charger: Connect,
) -> None:
    site = await make_site(connectors=1)
    charger = await simulated_charger(site, connectors=1)
    tab = await open_detail(open_tab, site.cp_id)
    page = tab.page
    await page.get_by_role("button", name="Read from charger").click()
    await expect(page.locator("#config-answer")).to_contain_text(f"{site.cp_id} sent")
    heartbeat = page.locator('#config-body tr[data-key="HeartbeatInterval"]')
    await expect(heartbeat.locator('[data-role="value"]')).to_have_text(
        charger.model.config.get("HeartbeatInterval"))
    await expect(heartbeat).to_contain_text("writable")
    connectors = page.locator('#config-body tr[data-key="NumberOfConnectors"]')
    await expect(connectors).to_contain_text("read-only")
    await expect(connectors.locator("input")).to_have_count(0)

    await heartbeat.get_by_label("New value of HeartbeatInterval").fill("123")
    await heartbeat.get_by_role("button", name="Save").click()
    await expect(heartbeat.locator('[data-role="answer"]')).to_have_text("Accepted")
    await expect(heartbeat.locator('[data-role="value"]')).to_have_text("123")
    assert charger.model.config.get("HeartbeatInterval") == "123"

    async def change(key: str, value: str) -> None:
        await page.get_by_label("Key", exact=True).fill(key)
        await page.get_by_label("New value", exact=True).fill(value)
        await page.get_by_role("button", name="Change key").click()

    await change("NumberOfConnectors", "7")
    await expect(page.locator("#config-change-answer")).to_have_text(
        f"NumberOfConnectors: {site.cp_id} answered Rejected")
    await expect(connectors.locator('[data-role="value"]')).to_have_text("1")
    await change("NoSuchKeyAtAll", "1")
    await expect(page.locator("#config-change-answer")).to_have_text(
        f"NoSuchKeyAtAll: {site.cp_id} answered NotSupported")
    await tab.screenshot("charger-configuration")
    tab.assert_clean()


async def test_message_log_pages_back_and_filters_by_action(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]],
    simulated_charger: Connect,
) -> None:
    site = await make_site(connectors=1)
    await simulated_charger(site, connectors=1)
    for _ in range(8):  # 8 × (TriggerMessage out, answer in, Heartbeat in, answer out)
        status, _ = await csms.request(
            "POST", f"/api/v1/charge-points/{site.cp_id}/commands/TriggerMessage",
            json={"requestedMessage": "Heartbeat"},
        )
        assert status == 200
    path = f"/api/v1/charge-points/{site.cp_id}/messages?limit=500"

    async def logged() -> list[dict[str, object]]:
        return (await csms.request("GET", path))[1]["items"]  # type: ignore[no-any-return]

    def complete(items: list[dict[str, object]]) -> bool:
        actions = [m["action"] for m in items]
        return actions.count("TriggerMessage") == 16 and actions.count("Heartbeat") >= 16

    everything = await eventually(logged, complete, timeout=10)
    tab = await open_detail(open_tab, site.cp_id)
    page = tab.page
    rows = page.locator("#messages-body tr")
    await expect(rows).to_have_count(20)
    oldest = str(everything[-1]["id"])  # the BootNotification that opened the session
    boot_row = page.locator(f'#messages-body tr[data-id="{oldest}"]')
    await expect(boot_row).to_have_count(0)
    older = page.get_by_role("button", name="Older messages")
    while await older.is_visible():
        count = await rows.count()
        await older.click()
        await page.wait_for_function(
            """n => document.querySelectorAll('#messages-body tr').length > n
                   || document.querySelector('#messages-older').hidden""", arg=count)
    await expect(boot_row).to_contain_text("BootNotification")
    assert await rows.count() >= len(everything)
    ids = [int(i) for i in await rows.evaluate_all("rows => rows.map(r => r.dataset.id)")]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)

    await page.get_by_label("Action", exact=True).fill("TriggerMessage")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(16)
    actions = await page.locator('#messages-body [data-role="action"]').all_text_contents()
    assert set(actions) == {"TriggerMessage"}
    tab.assert_clean()


async def test_trigger_message_answer_and_hard_reset_asks_first(
    csms: CsmsProcess, open_tab: OpenTab, make_site: Callable[..., Awaitable[Site]],
    simulated_charger: Connect,
) -> None:
    site = await make_site(connectors=1)
    await simulated_charger(site, connectors=1)
    tab = await open_detail(open_tab, site.cp_id, PHONE)
    page = tab.page
    answer = page.locator("#command-answer")
    await page.get_by_label("Message to trigger").select_option("StatusNotification")
    await page.get_by_role("button", name="Trigger message").click()
    await expect(answer).to_have_text(f"Trigger message: {site.cp_id} answered Accepted",
                                      timeout=SLOW)

    dialog = page.locator("#confirm")
    await page.get_by_role("button", name="Hard reset", exact=True).click()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text(f"Hard reset {site.cp_id}?")
    await tab.screenshot("charger-hard-reset-confirm")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(answer).to_have_text("Hard reset: not sent.")
    await page.get_by_role("button", name="Hard reset", exact=True).click()
    await expect(dialog).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(answer).to_have_text("Hard reset: not sent.")
    # Nothing reached the charger: once the TriggerMessage sent before is in the message log
    # (written in batches), no Reset is.
    log = f"/api/v1/charge-points/{site.cp_id}/messages?action="

    async def logged(action: str) -> list[dict[str, object]]:
        return (await csms.request("GET", log + action))[1]["items"]  # type: ignore[no-any-return]

    await eventually(lambda: logged("TriggerMessage"), lambda items: len(items) == 2)
    assert await logged("Reset") == []
    await tab.assert_fits(360)
    tab.assert_clean()


async def test_an_unknown_charger_is_said_so(open_tab: OpenTab) -> None:
    tab = await open_tab(DESKTOP, "/operator/charge-points/NO-SUCH-CHARGER")
    page = tab.page
    await page.get_by_label("Email").fill(OPERATOR_EMAIL)
    await page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#notice")).to_have_text(
        "There is no charger named “NO-SUCH-CHARGER”.")
    await expect(page.locator("#app")).to_be_hidden()
