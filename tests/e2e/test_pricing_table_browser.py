"""The pricing table in a real browser: Debian's Chromium, driven by
Playwright (PyPI; its async API, inside this pytest-asyncio suite), against
the end-to-end suite's gateway.

A merchant's page on another origin (a tiny aiohttp server on this machine)
embeds `<script src="{gateway}/pricing-table.js">` and
`<billingos-pricing-table>`; the customer sees the plans and their prices,
chooses yearly with the keyboard, sees the yearly prices and picks a plan: the
`billingos-checkout` event carries its price id, and without a listener that
keeps the page, the browser goes to the merchant's checkout URL with it.
Every request to any other host is blocked and fails the test (the widget
fetches nothing from a CDN). The page's own hostile CSS does not reach the
table (shadow DOM), and every text in it has a contrast of at least 4.5:1, in
both themes.

Skipped where /usr/bin/chromium is missing (`apt-get install chromium`), or
npm (the suite then serves no front end), unless BILLINGOS_REQUIRE_BROWSER is
set (CI), where that is a failure. Screenshots of each step go to
tests/artifacts/pricing-table/ (git-ignored); BILLINGOS_UPDATE_SCREENSHOTS=1
also rewrites docs/screenshots/pricing-table-{light,dark}.png.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from billingos_cli.paths import REPO_ROOT
from billingos_cli.suite import Suite

from .conftest import Merchant

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("BILLINGOS_REQUIRE_BROWSER", "") not in ("", "0")
UPDATE_SCREENSHOTS = os.environ.get("BILLINGOS_UPDATE_SCREENSHOTS", "") not in ("", "0")
ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "pricing-table"
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
# Chromium talks to nothing but the page: no component updates, no field
# trials, no safe-browsing or sync (Playwright adds --headless).
CHROMIUM_FLAGS = [
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
]
MIN_CONTRAST = 4.5

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not REQUIRED,
        reason=(
            "browser tests need Debian's Chromium at /usr/bin/chromium "
            "(apt-get install chromium); BILLINGOS_REQUIRE_BROWSER=1 makes this a failure"
        ),
    ),
]


@dataclass
class Shop:
    """The merchant's site: another origin than the gateway's."""

    origin: str
    pages: dict[str, str] = field(default_factory=dict)

    def page(self, name: str, html: str) -> str:
        self.pages[name] = html
        return f"{self.origin}/{name}"


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    found = Shop(origin="")

    async def page(request: web.Request) -> web.Response:
        html = found.pages.get(request.match_info["name"])
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html")

    async def checkout(request: web.Request) -> web.Response:
        price = escape(request.query.get("price", ""))
        return web.Response(
            text=f"<!doctype html><title>Checkout</title><h1>Checkout for {price}</h1>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/checkout", checkout)
    app.router.add_get("/{name}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    found.origin = f"http://{host}:{port}"
    try:
        yield found
    finally:
        await runner.cleanup()


@dataclass
class Guard:
    """Lets requests to the two local origins through; records and aborts
    any other. `hold` delays the catalog's responses (the loading state)."""

    allowed: tuple[str, ...]
    blocked: list[str] = field(default_factory=list)
    hold: asyncio.Event | None = None

    async def __call__(self, route: Route) -> None:
        url: str = route.request.url
        if not url.startswith(self.allowed):
            self.blocked.append(url)
            await route.abort("blockedbyclient")
            return
        if self.hold is not None and "/v1/public/" in url:
            await self.hold.wait()
        await route.continue_()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def served(suite: Suite) -> Suite:
    if suite.web_unavailable:
        if REQUIRED:
            pytest.fail(f"the suite serves no front end: {suite.web_unavailable}")
        pytest.skip(f"the suite serves no front end here: {suite.web_unavailable}")
    return suite


OpenPage = Callable[[str], Awaitable[Page]]


