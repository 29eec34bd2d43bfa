"""The front end's npm packages: `web/` (the element the gateway serves at
/pricing-table.js, the hosted checkout page and the customer portal)
type-checks strictly, builds and passes its unit tests (amounts, the
monthly/yearly rules, checkout URLs, the checkout page's and the portal's
logic); `sdks/pricing-table-react`
(`@billingos/pricing-table`) builds with tsc and passes its server-rendering
tests; the element scales amounts by the same minor units as the catalog,
and the checkout page offers the countries the services accept. Each npm
test is skipped where npm is missing, unless CI's
BILLINGOS_REQUIRE_STUB_TOOLCHAINS makes that a failure; the browser tests
are tests/e2e/test_pricing_table_browser.py, test_checkout_browser.py and
test_portal_browser.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from billingos_cli.node import ensure_installed
from billingos_cli.paths import REPO_ROOT, WEB_DIR, WEB_DIST
from billingos_cli.stubgen import REQUIRE_TOOLCHAINS_ENV, toolchains_required
from billingos_cli.web import built_files, ensure_built, source_digest
from billingos_kit.countries import COUNTRY_CODES
from billingos_pricing.currencies import MINOR_UNIT_EXPONENTS

pytestmark = pytest.mark.contract

REACT_PACKAGE = REPO_ROOT / "sdks" / "pricing-table-react"
CURRENCIES_TS = WEB_DIR / "src" / "shared" / "currencies.ts"
COUNTRIES_TS = WEB_DIR / "src" / "checkout" / "countries.ts"
TIMEOUT_SECONDS = 300


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        why = "npm is not on PATH (install Node.js 20.19 or later)"
        if toolchains_required():
            pytest.fail(f"{REQUIRE_TOOLCHAINS_ENV} is set, and {why}")
        pytest.skip(why)
    return npm


def _run(npm: str, package: Path, script: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLINGOS_")}
    env.update(NO_COLOR="1", NPM_CONFIG_UPDATE_NOTIFIER="false", NPM_CONFIG_FUND="false")
    done = subprocess.run(
        [npm, "run", "--silent", script],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"`npm run {script}` in {package.name}:\n{output[-6000:]}"
    return output


def _codes(name: str) -> set[str]:
    found = re.search(rf"const {name} = '([A-Z ]+)';", CURRENCIES_TS.read_text())
    assert found is not None, f"{CURRENCIES_TS}: no {name}"
    return set(found.group(1).split())


def test_the_element_scales_amounts_as_the_catalog_does() -> None:
    """web/'s table is a copy of billingos_pricing's (a browser has no
    Python); every code not in it is 2 there, as in the catalog."""
    zero = {code for code, exponent in MINOR_UNIT_EXPONENTS.items() if exponent == 0}
    three = {code for code, exponent in MINOR_UNIT_EXPONENTS.items() if exponent == 3}
    assert _codes("ZERO_DECIMAL") == zero
    assert _codes("THREE_DECIMAL") == three
    assert set(MINOR_UNIT_EXPONENTS.values()) == {0, 2, 3}


def test_the_checkout_page_offers_the_countries_the_services_accept() -> None:
    """web/'s list is a copy of billingos_kit.countries (what an address's
    country is checked against)."""
    found = re.search(r"const CODES = `([A-Z\s]+)`;", COUNTRIES_TS.read_text())
    assert found is not None, f"{COUNTRIES_TS}: no CODES"
    codes = found.group(1).split()
    assert len(codes) == len(set(codes))
    assert set(codes) == COUNTRY_CODES


def test_web_builds_and_its_unit_tests_pass() -> None:
    npm = _npm()
    why = ensure_built(WEB_DIR)
    assert why is None, why
    routes = [route for route, _ in built_files(WEB_DIST)]
    assert "/pricing-table.js" in routes
    assert [r for r in routes if re.fullmatch(r"/assets/pricing-table-[0-9a-f]{16}\.js", r)]
    script = (WEB_DIST / "pricing-table.js").read_text()
    # A classic script: no module syntax, nothing fetched from elsewhere.
    assert not re.search(r"^\s*(import|export)\s", script, re.MULTILINE)
    assert not re.search(r"https?://(?!www\.w3\.org/)", script), "the element names a host"
    # The checkout page: its shell (served at the page's paths, not its
    # own) loads a hashed script and stylesheet, relatively, nothing inline.
    # The customer portal: the same, with a shell for each depth of its
    # paths (/portal/{id} two segments, /portal/{id}/sign-in three).
    pages = {path.name: path for _, path in built_files(WEB_DIST) if path.parent.name == "pages"}
    assert sorted(pages) == ["checkout.html", "portal-sign-in.html", "portal.html"]
    for name, up, stem in (
        ("checkout.html", "../../", "checkout"),
        ("portal.html", "../", "portal"),
        ("portal-sign-in.html", "../../", "portal"),
    ):
        shell = pages[name].read_text()
        prefix = re.escape(up + "assets/")
        (script_name,) = re.findall(f'<script defer src="{prefix}([^"]+)"></script>', shell)
        (style_name,) = re.findall(f'<link rel="stylesheet" href="{prefix}([^"]+)">', shell)
        assert re.fullmatch(rf"{stem}-[0-9a-f]{{16}}\.js", script_name), script_name
        assert re.fullmatch(rf"{stem}-[0-9a-f]{{16}}\.css", style_name), style_name
        assert f"/assets/{script_name}" in routes
        assert f"/assets/{style_name}" in routes
        assert shell.count("<script") == 1
        assert "<style" not in shell
        assert " style=" not in shell
        page_script = (WEB_DIST / "assets" / script_name).read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/)", page_script), f"{name} names a host"
    # The portal's two shells load the same files.
    strip = re.compile(r"\.\./")
    assert strip.sub("", pages["portal.html"].read_text()) == strip.sub(
        "", pages["portal-sign-in.html"].read_text()
    )
    _run(npm, WEB_DIR, "test")


def test_the_build_stamp_follows_the_sources(tmp_path: Path) -> None:
    """`./billingos up` rebuilds when a source or the lock changes, and only then."""
    copy = tmp_path / "web"
    shutil.copytree(WEB_DIR, copy, ignore=shutil.ignore_patterns("node_modules", "dist", "build"))
    before = source_digest(copy)
    assert source_digest(copy) == before
    (copy / "src" / "pricing-table" / "view.tsx").write_text("// changed\n", encoding="utf-8")
    assert source_digest(copy) != before
    changed = source_digest(copy)
    (copy / "package-lock.json").write_text("{}", encoding="utf-8")
    locked = source_digest(copy)
    assert locked != changed
    (copy / "notes.md").write_text("not a build input", encoding="utf-8")
    assert source_digest(copy) == locked


def test_the_react_wrapper_builds_and_renders() -> None:
    npm = _npm()
    why = ensure_installed(REACT_PACKAGE)
    assert why is None, why
    output = _run(npm, REACT_PACKAGE, "test")
    assert re.search(r"^# fail 0$", output, re.MULTILINE), output[-3000:]
    declarations = (REACT_PACKAGE / "dist" / "index.d.ts").read_text()
    for name in ("PricingTableProps", "CheckoutDetail", "loadPricingTable", "PricingTable"):
        assert name in declarations, name
