"""The customer portal in a real browser: Debian's Chromium, driven by
Playwright (PyPI; its async API), against the end-to-end suite's gateway and
its Stripe stand-in (localstripe, whose Stripe.js draws plain inputs), from
the purchase to the cancellation.

A merchant (its API key) sells Pro, monthly or yearly, with a license-key
benefit, and Business (yearly) to change to; its checkout link leads from a
pricing table on its own site (another origin). The customer chooses yearly
there, checks out with 4242 4242 4242 4242 and lands on the success URL.
Then the portal: without a session it asks for an email address and says to
check the inbox; the sign-in link (read from the customers service's
outbox, where the merchant's webhook would get it) opens the portal, its
token exchanged for a session and gone from the address bar. The customer
sees the subscription (product, price, renewal date), previews a change to
Business (the proration lines and what is due now) and keeps Pro; sees the
order and downloads its invoice (application/pdf, %PDF-); sees the benefit
and its license key, copies it and deactivates the device the merchant's app
activated; adds a second card, makes it the default and removes the first;
sees its usage per meter; cancels (a confirm dialog) and sees "Cancels on
…", which the merchant's API confirms; resumes, changes to Business (its
preview first) and cancels that; a reload keeps the session, signing out
ends it. A second customer's card 4000 0000 0000 0341 is declined on the
checkout page, and the merchant's API shows no succeeded payment. A merchant
can hand a session over (`#session=`); once it is revoked the page is back
at signing in, and a used sign-in link says so. axe-core finds no violation
on any view.

Every request to a host other than the gateway, the stand-in and the
merchant's site is blocked and fails the test; so does any console error
but those a run causes on purpose (a refused call's 4xx, the favicon's 404)
and any CSP violation. Skipped where /usr/bin/chromium (`apt-get install
chromium`) or npm is missing, unless BILLINGOS_REQUIRE_BROWSER is set (CI).
Screenshots of each step go to tests/artifacts/portal/ (git-ignored);
BILLINGOS_UPDATE_SCREENSHOTS=1 also rewrites docs/screenshots/portal-*.png.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, Request, Response, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from billingos.common.v1 import event_pb2
from billingos.customers.v1 import events_pb2
from billingos_cli.paths import REPO_ROOT
from billingos_cli.suite import Suite

from . import test_checkout_browser as checkout_browser
from .conftest import Merchant
from .test_checkout_browser import (
    CHROMIUM,
    DOCS_SCREENSHOTS,
    REQUIRED,
    SUCCESS_PATH,
    UPDATE_SCREENSHOTS,
    Guard,
    Shop,
    brand,
    check_accessibility,
    continue_to_payment,
    created,
    fill_card,
    fill_details,
    payments_of,
    pricing_page,
)
from .test_customer_portal_rest import attach_when_known

# The checkout browser test's fixtures, used here as they are: Chromium, the
# suite that serves the front end, and the merchant's own site.
browser = checkout_browser.browser
served = checkout_browser.served
shop = checkout_browser.shop

ARTIFACTS = REPO_ROOT / "tests" / "artifacts" / "portal"
SIGN_IN_EVENT = "customer.portal_sign_in_requested"
# Console errors a run causes on purpose: a call the page expects to be
# refused (a used sign-in link's 404, a revoked session's 401) and the
# browser's own request for /favicon.ico (the gateway's JSON 404).
EXPECTED_CONSOLE = re.compile(
    r"^Failed to load resource: the server responded with a status of 40[014]"
)

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


# --- the browser -------------------------------------------------------------------


@dataclass
class Tab:
    page: Page
    requests: list[Request] = field(default_factory=list)


OpenTab = Callable[[str], Awaitable[Tab]]


@pytest.fixture
async def open_tab(browser: Browser, served: Suite, shop: Shop) -> AsyncIterator[OpenTab]:
    """Opens pages, each in a fresh context (its own sessionStorage), every
    request through the guard, the clipboard the page's to use."""
    guard = Guard(
        allowed=(
            served.rest_url + "/",
            served.stripe_api_base + "/",
            shop.origin + "/",
            "blob:" + served.rest_url + "/",  # the invoice, handed to the browser
        )
    )
    errors: list[str] = []
    contexts = []

    async def open_(url: str) -> Tab:
        context = await browser.new_context(
            locale="en-US",
            viewport={"width": 1100, "height": 900},
            device_scale_factor=1,
            accept_downloads=True,
        )
        await context.grant_permissions(
            ["clipboard-read", "clipboard-write"], origin=served.rest_url
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
    await page.mouse.move(0, 0)  # no hover effect in the picture
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if docs and UPDATE_SCREENSHOTS:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(DOCS_SCREENSHOTS / docs), full_page=True)


