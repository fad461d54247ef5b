"""Browser tests: Debian's headless Chromium driven by Playwright, against ``csms serve``.

Playwright's own browser download cannot work here (no internet), so the tests launch the
system Chromium (``/usr/bin/chromium``) through ``executable_path``. When it is missing and
we are root with apt-get, the session installs it (bounded time); otherwise the browser tests
are skipped with the reason. Screenshots go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.conftest import CsmsProcess
from tests.world import TARIFF

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request

    from simulators import SimulatedChargePoint

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
#: The browser's own zone differs from the sites' (Europe/Berlin): pages must use the site's.
BROWSER_TIMEZONE = "America/New_York"
INSTALL_TIMEOUT = 900
_names = itertools.count()


def _install_chromium() -> str | None:
    """Install Debian's chromium with apt-get; None when done, else why not."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "chromium"],
        ):
            subprocess.run(
                command, check=True, env=env, capture_output=True, timeout=INSTALL_TIMEOUT
            )
    except subprocess.CalledProcessError as error:
        tail = (error.stderr or b"").decode(errors="replace")[-500:]
        return f"`{' '.join(error.cmd)}` failed: {tail}"
    except (subprocess.TimeoutExpired, OSError) as error:
        return f"installing chromium failed: {error}"
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium: present, or installed now (root + apt-get), or the tests skip."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): "
            "apt-get install chromium"
        )
    problem = _install_chromium()
    if problem is not None or not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and could not be installed: {problem}")
    return str(CHROMIUM)


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="the `playwright` package is missing: pip install -e '.[test]'"
    )
    async with playwright_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, args=LAUNCH_ARGS, timeout=60_000
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Tab:
    """A page in its own browser context, with every request and console problem recorded."""

    page: Page
    context: BrowserContext
    origin: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if _origin(url) != self.origin]

    def assert_clean(self) -> None:
        """Every request went to the server itself; no script error, no CSP violation."""
        assert self.requests, "the page made no requests at all?"
        assert self.foreign_requests() == []
        assert self.problems == []

    async def assert_fits(self, width: int = 360) -> None:
        """Nothing sticks out sideways on a small phone (``width`` CSS pixels)."""
        before = self.page.viewport_size
        await self.page.set_viewport_size({"width": width, "height": 740})
        await self.page.wait_for_timeout(100)
        overflow = await self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if before is not None:
            await self.page.set_viewport_size(before)
        assert overflow <= 0, f"the page is {overflow} px wider than a {width} px screen"

    async def screenshot(self, name: str, size: dict[str, int] | None = None) -> Path:
        """Save a full-page screenshot (at ``size`` if given, then back to the tab's size)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        before = self.page.viewport_size
        if size is not None and size != before:
            await self.page.set_viewport_size(size)  # type: ignore[arg-type]
            await self.page.wait_for_timeout(150)  # let the layout settle
        await self.page.screenshot(path=str(path), full_page=True)
        if size is not None and before is not None and size != before:
            await self.page.set_viewport_size(before)
        return path


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


OpenTab = Callable[..., Awaitable[Tab]]


@pytest.fixture
async def open_tab(browser: Browser, csms: CsmsProcess) -> AsyncIterator[OpenTab]:
    """``await open_tab(PHONE)``: a fresh browser context (own storage) with a recorded page."""
    tabs: list[Tab] = []

    async def open_(viewport: dict[str, int] = PHONE, path: str = "/") -> Tab:
        context = await browser.new_context(
            viewport=viewport,  # type: ignore[arg-type]
            timezone_id=BROWSER_TIMEZONE,
            locale="en-GB",
            is_mobile=viewport["width"] < 600,
            has_touch=viewport["width"] < 600,
            service_workers="block",
        )
        context.set_default_timeout(10_000)
        page = await context.new_page()
        tab = Tab(page, context, _origin(csms.http_url))

        def on_request(request: Request) -> None:
            tab.requests.append(request.url)

        def on_console(message: ConsoleMessage) -> None:
            # A 4xx answer the page handles (409 slot taken, 401) is logged by Chromium as
            # "Failed to load resource": expected; anything else is a problem.
            if message.type == "error" and "Failed to load resource" not in message.text:
                tab.problems.append(f"console: {message.text}")

        page.on("request", on_request)
        page.on("console", on_console)
        page.on("pageerror", lambda error: tab.problems.append(f"page error: {error}"))
        tabs.append(tab)
        await page.goto(csms.http_url + path)
        return tab

    yield open_
    for tab in tabs:
        await tab.context.close()


@dataclass
class Site:
    """A site of its own in the shared ``csms serve`` (tests must not see each other's)."""

    id: int
    name: str
    cp_id: str


@pytest.fixture
async def make_site(csms: CsmsProcess) -> Callable[..., Awaitable[Site]]:
    async def make(connectors: int = 2, power_kw: float = 22) -> Site:
        name = f"Browser Yard {os.getpid()}-{next(_names)}-{time.monotonic_ns() % 100000}"
        status, site = await csms.request(
            "POST", "/api/v1/sites", json={"name": name, "timezone": "Europe/Berlin"}
        )
        assert status == 201, site
        status, body = await csms.request("PUT", f"/api/v1/sites/{site['id']}/tariff", json=TARIFF)
        assert status == 200, body
        cp_id = await csms.register_charge_point(
            connectors=connectors, power_kw=power_kw, site_id=site["id"]
        )
        return Site(site["id"], name, cp_id)

    return make


def unique_email(prefix: str = "driver") -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}-{time.monotonic_ns() % 10**9}@example.com"


@pytest.fixture
async def simulated_charger(
    csms: CsmsProcess,
) -> AsyncIterator[Callable[..., Awaitable[SimulatedChargePoint]]]:
    """``await simulated_charger(site)``: the site's charger, a real csms-sim, connected and
    booted (closed after the test)."""
    from simulators import SimulatedChargePoint as Simulator
    from simulators.charge_point import Backoff

    started: list[SimulatedChargePoint] = []

    async def connect(site: Site, connectors: int = 2) -> SimulatedChargePoint:
        charger = Simulator(csms.ocpp_url, site.cp_id, connectors=connectors,
                            backoff=Backoff(0.05, 0.5))
        started.append(charger)
        await charger.start(timeout=15)
        return charger

    yield connect
    for charger in started:
        await charger.close()
