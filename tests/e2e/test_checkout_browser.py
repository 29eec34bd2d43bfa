"""The hosted checkout page in a real browser: Debian's Chromium, driven by
Playwright (PyPI; its async API), against the end-to-end suite's gateway and
its Stripe stand-in (localstripe, whose Stripe.js draws plain inputs).

A merchant (its API key) sells a plan with monthly and yearly prices, a 19%
tax in Germany, a discount code its checkout link allows and one it does
not. The customer opens the link's URL: the page opens a session and moves
to the session's own URL; they choose yearly with the keyboard, fill in
their details and a German address (the tax line appears), try the code
that is not allowed (its error shows next to the field), then the allowed
one (the discount line), and pay with 4242 4242 4242 4242: a second click
on Pay sends nothing more, and the browser lands on the merchant's success
URL with the session's id. A second customer's card 4000 0000 0000 0341 is
saved but its charge declined: the page says so, the merchant's API shows
no succeeded payment for them, and another card then pays. A pricing table
given the link (`checkout-link`, the organization by its slug) leads to the
page with the price chosen there. axe-core (web/'s dev dependency, run
through Playwright, which the page's CSP does not stop) finds no violation.

Every request to a host other than the gateway, the stand-in and the
merchant's site is blocked and fails the test; so does any console error
but the expected ones (the refused code's 400, the favicon's 404) and any
CSP violation. Skipped where /usr/bin/chromium (`apt-get install
chromium`) or npm is missing, unless BILLINGOS_REQUIRE_BROWSER is set (CI).
Screenshots of each step go to tests/artifacts/checkout/ (git-ignored);
BILLINGOS_UPDATE_SCREENSHOTS=1 also rewrites
docs/screenshots/checkout-{light,decline}.png.
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
from playwright.async_api import Browser, Page, Request, Route, async_playwright, expect

from billingos_cli.paths import REPO_ROOT, WEB_DIR
from billingos_cli.suite import Suite

from .conftest import Merchant

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("BILLINGOS_REQUIRE_BROWSER", "") not in ("", "0")
UPDATE_SCREENSHOTS = os.environ.get("BILLINGOS_UPDATE_SCREENSHOTS", "") not in ("", "0")
ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "checkout"
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
AXE = WEB_DIR / "node_modules" / "axe-core" / "axe.min.js"
# Chromium talks to nothing but the page (as in test_pricing_table_browser.py).
CHROMIUM_FLAGS = [
    "--no-sandbox",
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
BRAND_COLOR = "#0f766e"
SUCCESS_PATH = "/thanks"

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


# --- the merchant's site, the browser and what it may reach ---------------------


@dataclass
class Shop:
    """The merchant's site (another origin): its success page and pages
    that embed a pricing table."""

    origin: str = ""
    pages: dict[str, str] = field(default_factory=dict)
    thanked: list[str] = field(default_factory=list)  # the session ids it was sent

    def page(self, name: str, html: str) -> str:
        self.pages[name] = html
        return f"{self.origin}/{name}"


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    found = Shop()

    async def thanks(request: web.Request) -> web.Response:
        session = request.query.get("session", "")
        found.thanked.append(session)
        return web.Response(
            text=f"<!doctype html><title>Thanks</title><h1>Thank you</h1><p>{escape(session)}</p>",
            content_type="text/html",
        )

    async def page(request: web.Request) -> web.Response:
        html = found.pages.get(request.match_info["name"])
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get(SUCCESS_PATH, thanks)
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
    """Lets requests to the allowed origins through; records and aborts any other."""

    allowed: tuple[str, ...]
    blocked: list[str] = field(default_factory=list)

    async def __call__(self, route: Route) -> None:
        url: str = route.request.url
        if not url.startswith(self.allowed):
            self.blocked.append(url)
            await route.abort("blockedbyclient")
            return
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


@dataclass
class Tab:
    """A browser page and what it did: its requests, and its console errors."""

    page: Page
    requests: list[Request] = field(default_factory=list)

    def calls(self, suffix: str) -> list[str]:
        return [r.url for r in self.requests if r.method == "POST" and r.url.endswith(suffix)]


OpenTab = Callable[[str], Awaitable[Tab]]
# Console errors a run may show: a code refused (its PATCH's 400) and the
# browser's own request for /favicon.ico (the gateway's JSON 404).
EXPECTED_CONSOLE = re.compile(
    r"^Failed to load resource: the server responded with a status of 40[04]"
)


@pytest.fixture
async def open_tab(browser: Browser, served: Suite, shop: Shop) -> AsyncIterator[OpenTab]:
    """Opens pages, each in a fresh context, every request through the guard."""
    guard = Guard(allowed=(served.rest_url + "/", served.stripe_api_base + "/", shop.origin + "/"))
    errors: list[str] = []
    contexts = []

    async def open_(url: str) -> Tab:
        context = await browser.new_context(
            locale="en-US", viewport={"width": 1100, "height": 900}, device_scale_factor=1
        )
        contexts.append(context)
        await context.route("**/*", guard)
        tab = Tab(await context.new_page())
        tab.page.on("request", lambda request: tab.requests.append(request))
        tab.page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )
        tab.page.on("pageerror", lambda error: errors.append(str(error)))
        await tab.page.goto(url)
        return tab

    try:
        yield open_
    finally:
        for context in contexts:
            await context.close()
    assert guard.blocked == [], f"requests to other hosts: {guard.blocked}"
    assert [e for e in errors if not EXPECTED_CONSOLE.match(e)] == [], errors


async def shoot(page: Page, name: str, *, docs: str | None = None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # From the top: the summary is sticky, and would sit where the page was scrolled to.
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if docs and UPDATE_SCREENSHOTS:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(DOCS_SCREENSHOTS / docs), full_page=True)


async def check_accessibility(page: Page) -> None:
    """axe-core's WCAG 2.x A/AA rules and best practices, contrast included,
    on everything but Stripe's card element (Stripe's own; in tests the
    stand-in's unlabelled inputs)."""
    assert AXE.exists(), f"{AXE} is missing: web/'s dev dependencies are not installed"
    await page.evaluate(AXE.read_text())
    violations = await page.evaluate(
        """async () => {
          const result = await axe.run({ exclude: ['.card-field'] }, {
            runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                             'wcag22aa', 'best-practice'] },
          });
          return result.violations.map((v) => ({
            id: v.id, nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary),
          }));
        }"""
    )
    assert violations == [], violations


