"""The README's SDK examples, run as written against the suite: the
TypeScript one with node against the built `@billingos/sdk`, the Python one
with this virtualenv's `billingos_sdk`, each as its own merchant (both make
the customer `user_123`). A README example that no longer runs fails here,
not in a merchant's first five minutes."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from billingos_cli.suite import Suite

from .conftest import Merchant
from .test_sdk_typescript import NODE, NPM, SDK, _env, _prepare

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## SDKs"
TIMEOUT_SECONDS = 120


def _example(language: str) -> str:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    blocks = re.findall(rf"```{language}\n(.*?)```", text[start:end], flags=re.DOTALL)
    assert len(blocks) == 1, f"the README's {SECTION} section has {len(blocks)} {language} blocks"
    return str(blocks[0])


def _environment(suite: Suite, merchant: Merchant) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("BILLINGOS_")},
        "BILLINGOS_URL": suite.rest_url,
        "BILLINGOS_API_KEY": merchant.api_key,
        "BILLINGOS_ORGANIZATION_ID": merchant.organization_id,
    }


def test_readme_sdk_section_names_no_hosted_server() -> None:
    """BillingOS is self-hosted: the examples point at the merchant's own
    suite (BILLINGOS_URL), never at a host the project does not control."""
    text = README.read_text()
    section = text[text.index(SECTION) : text.index("\n## ", text.index(SECTION) + len(SECTION))]
    assert "billingos.dev" not in section.replace("@billingos", "")
    assert "BILLINGOS_SANDBOX_URL" in section
    # `server: 'sandbox'` would need BILLINGOS_SANDBOX_URL, which `./billingos up`
    # does not write: the example uses BILLINGOS_URL, as the suite's env file has it.
    constructed = re.search(r"new BillingOS\(\{(.*?)\}\)", _example("ts"), flags=re.DOTALL)
    assert constructed is not None
    assert "server" not in constructed.group(1)


async def _made_user_123(merchant: Merchant) -> None:
    found = await merchant.client.get("/v1/customers/external/user_123")
    assert found.status_code == 200, found.text
    assert found.json()["email"] == "ada@example.com"


async def test_readme_python_example_runs(suite: Suite, merchant: Merchant) -> None:
    ran = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _example("python")],
        env=_environment(suite, merchant),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    await _made_user_123(merchant)


@pytest.mark.skipif(NODE is None or NPM is None, reason="the TypeScript example needs node and npm")
async def test_readme_typescript_example_runs(
    suite: Suite, merchant: Merchant, tmp_path: Path
) -> None:
    assert NODE is not None
    assert NPM is not None
    await asyncio.to_thread(_prepare, NPM, _env())
    # Inside the package, so `@billingos/sdk` resolves to it by its own name;
    # the example has no type annotations, so node runs it as it is.
    script = SDK / "build" / "readme-example.mjs"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(_example("ts"))
    ran = await asyncio.to_thread(
        subprocess.run,
        [NODE, str(script)],
        cwd=SDK,
        env=_environment(suite, merchant),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "granted on the first page" in ran.stdout
    await _made_user_123(merchant)
