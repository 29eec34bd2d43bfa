"""The running suite held to the OpenAPI document its gateway serves, by
schemathesis: requests generated from every operation's schema (valid and
invalid, by its coverage, fuzzing and stateful phases), and every answer
checked — no 5xx, every body and header as the document describes it, the
content type it declares, nothing still readable after its delete.

Why a subprocess of schemathesis's CLI: it runs its phases with its own
engine and reports every failure with a curl line to reproduce it; the test
only has to fail with that report. Deterministic generation, so a failure
here fails the same way on the next run.

Two checks of schemathesis's are left out, for reasons of the API's design:
`positive_data_acceptance` (schema-valid data rejected: the services' rules —
an existing customer id, a currency the price has — are more than a schema
can say) and `negative_data_rejection` / `unsupported_method` /
`missing_required_header` (proto3 JSON takes an enum's number where the
document lists its names; Envoy's transcoder answers a body it cannot parse
with 400 before any service checks the key, and an unknown method on a known
path with 404 or 400, not 405). And `ignored_auth`: it calls without the key,
and the services throttle an address's failed key checks (30 a minute, then
every call from it is refused, valid key or not): the rest of the run, and
the tests after it, would then see 429s (a call's credential is tested
route by route in test_gateway_hardening.py and test_scopes_rest.py).
A run that was rate limited anyway would check little, so the test fails
on schemathesis's "Rate limited" warning too, and on "Authentication failed"
(an operation that answered only 401/403: its checks saw no real answer).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "use_after_free",
    )
)
MAX_EXAMPLES = 5
PORTAL_PATHS = "^/v1/customer-portal/"
# Revoking an API key with that key: the rest of the run would be 401s (then
# 429s, the failed checks throttled). test_customers_rest.py covers revoking.
OWN_KEY_REVOCATION = "^/v1/api-keys/[^/]+:revoke$"
TIMEOUT_SECONDS = 600


def _schemathesis(
    rest_url: str, token: str, workdir: Path, *selection: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{rest_url}/openapi.json",
            "--url",
            rest_url,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--generation-deterministic",
            # Every call carries the credential given: schemathesis's own
            # made-up or missing ones would be failed key checks, which the
            # services throttle per address (see above).
            "--generation-with-security-parameters",
            "false",
            "--no-color",
            *selection,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
        cwd=workdir,  # where it keeps its state (.schemathesis/), not the repository
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
    )


def _report(run: subprocess.CompletedProcess[str]) -> str:
    return f"schemathesis exited {run.returncode}\n{run.stdout[-20_000:]}\n{run.stderr[-5_000:]}"


async def test_every_api_key_route_answers_as_the_document_says(
    suite, merchant, tmp_path: Path
) -> None:
    run = _schemathesis(
        suite.rest_url,
        merchant.api_key,
        tmp_path,
        "--exclude-path-regex",
        f"{PORTAL_PATHS}|{OWN_KEY_REVOCATION}",
    )
    assert run.returncode == 0, _report(run)
    assert "passed" in run.stdout, _report(run)
    assert "Rate limited" not in run.stdout, _report(run)
    assert "Authentication failed" not in run.stdout, _report(run)  # the credential works


async def test_every_portal_route_answers_as_the_document_says(
    suite, merchant, tmp_path: Path
) -> None:
    customer = await merchant.client.post("/v1/customers", json={"email": "portal@example.com"})
    assert customer.status_code == 200, customer.text
    session = await merchant.client.post(
        "/v1/customer-sessions", json={"customer_id": customer.json()["id"]}
    )
    assert session.status_code == 200, session.text
    token = session.json()["token"]
    # The token works there, so the checks see real answers, not only 401s.
    own = await merchant.client.get(
        "/v1/customer-portal/customer", headers={"Authorization": f"Bearer {token}"}
    )
    assert own.status_code == 200, own.text

    run = _schemathesis(suite.rest_url, token, tmp_path, "--include-path-regex", PORTAL_PATHS)
    assert run.returncode == 0, _report(run)
    assert "passed" in run.stdout, _report(run)
    assert "Rate limited" not in run.stdout, _report(run)
    assert "Authentication failed" not in run.stdout, _report(run)  # the credential works