# --- the merchant's side ----------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    pro: dict[str, Any]
    business: dict[str, Any]
    link: dict[str, Any]
    slug: str
    branded: bool

    def price(self, interval: str) -> str:
        (found,) = [p["id"] for p in self.pro["prices"] if p["recurring"]["interval"] == interval]
        return str(found)


async def make_offer(merchant: Merchant, http: httpx.AsyncClient, shop: Shop) -> Offer:
    """Pro (monthly $29 or yearly $290, with a license key for two
    machines), Business (yearly $490, to change to), a checkout link for Pro
    to the shop's success page; once the public catalog lists both."""
    client = merchant.client
    pro = await created(
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
    business = await created(
        client,
        "/v1/products",
        {
            "name": "Business",
            "description": "For larger teams",
            "recurring": {"interval": "INTERVAL_YEAR"},
            "prices": [{"currency": "USD", "fixed": {"amount_minor": 49000}}],
        },
    )
    benefit = await created(
        client,
        "/v1/benefits",
        {
            "type": "BENEFIT_TYPE_LICENSE_KEYS",
            "key": "desktop",
            "description": "Acme Desktop on two machines",
            "license_keys": {"prefix": "acme", "activation_limit": 2},
        },
    )
    await attach_when_known(merchant, pro["id"], benefit["id"])
    link = await created(
        client,
        "/v1/checkout-links",
        {
            "product_ids": [pro["id"]],
            # A development suite allows a loopback http success URL.
            "success_url": f"{shop.origin}{SUCCESS_PATH}?session={{CHECKOUT_SESSION_ID}}",
        },
    )
    slug = (await client.get(f"/v1/organizations/{merchant.organization_id}")).json()["slug"]
    branded = await brand(merchant)
    deadline = time.monotonic() + 20
    while True:  # the public catalog follows the catalog's events
        listed = await http.get(f"/v1/public/organizations/{slug}/products")
        if listed.status_code == 200 and len(listed.json().get("products", [])) == 2:
            break
        assert time.monotonic() < deadline, listed.text
        await asyncio.sleep(0.2)
    return Offer(pro, business, link, slug, branded)


async def buy_yearly(
    open_tab: OpenTab, served: Suite, shop: Shop, offer: Offer, email: str, name: str
) -> Page:
    """From the merchant's pricing table to the checkout page, yearly, with
    the customer's details; the card form shown."""
    tab = await open_tab(
        shop.page("pricing", pricing_page(served.rest_url, offer.slug, offer.link["id"]))
    )
    page = tab.page
    table = page.locator("billingos-pricing-table")
    await table.get_by_role("radio", name="Yearly").check()
    await table.get_by_role("button", name=re.compile(r"^Subscribe: Pro, \$290")).click()
    await page.wait_for_url(re.compile(re.escape(served.rest_url) + r"/checkout/session/"))
    await expect(page.get_by_role("radio", name="Yearly")).to_be_checked()
    await fill_details(page, email, name)
    await continue_to_payment(page)
    return page


async def customer_of(merchant: Merchant, email: str) -> dict[str, Any]:
    listed = await merchant.client.get("/v1/customers", params={"email": email})
    (found,) = listed.json()["customers"]
    return dict(found)


async def eventually(
    read: Callable[[], Awaitable[httpx.Response]], done: Callable[[Any], bool]
) -> Any:
    deadline = time.monotonic() + 30
    while True:
        answer = await read()
        assert answer.status_code == 200, answer.text
        if done(answer.json()):
            return answer.json()
        assert time.monotonic() < deadline, answer.text
        await asyncio.sleep(0.2)


async def connect(suite: Suite) -> asyncpg.Connection:
    """The suite's database, waiting a moment for a free connection (a
    busy server shared with other test sessions may have none)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await asyncpg.connect(suite.database_url)
        except asyncpg.TooManyConnectionsError:
            assert time.monotonic() < deadline, "no free database connection"
            await asyncio.sleep(0.5)


async def sign_in_link(suite: Suite, organization_id: str, email: str, after: int) -> str:
    """The newest sign-in link for `email` in the customers service's outbox
    (what the merchant's webhook is sent) past outbox sequence `after`."""
    deadline = time.monotonic() + 20
    while True:
        connection = await connect(suite)
        try:
            rows = await connection.fetch(
                "SELECT envelope FROM customers.outbox_events"
                " WHERE organization_id = $1 AND event_type = $2 AND sequence > $3"
                " ORDER BY sequence DESC",
                uuid.UUID(organization_id),
                SIGN_IN_EVENT,
                after,
            )
        finally:
            await connection.close()
        for row in rows:
            envelope = event_pb2.EventEnvelope.FromString(row["envelope"])
            data = events_pb2.CustomerPortalSignInRequestedEvent()
            assert envelope.data.Unpack(data)
            if data.email == email:
                return str(data.sign_in_url)
        assert time.monotonic() < deadline, f"no sign-in link for {email}"
        await asyncio.sleep(0.2)


async def outbox_position(suite: Suite) -> int:
    connection = await connect(suite)
    try:
        found = await connection.fetchval(
            "SELECT coalesce(max(sequence), 0) FROM customers.outbox_events"
        )
    finally:
        await connection.close()
    return int(found)


# --- the portal's pages -------------------------------------------------------------


def nav(page: Page) -> Any:
    return page.get_by_role("navigation", name="Account")


async def go_to(page: Page, view: str) -> None:
    """A view by the navigation, which moves the focus to its heading."""
    await nav(page).get_by_role("link", name=view, exact=True).click()
    heading = page.get_by_role("heading", name=view, level=1)
    await expect(heading).to_be_focused()
    await expect(nav(page).get_by_role("link", name=view, exact=True)).to_have_attribute(
        "aria-current", "page"
    )


def flash(page: Page) -> Any:
    return page.locator("main .flash")


# --- the tests ---------------------------------------------------------------------


async def test_a_customer_buys_yearly_then_manages_it_in_the_portal(
    open_tab: OpenTab,
    served: Suite,
    shop: Shop,
    merchant: Merchant,
    http: httpx.AsyncClient,
) -> None:
    offer = await make_offer(merchant, http, shop)
    organization = merchant.organization_id
    portal_url = f"{served.rest_url}/portal/{organization}"

    # 1. The purchase: the pricing table, yearly, 4242, the success URL.
    checkout = await buy_yearly(open_tab, served, shop, offer, "ada@example.com", "Ada Lovelace")
    await fill_card(checkout, "4242424242424242")
    await checkout.get_by_role("button", name="Pay $290.00").click()
    await checkout.wait_for_url(re.compile(re.escape(shop.origin + SUCCESS_PATH) + r"\?session="))
    await shoot(checkout, "01-paid")
    customer = await customer_of(merchant, "ada@example.com")
    (subscription,) = (
        await merchant.client.get("/v1/subscriptions", params={"customer_id": customer["id"]})
    ).json()["subscriptions"]
    assert subscription["price_id"] == offer.price("INTERVAL_YEAR")
    keys = await eventually(
        lambda: merchant.client.get("/v1/license-keys", params={"customer_id": customer["id"]}),
        lambda body: len(body.get("license_keys", [])) == 1,
    )
    (merchants_key,) = keys["license_keys"]

    # 2. The portal without a session: an email address, then "check your email".
    tab = await open_tab(portal_url)
    page = tab.page
    await expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    if offer.branded:
        header = page.get_by_role("banner")
        await expect(header).to_contain_text("Acme")
        await expect(header).to_have_css("background-color", "rgb(15, 118, 110)")
    await check_accessibility(page)
    await shoot(page, "02-sign-in", docs="portal-sign-in.png")
    before = await outbox_position(served)
    email = page.get_by_role("textbox", name="Email")
    await email.fill("not an address")
    await page.get_by_role("button", name="Email me a sign-in link").click()
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_be_focused()
    await email.fill("ada@example.com")
    await page.get_by_role("button", name="Email me a sign-in link").click()
    sent = page.get_by_role("heading", name="Check your email")
    await expect(sent).to_be_focused()
    await expect(page.get_by_role("status").filter(has_text="ada@example.com")).to_be_visible()
    await shoot(page, "03-check-email")

    # 3. The link: its token exchanged for a session, and gone from the URL.
    link = await sign_in_link(served, organization, "ada@example.com", before)
    assert link.startswith(f"{portal_url}/sign-in#token=bcm_"), link
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Subscriptions", level=1)).to_be_visible()
    assert page.url == portal_url
    assert len([r for r in tab.requests if r.url.endswith("/portal-sign-in:exchange")]) == 1
    await expect(page.get_by_text("Signed in as ada@example.com")).to_be_visible()
    stored = await page.evaluate("JSON.stringify(window.sessionStorage)")
    assert "bcs_" in stored
    assert "bcm_" not in stored
    assert await page.evaluate("window.localStorage.length") == 0
    assert await page.evaluate("document.cookie") == ""

    # 4. The subscription: product, price, status and renewal date.
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Pro"))
    await expect(card).to_contain_text("$290.00 / year")
    await expect(card).to_contain_text("Active")
    await expect(card).to_contain_text(re.compile(r"Renews on \w+ \d{1,2}, \d{4}"))
    await check_accessibility(page)
    await shoot(page, "04-subscriptions", docs="portal-subscriptions.png")

    # 5. A change to Business, previewed (and kept back): the proration
    #    lines and what is due now, before anything is confirmed.
    await card.get_by_role("button", name="Change plan").click()
    dialog = page.get_by_role("dialog", name="Change your Pro plan")
    await expect(dialog).to_be_visible()
    plans = dialog.get_by_role("group", name="Plan")
    await expect(plans.get_by_role("radio", name=re.compile(r"^Pro"))).to_be_checked()
    await plans.get_by_role("radio", name=re.compile(r"^Business")).check()
    await dialog.get_by_role("button", name="Preview change").click()
    preview = dialog.get_by_role("region", name="Business")
    await expect(preview).to_be_visible()
    await expect(preview.locator(".row.due dt")).to_have_text("Due now")
    due_now = (await preview.locator(".row.due dd").text_content() or "").strip()
    assert re.fullmatch(r"\$[\d,]+\.\d{2}", due_now), due_now
    await expect(
        dialog.get_by_role("button", name=f"Confirm change, {due_now} due now")
    ).to_be_enabled()
    await check_accessibility(page)
    await shoot(page, "05-change-preview", docs="portal-change-plan.png")
    await dialog.get_by_role("button", name="Keep current plan").click()
    await expect(dialog).to_have_count(0)
    await expect(card.get_by_role("button", name="Change plan")).to_be_focused()
    assert not [r for r in tab.requests if r.url.endswith(":change")]

    # 6. The order, and its invoice: fetched with the token, a PDF download.
    await go_to(page, "Orders")
    row = page.get_by_role("row").filter(has_text="$290.00")
    await expect(row).to_contain_text("Paid")
    await expect(row).to_contain_text("New subscription")
    invoice_button = row.get_by_role("button", name=re.compile(r"^Download invoice \(PDF\)"))
    async with (
        page.expect_response(lambda r: r.url.endswith("/invoice")) as answered,
        page.expect_download() as downloading,
    ):
        await invoice_button.click()
    response: Response = await answered.value
    assert response.headers["content-type"].startswith("application/pdf")
    download = await downloading.value
    assert re.fullmatch(r"invoice-[\w-]+\.pdf", download.suggested_filename)
    saved = await download.path()
    assert (await asyncio.to_thread(Path(saved).read_bytes)).startswith(b"%PDF-")
    await expect(flash(page)).to_contain_text("downloaded")
    await check_accessibility(page)
    await shoot(page, "06-orders", docs="portal-orders.png")

    # 7. The benefit and its license key (the merchant's app activated it on
    #    a machine first): copied, and the machine deactivated.
    activated = await merchant.client.post(
        "/v1/license-keys/activate", json={"key": merchants_key["key"], "label": "work laptop"}
    )
    assert activated.status_code == 200, activated.text
    await go_to(page, "Benefits")
    grants = page.get_by_role("region", name="Your benefits")
    await expect(grants).to_contain_text("License key: Acme Desktop on two machines")
    await expect(grants).to_contain_text(merchants_key["key"])
    keys_shown = page.get_by_role("region", name="License keys")
    key_card = keys_shown.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name="Acme Desktop on two machines")
    )
    await expect(key_card.locator("code")).to_have_text(merchants_key["key"])
    await expect(key_card).to_contain_text("1 of 2 activations used")
    await key_card.get_by_role("button", name="Copy key").click()
    await expect(flash(page)).to_have_text("License key copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == merchants_key["key"]
    await check_accessibility(page)
    await shoot(page, "07-benefits", docs="portal-benefits.png")
    await key_card.get_by_role("button", name="Deactivate work laptop").click()
    await expect(key_card).to_contain_text("0 of 2 activations used")
    await expect(flash(page)).to_contain_text("work laptop was deactivated")
    validated = await merchant.client.post(
        "/v1/license-keys/validate",
        json={"key": merchants_key["key"], "activation_id": activated.json()["id"]},
    )
    assert validated.json()["validity"] == "LICENSE_KEY_VALIDITY_NOT_ACTIVATED"

    # 8. Cards: the checkout's, then a second one added with Stripe.js's
    #    element, made the default; the first removed.
    await go_to(page, "Payment methods")
    first = page.get_by_role("listitem").filter(has_text="Visa ending in 4242")
    await expect(first).to_contain_text("Expires 12/2034")
    await expect(first).to_contain_text("Default")
    await page.get_by_role("button", name="Add a card").click()
    await expect(page.get_by_role("heading", name="Add a card")).to_be_focused()
    await fill_card(page, "5555555555554444")
    await page.get_by_role("button", name="Save card").click()
    await expect(flash(page)).to_have_text("Your card is saved.")
    second = page.get_by_role("listitem").filter(has_text="ending in 4444")
    await expect(second).to_be_visible()
    await second.get_by_role("button", name="Make default").click()
    await expect(flash(page)).to_contain_text("ending in 4444 is now your default card.")
    await expect(second).to_contain_text("Default")
    await check_accessibility(page)
    await shoot(page, "08-payment-methods", docs="portal-payment-methods.png")
    await first.get_by_role("button", name="Remove").click()
    remove = page.get_by_role("dialog", name="Remove Visa ending in 4242?")
    await expect(remove.get_by_role("button", name="Keep card")).to_be_focused()
    await remove.get_by_role("button", name="Remove card").click()
    await expect(flash(page)).to_have_text("Visa ending in 4242 was removed.")
    await expect(page.get_by_role("listitem").filter(has_text="ending in 4242")).to_have_count(0)
    methods = (await merchant.client.get(f"/v1/customers/{customer['id']}/payment-methods")).json()[
        "payment_methods"
    ]
    attached = [m for m in methods if not m.get("detach_time")]
    assert [(m["last4"], m["is_default"]) for m in attached] == [("4444", True)], methods

    # 9. Usage per meter.
    await created(
        merchant.client,
        "/v1/meters",
        {
            "name": "API calls",
            "filter": {
                "conjunction": "FILTER_CONJUNCTION_AND",
                "clauses": [
                    {
                        "condition": {
                            "property": "name",
                            "operator": "FILTER_OPERATOR_EQ",
                            "string_value": "api_call",
                        }
                    }
                ],
            },
            "aggregation": {"function": "AGGREGATION_FUNCTION_COUNT"},
        },
    )
    ingested = await merchant.client.post(
        "/v1/events/ingest",
        json={"events": [{"name": "api_call", "customer_id": customer["id"]}] * 3},
    )
    assert ingested.status_code == 200, ingested.text
    await go_to(page, "Usage")
    usage = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="API calls"))
    deadline = time.monotonic() + 20
    while not await usage.count():  # the balance worker counts them within moments
        assert time.monotonic() < deadline, "no usage shown"
        await go_to(page, "Orders")
        await go_to(page, "Usage")
    await expect(usage.get_by_role("cell").first).to_have_text("3")
    await check_accessibility(page)
    await shoot(page, "09-usage", docs="portal-usage.png")

    # 10. Cancel, at the period's end, confirmed in a dialog.
    await go_to(page, "Subscriptions")
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Pro"))
    await card.get_by_role("button", name="Cancel subscription").click()
    confirm = page.get_by_role("dialog", name="Cancel your Pro subscription?")
    await expect(confirm.get_by_role("button", name="Keep subscription")).to_be_focused()
    await page.keyboard.press("Escape")  # Escape keeps it
    await expect(confirm).to_have_count(0)
    await expect(card.get_by_role("button", name="Cancel subscription")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(confirm).to_be_visible()
    await confirm.get_by_role("textbox", name=re.compile("Why are you canceling")).fill(
        "Trying something else"
    )
    await check_accessibility(page)
    await shoot(page, "10-cancel", docs="portal-cancel.png")
    await confirm.get_by_role("button", name="Cancel subscription").click()
    await expect(confirm).to_have_count(0)
    await expect(card).to_contain_text(re.compile(r"Cancels on \w+ \d{1,2}, \d{4}"))
    await expect(card).to_contain_text("Canceling")
    await expect(flash(page)).to_contain_text("Your Pro cancels on")
    await expect(card.get_by_role("button", name="Resume subscription")).to_be_visible()
    await expect(card.get_by_role("button", name="Cancel subscription")).to_have_count(0)
    await shoot(page, "11-canceled")
    after = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert after["cancel_at_period_end"] is True, after
    assert after["status"] == "SUBSCRIPTION_STATUS_ACTIVE"

    # 11. Resumed; then changed to Business (previewed, confirmed), and
    #     that canceled.
    await card.get_by_role("button", name="Resume subscription").click()
    await expect(card).to_contain_text(re.compile(r"Renews on \w+ \d{1,2}, \d{4}"))
    await expect(flash(page)).to_contain_text("Your Pro continues.")
    await expect(card.get_by_role("heading", name="Pro")).to_be_focused()
    resumed = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert resumed["cancel_at_period_end"] is False, resumed
    await card.get_by_role("button", name="Change plan").click()
    dialog = page.get_by_role("dialog", name="Change your Pro plan")
    await dialog.get_by_role("radio", name=re.compile(r"^Business")).check()
    await dialog.get_by_role("button", name="Preview change").click()
    await dialog.get_by_role("button", name=re.compile(r"^Confirm change, ")).click()
    await expect(dialog).to_have_count(0)
    await expect(flash(page)).to_have_text("Your plan is now Business: $490.00 / year.")
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Business"))
    await expect(card).to_contain_text("$490.00 / year")
    (business_price,) = offer.business["prices"]
    changed = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert changed["price_id"] == business_price["id"], changed
    await card.get_by_role("button", name="Cancel subscription").click()
    confirm = page.get_by_role("dialog", name="Cancel your Business subscription?")
    await confirm.get_by_role("button", name="Cancel subscription").click()
    await expect(card).to_contain_text(re.compile(r"Cancels on \w+ \d{1,2}, \d{4}"))
    await shoot(page, "12-changed-and-canceled")
    after = (await merchant.client.get(f"/v1/subscriptions/{subscription['id']}")).json()
    assert after["cancel_at_period_end"] is True, after

    # 12. A reload keeps the session (the tab's sessionStorage); signing
    #     out ends it.
    await page.reload()
    await expect(page.get_by_text("Signed in as ada@example.com")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_focused()
    await expect(page.get_by_role("alert")).to_have_text("You are signed out.")
    assert await page.evaluate("window.sessionStorage.length") == 0

    # A used link signs nobody in, and says so.
    again = await open_tab(link)
    await expect(again.page.get_by_role("alert")).to_contain_text(
        "This sign-in link has expired or was already used."
    )
    assert again.page.url == portal_url


async def test_a_declined_card_is_shown_on_the_checkout_page(
    open_tab: OpenTab,
    served: Suite,
    shop: Shop,
    merchant: Merchant,
    http: httpx.AsyncClient,
) -> None:
    offer = await make_offer(merchant, http, shop)
    page = await buy_yearly(open_tab, served, shop, offer, "grace@example.com", "Grace Hopper")
    await fill_card(page, "4000000000000341")  # saved, then its charge declined
    await page.get_by_role("button", name="Pay $290.00").click()
    alert = page.get_by_role("alert").filter(has_text="declined")
    await expect(alert).to_contain_text("Try another card.")
    await expect(alert).to_be_focused()
    assert page.url.startswith(served.rest_url + "/checkout/session/")
    await shoot(page, "13-declined")
    statuses = [p["status"] for p in await payments_of(merchant, "grace@example.com")]
    assert "PAYMENT_STATUS_SUCCEEDED" not in statuses, statuses
    assert shop.thanked == []


async def test_a_merchant_hands_a_session_over_until_it_is_revoked(
    open_tab: OpenTab,
    served: Suite,
    merchant: Merchant,
) -> None:
    customer = await created(
        merchant.client, "/v1/customers", {"email": "lin@example.com", "name": "Lin"}
    )
    session = await created(
        merchant.client, "/v1/customer-sessions", {"customer_id": customer["id"]}
    )
    portal_url = f"{served.rest_url}/portal/{merchant.organization_id}"
    tab = await open_tab(f"{portal_url}?view=orders#session={session['token']}")
    page = tab.page
    await expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()
    assert page.url == f"{portal_url}?view=orders"
    await expect(page.get_by_text("You have no orders yet.")).to_be_visible()
    await expect(page.get_by_text("Signed in as lin@example.com")).to_be_visible()
    await go_to(page, "Subscriptions")
    await expect(page.get_by_text("You have no subscriptions.")).to_be_visible()
    await page.go_back()  # the views are in the history
    await expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()

    # Revoked: the next call's 401 brings the sign-in form back (the
    # services' cache holds a session for up to 5 s).
    deleted = await merchant.client.delete(f"/v1/customer-sessions/{session['id']}")
    assert deleted.status_code == 200, deleted.text
    signed_out = page.get_by_role("heading", name="Sign in", level=1)
    deadline = time.monotonic() + 15
    while not await signed_out.count():
        assert time.monotonic() < deadline, "the revoked session still works"
        view = "Usage" if "view=usage" not in page.url else "Benefits"
        try:
            await nav(page).get_by_role("link", name=view, exact=True).click(timeout=2000)
        except PlaywrightTimeoutError:
            continue  # signed out meanwhile: no navigation any more
        await asyncio.sleep(0.5)
    await expect(page.get_by_role("alert")).to_contain_text("Your session has ended.")
    assert await page.evaluate("window.sessionStorage.length") == 0
    await check_accessibility(page)