# --- the merchant's offer --------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    product: dict[str, Any]
    link: dict[str, Any]
    slug: str
    branded: bool  # whether the organization's brand colour could be set

    def price(self, interval: str) -> str:
        (found,) = [
            p["id"] for p in self.product["prices"] if p["recurring"]["interval"] == interval
        ]
        return str(found)


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(path, json=body)
    assert answer.status_code == 200, (path, answer.text)
    return dict(answer.json())


async def brand(merchant: Merchant) -> bool:
    """The organization's brand colour; False where organizations have no
    branding yet (the page then shows none)."""
    answer = await merchant.client.patch(
        f"/v1/organizations/{merchant.organization_id}",
        params={"update_mask": "branding.brand_color,branding.support_email"},
        json={"branding": {"brand_color": BRAND_COLOR, "support_email": "help@acme.example"}},
    )
    return answer.status_code == 200


async def make_offer(merchant: Merchant, http: httpx.AsyncClient, shop: Shop) -> Offer:
    client = merchant.client
    product = await created(
        client,
        "/v1/products",
        {
            "name": "Pro",
            "description": "For growing teams",
            "recurring": {"interval": "INTERVAL_MONTH"},
            "prices": [
                {"currency": "USD", "fixed": {"amount_minor": 2900}},
                {
                    "currency": "USD",
                    "recurring": {"interval": "INTERVAL_YEAR"},
                    "fixed": {"amount_minor": 29000},
                },
            ],
        },
    )
    await created(
        client, "/v1/tax-rates", {"display_name": "USt", "country": "DE", "percentage": "19"}
    )
    allowed = await created(
        client,
        "/v1/discounts",
        {
            "name": "Launch",
            "code": "LAUNCH20",
            "percent_off": {"basis_points": 2000},
            "duration": "DISCOUNT_DURATION_ONCE",
        },
    )
    await created(
        client,
        "/v1/discounts",
        {
            "name": "Elsewhere",
            "code": "HALFOFF",
            "percent_off": {"basis_points": 5000},
            "duration": "DISCOUNT_DURATION_ONCE",
        },
    )
    link = await created(
        client,
        "/v1/checkout-links",
        {
            "product_ids": [product["id"]],
            "allowed_discount_ids": [allowed["id"]],
            # A development suite allows a loopback http success URL.
            "success_url": f"{shop.origin}{SUCCESS_PATH}?session={{CHECKOUT_SESSION_ID}}",
        },
    )
    slug = (await client.get(f"/v1/organizations/{merchant.organization_id}")).json()["slug"]
    branded = await brand(merchant)
    await wait_for_tax(http, merchant.organization_id, link["id"])
    return Offer(product, link, slug, branded)


