"""The TypeScript SDK (sdks/typescript, `@billingos/sdk`) against the real
suite: its generated types are current with the OpenAPI document, it builds
and type-checks (tsc, strict), and its node tests pass, the unit tests
against a local HTTP server and the integration tests against this suite's
gateway, as two merchants' organizations and a third in development mode
(whose webhook endpoint is a receiver the test runs on this machine).

Skips when node or npm is not on PATH. `npm ci` runs only when node_modules
is missing or package-lock.json changed since it last ran."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from billingos_cli.admin import create_organization
from billingos_cli.node import ensure_installed
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
    why = ensure_installed(SDK)  # the locked tree, no install scripts; once per lock
    if why is not None:
        pytest.fail(f"the TypeScript SDK's dependencies: {why}")
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
    development = create_organization(
        suite.grpc_addresses["customers"],
        suite.options.service_token,
        "SDK Devshop (TypeScript)",
        development=True,
    )
    env.update(
        BILLINGOS_URL=suite.rest_url,
        BILLINGOS_API_KEY=merchant.api_key,
        BILLINGOS_ORGANIZATION_ID=merchant.organization_id,
        BILLINGOS_OTHER_ORGANIZATION_ID=other_merchant.organization_id,
        BILLINGOS_DEVELOPMENT_API_KEY=development.api_key,
        BILLINGOS_DEVELOPMENT_ORGANIZATION_ID=development.organization_id,
    )
    # An explicit file list (scripts/test.mjs makes it from test/**/*.test.ts):
    # Node 21+ would take a bare directory as a glob and find nothing.
    output = await asyncio.to_thread(
        _run,
        [node, "scripts/test.mjs", "--test-reporter=spec", "test/unit", "test/integration"],
        env,
    )
    print(output)
    # node reports a skipped suite as neither passed nor skipped: look for its reason.
    assert "integration tests need a running suite" not in output, output[-3000:]
    assert "webhook endpoint tests need" not in output, output[-3000:]
    assert "ℹ fail 0" in output, output[-3000:]


def _package() -> dict[str, object]:
    loaded: dict[str, object] = json.loads((SDK / "package.json").read_text())
    return loaded


def test_test_scripts_name_files_not_directories() -> None:
    """`node --test some/dir/` runs the directory's tests on Node 20 but fails
    on Node 21+ (each argument is a glob there), and `**` globs fail on Node
    20: the scripts go through scripts/test.mjs, which passes files."""
    scripts = _package()["scripts"]
    assert isinstance(scripts, dict)
    for name, command in scripts.items():
        for part in str(command).split("&&"):
            words = part.split()
            if words[:2] == ["node", "--test"]:
                for word in words[2:]:
                    if not word.startswith("-"):
                        assert (SDK / word).is_file(), f"`{name}` passes {word!r} to node --test"
    assert "node scripts/test.mjs test/unit test/integration" in str(scripts["test"])
    assert NODE is not None
    listed = subprocess.run(
        [NODE, "scripts/test.mjs", "--list", "test/unit", "test/integration"],
        cwd=SDK,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    sources = sorted((SDK / "test").rglob("*.test.ts"))
    if listed.returncode != 0:  # not compiled yet
        assert "npm run build-tests" in listed.stderr, listed.stderr
        return
    files = listed.stdout.split()
    assert len(files) == len(sources) >= 6
    assert all(f.startswith("build/test/") and f.endswith(".test.js") for f in files), files
    assert all((SDK / f).is_file() for f in files)


def test_engines_and_license() -> None:
    """AbortSignal.any (the timeout joined with the caller's signal) is in Node
    20.3 and later; the published package carries the Apache-2.0 text."""
    package = _package()
    assert package["engines"] == {"node": ">=20.3"}
    lock = json.loads((SDK / "package-lock.json").read_text())
    assert lock["packages"][""]["engines"] == {"node": ">=20.3"}
    files = package["files"]
    assert isinstance(files, list)
    assert "LICENSE" in files
    assert package["license"] == "Apache-2.0"
    root_license = (SDK.parents[1] / "LICENSE").read_text()
    assert (SDK / "LICENSE").read_text() == root_license
    assert "Apache License" in root_license
