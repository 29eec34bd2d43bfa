"""The TypeScript SDK (sdks/typescript, `@billingos/sdk`) against the real
suite: its generated types are current with the OpenAPI document, it builds
and type-checks (tsc, strict), and its node tests pass, the unit tests
against a local HTTP server and the integration tests against this suite's
gateway, as two merchants' organizations.

Skips when node or npm is not on PATH. `npm ci` runs only when node_modules
is missing or package-lock.json changed since it last ran."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from billingos_cli.suite import Suite

from .conftest import Merchant

NODE, NPM = shutil.which("node"), shutil.which("npm")

pytestmark = [
    pytest.mark.e2e,
    # Checked before the suite starts, so a machine without Node skips at once.
    pytest.mark.skipif(
        NODE is None or NPM is None,
        reason="the TypeScript SDK's tests need node and npm on PATH (Node 20 or later)",
    ),
]

SDK = Path(__file__).resolve().parents[2] / "sdks" / "typescript"
LOCK_STAMP = SDK / "node_modules" / ".billingos-lock.sha256"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLINGOS_")}
    env.update(NPM_CONFIG_UPDATE_NOTIFIER="false", NPM_CONFIG_FUND="false", NO_COLOR="1")
    return env


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        args, cwd=SDK, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        print(output)
        command = " ".join([Path(args[0]).name, *args[1:]])
        pytest.fail(
            f"`{command}` failed (exit {done.returncode}) in sdks/typescript:\n{output[-6000:]}"
        )
    return output


def _prepare(npm: str, env: dict[str, str]) -> None:
    lock = hashlib.sha256((SDK / "package-lock.json").read_bytes()).hexdigest()
    stamp = LOCK_STAMP.read_text().strip() if LOCK_STAMP.exists() else ""
    if stamp != lock:
        _run([npm, "ci", "--no-audit", "--no-fund"], env, timeout=300)
        LOCK_STAMP.write_text(lock + "\n")
    _run([npm, "run", "--silent", "check-generated"], env)
    _run([npm, "run", "--silent", "build"], env)
    # Type-checks the tests (strict; no output on an error) and compiles them.
    _run([npm, "run", "--silent", "build-tests"], env)


async def test_typescript_sdk(suite: Suite, merchant: Merchant, other_merchant: Merchant) -> None:
    assert NODE is not None
    assert NPM is not None
    node, npm = NODE, NPM
    env = _env()
    await asyncio.to_thread(_prepare, npm, env)
    env.update(
        BILLINGOS_URL=suite.rest_url,
        BILLINGOS_ACCESS_TOKEN=merchant.api_key,
        BILLINGOS_ORGANIZATION_ID=merchant.organization_id,
        BILLINGOS_OTHER_ORGANIZATION_ID=other_merchant.organization_id,
    )
    output = await asyncio.to_thread(
        _run,
        [node, "--test", "--test-reporter=spec", "build/test/unit/", "build/test/integration/"],
        env,
    )
    print(output)
    # node reports a skipped suite as neither passed nor skipped: look for its reason.
    assert "integration tests need a running suite" not in output, output[-3000:]
    assert "ℹ fail 0" in output, output[-3000:]