async def wait_for_tax(http: httpx.AsyncClient, organization: str, link: str) -> None:
    """Until the checkout's copy of the tax rates has the new one (it follows
    the catalog's events): a session quoted for Germany shows 19%."""
    opened = await http.post(
        f"/v1/public/organizations/{organization}/checkout-links/{link}/sessions", json={}
    )
    assert opened.status_code == 200, opened.text
    secret = opened.json()["client_secret"]
    deadline = time.monotonic() + 20
    while True:
        quoted = await http.patch(
            f"/v1/public/checkout-sessions/{secret}",
            params={"update_mask": "billing_address"},
            json={"billing_address": {"country": "DE"}},
        )
        assert quoted.status_code == 200, quoted.text
        if quoted.json()["totals"]["tax_rate_percent"] == "19":
            return
        assert time.monotonic() < deadline, quoted.text
        await asyncio.sleep(0.2)


async def payments_of(merchant: Merchant, email: str) -> list[dict[str, Any]]:
    """The payments of the customer the checkout made for `email`."""
    customers = (await merchant.client.get("/v1/customers", params={"email": email})).json()
    found = customers.get("customers", [])
    if not found:
        return []
    listed = await merchant.client.get("/v1/payments", params={"customer_id": found[0]["id"]})
    assert listed.status_code == 200, listed.text
    return list(listed.json().get("payments", []))


# --- the customer's steps --------------------------------------------------------


def summary_rows(page: Page) -> Any:
    return page.get_by_role("complementary", name="Order summary").locator(".row")


async def expect_row(page: Page, label: str, amount: str) -> None:
    row = summary_rows(page).filter(
        has=page.locator("dt", has_text=re.compile(f"^{re.escape(label)}$"))
    )
    await expect(row.locator("dd")).to_have_text(amount)


async def fill_details(page: Page, email: str, name: str) -> None:
    await page.get_by_role("textbox", name="Email").fill(email)
    await page.get_by_role("textbox", name="Name").fill(name)
    await page.get_by_role("combobox", name="Country or region").select_option("DE")
    await page.get_by_role("textbox", name="Address line 1").fill("Unter den Linden 1")
    await page.get_by_role("textbox", name="City").fill("Berlin")
    await page.get_by_role("textbox", name="Postal code").fill("10117")
    await page.get_by_role("textbox", name="Postal code").blur()


async def fill_card(page: Page, number: str) -> None:
    """localstripe's card element: plain inputs named by their placeholders."""
    card = page.locator(".card-field")
    await card.get_by_placeholder("number").fill(number)
    await card.get_by_placeholder("exp_month").fill("12")
    await card.get_by_placeholder("exp_year").fill("34")
    await card.get_by_placeholder("cvc").fill("123")


async def continue_to_payment(page: Page) -> None:
    await page.get_by_role("button", name="Continue to payment").click()
    await expect(page.locator(".card-field").get_by_placeholder("number")).to_be_visible()


# --- the tests ---------------------------------------------------------------------