@pytest.fixture
async def open_page(
    browser: Browser, served: Suite, shop: Shop
) -> AsyncIterator[tuple[OpenPage, Guard]]:
    """Opens pages in a fresh context whose every request goes through the guard."""
    context = await browser.new_context(
        locale="en-US", viewport={"width": 1100, "height": 760}, device_scale_factor=1
    )
    guard = Guard(allowed=(served.rest_url + "/", shop.origin + "/"))
    await context.route("**/*", guard)
    console_errors: list[str] = []

    async def open_(url: str) -> Page:
        page = await context.new_page()
        page.on(
            "console",
            lambda message: (
                console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: console_errors.append(str(error)))
        await page.goto(url)
        return page

    try:
        yield open_, guard
    finally:
        await context.close()
    assert guard.blocked == [], f"requests to other hosts: {guard.blocked}"
    assert [e for e in console_errors if "404" not in e] == [], console_errors


def merchant_page(gateway: str, organization: str, *, theme: str = "light", shop: str) -> str:
    """A merchant's page: hostile CSS of its own, the element, the script."""
    template = escape(f"{shop}/checkout?price={{price_id}}")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Shop pricing</title>
<style>
  /* A page's styles must not reach into the table. */
  * {{ color: #ff00ff !important; font-family: "Comic Sans MS", cursive; }}
  button {{ display: none !important; }}
  h3, p, li {{ visibility: hidden; }}
  body {{ background: {"#ffffff" if theme == "light" else "#020617"}; margin: 24px; }}
</style>
</head>
<body>
<h1>Our plans</h1>
<billingos-pricing-table organization-id="{escape(organization)}" theme="{theme}"
  checkout-url="{template}"></billingos-pricing-table>
<script src="{escape(gateway)}/pricing-table.js"></script>
<script>
  window.checkouts = [];
  window.stayOnPage = false;
  document.addEventListener('billingos-checkout', (event) => {{
    window.checkouts.push(event.detail);
    if (window.stayOnPage) event.preventDefault();
  }});
</script>
</body>
</html>"""


PLANS: list[dict[str, Any]] = [
    {
        "name": "Starter",
        "description": "For side projects",
        "recurring": {"interval": "INTERVAL_MONTH"},
        "public_metadata": {"features": "1 project\nCommunity support"},
        "prices": [
            {"currency": "USD", "fixed": {"amount_minor": 900}},
            {
                "currency": "USD",
                "recurring": {"interval": "INTERVAL_YEAR"},
                "fixed": {"amount_minor": 9000},
            },
        ],
    },
    {
        "name": "Pro",
        "description": "For growing teams",
        "recurring": {"interval": "INTERVAL_MONTH"},
        "trial": {"interval": "INTERVAL_DAY", "count": 14},
        "public_metadata": {"features": "Unlimited projects\nPriority support"},
        "prices": [
            {"currency": "USD", "fixed": {"amount_minor": 2900}},
            {
                "currency": "USD",
                "recurring": {"interval": "INTERVAL_YEAR"},
                "fixed": {"amount_minor": 29000},
            },
        ],
    },
    {
        "name": "Lifetime",
        "description": "Pay once, keep it",
        "prices": [{"currency": "JPY", "fixed": {"amount_minor": 50000}}],
    },
]


async def catalog_of(merchant: Merchant, http: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    """The merchant's plans, created; its slug once the public catalog lists
    them all (its copy of organizations follows the customers' events)."""
    created = {}
    for plan in PLANS:
        answer = await merchant.client.post("/v1/products", json=plan)
        assert answer.status_code == 200, answer.text
        created[plan["name"]] = answer.json()
    slug = (await merchant.client.get(f"/v1/organizations/{merchant.organization_id}")).json()[
        "slug"
    ]
    deadline = time.monotonic() + 20
    while True:
        listed = await http.get(f"/v1/public/organizations/{slug}/products")
        if listed.status_code == 200 and len(listed.json()["products"]) == len(PLANS):
            return slug, created
        assert time.monotonic() < deadline, listed.text
        await asyncio.sleep(0.2)


def price_id(product: dict[str, Any], interval: str) -> str:
    (found,) = [p["id"] for p in product["prices"] if p["recurring"]["interval"] == interval]
    return str(found)


async def shoot(page: Page, name: str, *, docs: str | None = None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if docs and UPDATE_SCREENSHOTS:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        table = page.locator("billingos-pricing-table")
        await table.screenshot(path=str(DOCS_SCREENSHOTS / docs))


# Every text in the table's shadow root, with its colour and the first
# opaque background behind it, as WCAG 2 contrast ratios.
CONTRAST_SCRIPT = (Path(__file__).parent / "contrast.js").read_text()


async def check_contrast_and_isolation(page: Page) -> None:
    measured = await page.locator("billingos-pricing-table").evaluate(CONTRAST_SCRIPT)
    assert len(measured) > 10, measured
    low = [m for m in measured if m["ratio"] < MIN_CONTRAST]
    assert low == [], low
    # The page's `* { color: #ff00ff !important }` and its fonts stop at the shadow root.
    assert not [m for m in measured if m["color"] == "rgb(255, 0, 255)"]
    assert not [m for m in measured if "Comic Sans" in m["font"]]


async def test_a_customer_picks_a_yearly_plan_on_a_merchants_page(
    open_page: tuple[OpenPage, Guard],
    served: Suite,
    shop: Shop,
    merchant: Merchant,
    http: httpx.AsyncClient,
) -> None:
    open_, guard = open_page
    slug, created = await catalog_of(merchant, http)
    guard.hold = asyncio.Event()  # the catalog answers once the loading state was seen
    page = await open_(shop.page("pricing", merchant_page(served.rest_url, slug, shop=shop.origin)))

    # 1. Loading: the table says so (and is busy) until the catalog answers.
    table = page.locator("billingos-pricing-table")
    await expect(page.get_by_role("status")).to_have_text("Loading plans…")
    await expect(table.locator("section")).to_have_attribute("aria-busy", "true")
    await shoot(page, "01-loading")
    guard.hold.set()

    # 2. Monthly: every plan, cheapest first, its price, trial and features.
    plans = table.get_by_role("listitem").filter(has=page.get_by_role("heading"))
    await expect(plans).to_have_count(3)
    await expect(plans.get_by_role("heading")).to_have_text(["Starter", "Pro", "Lifetime"])
    pro = plans.filter(has=page.get_by_role("heading", name="Pro", exact=True))
    starter = plans.filter(has=page.get_by_role("heading", name="Starter", exact=True))
    lifetime = plans.filter(has=page.get_by_role("heading", name="Lifetime", exact=True))
    await expect(pro.locator(".price")).to_have_text("$29 / month")
    await expect(starter.locator(".price")).to_have_text("$9 / month")
    await expect(lifetime.locator(".price")).to_have_text("¥50,000 one-time")  # no minor unit
    await expect(pro.get_by_text("14-day free trial")).to_be_visible()
    features = pro.get_by_role("list", name="Included in Pro").get_by_role("listitem")
    await expect(features).to_have_text(["Unlimited projects", "Priority support"])
    await expect(pro.get_by_text("For growing teams")).to_be_visible()
    await expect(table.get_by_role("button")).to_have_count(3)
    await check_contrast_and_isolation(page)
    await shoot(page, "02-monthly", docs="pricing-table-light.png")

    # 3. Yearly, with the keyboard: the toggle is a real radio group.
    period = table.get_by_role("group", name="Billing period")
    monthly = period.get_by_role("radio", name="Monthly")
    yearly = period.get_by_role("radio", name="Yearly")
    await expect(monthly).to_be_checked()
    await monthly.focus()
    await page.keyboard.press("ArrowRight")
    await expect(yearly).to_be_checked()
    await expect(pro.locator(".price")).to_have_text("$290 / year")
    await expect(starter.locator(".price")).to_have_text("$90 / year")
    # A one-time product has no yearly price: it keeps its own.
    await expect(lifetime.locator(".price")).to_have_text("¥50,000 one-time")
    await check_contrast_and_isolation(page)
    await shoot(page, "03-yearly")

    # 4. Choosing Pro, by keyboard: the event names the yearly price, and a
    #    listener that handles it keeps the page where it is.
    yearly_pro = price_id(created["Pro"], "INTERVAL_YEAR")
    button = pro.get_by_role("button", name=re.compile(r"^Start free trial: Pro, \$290"))
    await page.evaluate("window.stayOnPage = true")
    await button.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_function("window.checkouts.length === 1")
    (detail,) = await page.evaluate("window.checkouts")
    assert detail == {
        "organization": slug,
        "productId": created["Pro"]["id"],
        "priceId": yearly_pro,
        "currency": "USD",
        "interval": "INTERVAL_YEAR",
        "intervalCount": 1,
    }
    assert page.url == f"{shop.origin}/pricing"

    # 5. Without that, the click leads to the merchant's checkout URL.
    await page.evaluate("window.stayOnPage = false")
    await button.click()
    await page.wait_for_url(re.compile(re.escape(f"{shop.origin}/checkout?")))
    assert parse_qs(urlsplit(page.url).query) == {"price": [yearly_pro]}
    await expect(page.get_by_role("heading")).to_have_text(f"Checkout for {yearly_pro}")
    await shoot(page, "04-checkout")


async def test_the_dark_theme_and_the_error_states(
    open_page: tuple[OpenPage, Guard],
    served: Suite,
    shop: Shop,
    merchant: Merchant,
    http: httpx.AsyncClient,
) -> None:
    open_, _ = open_page
    slug, _ = await catalog_of(merchant, http)
    page = await open_(
        shop.page("dark", merchant_page(served.rest_url, slug, theme="dark", shop=shop.origin))
    )
    table = page.locator("billingos-pricing-table")
    await expect(table.get_by_role("heading")).to_have_count(3)
    await check_contrast_and_isolation(page)
    await shoot(page, "05-dark", docs="pricing-table-dark.png")
    await table.get_by_role("radio", name="Yearly").check()
    starter = table.get_by_role("button", name="Subscribe: Starter, $90 / year", exact=True)
    await expect(starter).to_be_visible()
    await check_contrast_and_isolation(page)

    # An organization nobody knows: a clear message, not an empty box.
    unknown = await open_(
        shop.page(
            "unknown",
            merchant_page(served.rest_url, "no-such-shop-anywhere", shop=shop.origin),
        )
    )
    alert = unknown.locator("billingos-pricing-table").get_by_role("alert")
    await expect(alert).to_have_text(
        "No organization “no-such-shop-anywhere” is known here, so there are no plans to show."
    )
    await shoot(unknown, "06-unknown-organization")

    # A gateway that cannot be reached: the error, and a way to retry.
    down = await open_(
        shop.page(
            "down",
            merchant_page(served.rest_url, slug, shop=shop.origin).replace(
                "<billingos-pricing-table ",
                f'<billingos-pricing-table api-url="{shop.origin}/no-gateway/" ',
            ),
        )
    )
    failed = down.locator("billingos-pricing-table").get_by_role("alert")
    await expect(failed).to_contain_text("The plans could not be loaded (error 404).")
    await expect(failed.get_by_role("button", name="Try again")).to_be_visible()
    await shoot(down, "07-unavailable")