async def test_a_customer_pays_yearly_with_a_discount_code(
    open_tab: OpenTab, served: Suite, shop: Shop, merchant: Merchant, http: httpx.AsyncClient
) -> None:
    offer = await make_offer(merchant, http, shop)
    link_url = offer.link["url"]
    assert link_url.startswith(served.rest_url + "/checkout/")

    # 1. The link's page opens a session and moves to the session's URL.
    tab = await open_tab(link_url)
    page = tab.page
    await expect(page.get_by_role("heading", name="Checkout", exact=True)).to_be_visible()
    await page.wait_for_url(
        re.compile(re.escape(served.rest_url) + r"/checkout/session/bcx_[\w-]{43}$")
    )
    secret = page.url.rsplit("/", 1)[1]
    await expect_row(page, "Total", "$29.00")
    if offer.branded:
        header = page.get_by_role("banner")
        await expect(header).to_contain_text("Acme")
        await expect(header).to_have_css("background-color", "rgb(15, 118, 110)")
        await expect(page.get_by_role("link", name="help@acme.example")).to_be_visible()
    await shoot(page, "01-opened")

    # 2. Yearly, with the keyboard: the billing period is a radio group.
    period = page.get_by_role("group", name="Billing period")
    monthly = period.get_by_role("radio", name="Monthly")
    yearly = period.get_by_role("radio", name="Yearly")
    await expect(monthly).to_be_checked()
    await monthly.focus()
    await page.keyboard.press("ArrowRight")
    await expect(yearly).to_be_checked()
    await expect(
        page.get_by_role("radio", name=re.compile(r"^Pro .*\$290 \/ year"))
    ).to_be_checked()
    await expect_row(page, "Total", "$290.00")
    announced = page.get_by_role("complementary", name="Order summary").locator("[aria-live]")
    await expect(announced).to_have_text("Total $290.00. Due today $290.00.")

    # 3. Details and a German address: the tax line, with its rate.
    await fill_details(page, "ada@example.com", "Ada Lovelace")
    await expect_row(page, "Tax (19%)", "$55.10")
    await expect_row(page, "Total", "$345.10")
    await shoot(page, "02-details")

    # 4. A code the link does not allow: said next to the field.
    code = page.get_by_role("textbox", name="Discount code")
    await code.fill("HALFOFF")
    await page.get_by_role("button", name="Apply discount code").click()
    await expect(code).to_have_attribute("aria-invalid", "true")
    await expect(code).to_have_accessible_description(
        "This code is not accepted for this purchase."
    )
    await expect(summary_rows(page).filter(has_text="Discount")).to_have_count(0)
    await shoot(page, "03-code-refused")

    # 5. The allowed one (Enter applies it): the discount line, the tax on less.
    await code.fill("launch20")
    await code.press("Enter")
    await expect_row(page, "Discount (LAUNCH20)", "-$58.00")
    await expect_row(page, "Tax (19%)", "$44.08")
    await expect_row(page, "Total", "$276.08")
    await expect_row(page, "Due today", "$276.08")
    await expect(code).not_to_have_attribute("aria-invalid", "true")
    assert page.url.endswith(secret)
    await check_accessibility(page)
    await shoot(page, "04-discount", docs="checkout-light.png")

    # 6. The card, in Stripe.js's element (the stand-in's), from the session.
    await continue_to_payment(page)
    await expect(page.get_by_role("textbox", name="Email")).to_have_attribute("readonly", "")
    await fill_card(page, "4242424242424242")
    await shoot(page, "05-card")

    # 7. Pay; a second click while it is in flight sends nothing more.
    pay = page.get_by_role("button", name="Pay $276.08")
    await pay.dblclick()
    await page.wait_for_url(re.compile(re.escape(shop.origin + SUCCESS_PATH) + r"\?session="))
    await expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    await shoot(page, "06-paid")
    session_id = parse_qs(urlsplit(page.url).query)["session"][0]
    assert shop.thanked == [session_id]
    assert len(tab.calls(":confirm")) == 1
    assert len([r for r in tab.requests if "/v1/setup_intents/" in r.url]) == 1

    # The merchant's view: the session is completed, the payment succeeded.
    merchant_view = await merchant.client.get(f"/v1/checkout-sessions/{session_id}")
    assert merchant_view.status_code == 200, merchant_view.text
    assert merchant_view.json()["status"] == "CHECKOUT_SESSION_STATUS_COMPLETED"
    paid = await payments_of(merchant, "ada@example.com")
    assert [(p["status"], p["amount"]["amount_minor"]) for p in paid] == [
        ("PAYMENT_STATUS_SUCCEEDED", "27608")
    ]


async def test_a_declined_card_is_shown_and_another_card_pays(
    open_tab: OpenTab, served: Suite, shop: Shop, merchant: Merchant, http: httpx.AsyncClient
) -> None:
    offer = await make_offer(merchant, http, shop)
    tab = await open_tab(offer.link["url"] + f"?price_id={offer.price('INTERVAL_YEAR')}")
    page = tab.page
    # The price asked for in the URL is chosen (a pricing table's button).
    await expect(page.get_by_role("radio", name="Yearly")).to_be_checked()
    await expect_row(page, "Total", "$290.00")
    await fill_details(page, "grace@example.com", "Grace Hopper")
    await expect_row(page, "Total", "$345.10")
    await continue_to_payment(page)

    # 4000 0000 0000 0341: saved, then its first charge declined.
    await fill_card(page, "4000000000000341")
    await page.get_by_role("button", name="Pay $345.10").click()
    alert = page.get_by_role("alert").filter(has_text="declined")
    await expect(alert).to_contain_text("declined")
    await expect(alert).to_contain_text("Try another card.")
    await expect(alert).to_be_focused()
    await expect(page.get_by_role("button", name="Pay $345.10")).to_be_enabled()
    assert page.url.startswith(served.rest_url + "/checkout/session/")
    await check_accessibility(page)
    await shoot(page, "07-declined", docs="checkout-decline.png")
    statuses = [p["status"] for p in await payments_of(merchant, "grace@example.com")]
    assert "PAYMENT_STATUS_SUCCEEDED" not in statuses, statuses
    assert shop.thanked == []

    # Another card: a new SetupIntent (start-payment again), and it pays.
    assert len(tab.calls(":start-payment")) == 2
    card = page.locator(".card-field").get_by_placeholder("number")
    await card.fill("4242424242424242")
    await page.get_by_role("button", name="Pay $345.10").click()
    await page.wait_for_url(re.compile(re.escape(shop.origin + SUCCESS_PATH)))
    assert len(shop.thanked) == 1
    statuses = [p["status"] for p in await payments_of(merchant, "grace@example.com")]
    assert statuses.count("PAYMENT_STATUS_SUCCEEDED") == 1, statuses


async def test_a_card_that_asks_for_authentication_pays_once_the_customer_confirms(
    open_tab: OpenTab, served: Suite, shop: Shop, merchant: Merchant, http: httpx.AsyncClient
) -> None:
    """4000 0027 6000 3184 asks for 3-D Secure when it is saved and again
    when it is charged: the page shows Stripe.js's authentication twice (the
    stand-in's dialog), and the payment succeeds once after the second."""
    offer = await make_offer(merchant, http, shop)
    tab = await open_tab(offer.link["url"] + f"?price_id={offer.price('INTERVAL_YEAR')}")
    page = tab.page
    await fill_details(page, "katherine@example.com", "Katherine Johnson")
    await continue_to_payment(page)
    await fill_card(page, "4000002760003184")
    await page.get_by_role("button", name="Pay $345.10").click()
    authenticate = page.get_by_role("button", name="Complete authentication")
    await authenticate.click()  # saving the card
    await expect(authenticate).to_be_visible(timeout=30_000)  # the first charge
    assert "PAYMENT_STATUS_SUCCEEDED" not in [
        p["status"] for p in await payments_of(merchant, "katherine@example.com")
    ]
    await authenticate.click()
    await page.wait_for_url(re.compile(re.escape(shop.origin + SUCCESS_PATH)), timeout=30_000)
    assert len(shop.thanked) == 1
    statuses = [p["status"] for p in await payments_of(merchant, "katherine@example.com")]
    assert statuses == ["PAYMENT_STATUS_SUCCEEDED"], statuses


def pricing_page(gateway: str, slug: str, link_id: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pricing</title></head>
<body>
<billingos-pricing-table organization-id="{escape(slug)}" checkout-link="{escape(link_id)}">
</billingos-pricing-table>
<script src="{escape(gateway)}/pricing-table.js"></script>
</body></html>"""


async def test_a_pricing_table_leads_to_the_links_page_with_its_price(
    open_tab: OpenTab, served: Suite, shop: Shop, merchant: Merchant, http: httpx.AsyncClient
) -> None:
    offer = await make_offer(merchant, http, shop)
    deadline = time.monotonic() + 20
    while True:  # the public catalog follows the catalog's events
        listed = await http.get(f"/v1/public/organizations/{offer.slug}/products")
        if listed.status_code == 200 and listed.json()["products"]:
            break
        assert time.monotonic() < deadline, listed.text
        await asyncio.sleep(0.2)
    tab = await open_tab(
        shop.page("pricing", pricing_page(served.rest_url, offer.slug, offer.link["id"]))
    )
    table = tab.page.locator("billingos-pricing-table")
    await table.get_by_role("radio", name="Yearly").check()
    await table.get_by_role("button", name=re.compile(r"^Subscribe: Pro, \$290")).click()
    # The slug was resolved to the organization's id, which the link's URL needs.
    await tab.page.wait_for_url(re.compile(re.escape(served.rest_url) + r"/checkout/session/"))
    await expect(tab.page.get_by_role("radio", name="Yearly")).to_be_checked()
    await expect_row(tab.page, "Total", "$290.00")
    opened = [r.url for r in tab.requests if r.url.startswith(served.rest_url + "/checkout/")]
    assert opened[0] == (f"{offer.link['url']}?price_id={offer.price('INTERVAL_YEAR')}"), opened


async def test_an_unknown_session_or_link_says_so(
    open_tab: OpenTab, served: Suite, merchant: Merchant
) -> None:
    unknown = await open_tab(f"{served.rest_url}/checkout/session/bcx_{'A' * 43}")
    await expect(
        unknown.page.get_by_role("heading", name="This checkout was not found")
    ).to_be_visible()
    await shoot(unknown.page, "08-unknown-session")
    no_link = "01900000-0000-7000-8000-000000000000"
    gone = await open_tab(f"{served.rest_url}/checkout/{merchant.organization_id}/{no_link}")
    await expect(
        gone.page.get_by_role("heading", name="This checkout was not found")
    ).to_be_visible()
    assert gone.page.url.endswith(no_link)  # no session was opened, so no new URL
