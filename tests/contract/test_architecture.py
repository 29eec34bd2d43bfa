"""Guardrails that fail the build: services meet only through protos (no
service imports another, the kit imports none), and the tests of one service
do not use another's code. The contracts list every registered service."""

from __future__ import annotations

import ast
import subprocess
import tomllib

import pytest

from billingos_cli.paths import REPO_ROOT
from billingos_cli.services import SERVICES
from billingos_kit.local import venv_binary

pytestmark = pytest.mark.contract


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(venv_binary("lint-imports")), "--config", "pyproject.toml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_contracts_name_every_registered_service() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    modules = {spec.module for spec in SERVICES}
    assert modules <= set(config["root_packages"])
    (independence,) = [c for c in config["contracts"] if c["type"] == "independence"]
    assert set(independence["modules"]) == modules
    forbidden = [c for c in config["contracts"] if c["type"] == "forbidden"]
    kit_rule = next(c for c in forbidden if "billingos_kit" in c["source_modules"])
    assert modules <= set(kit_rule["forbidden_modules"])


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_a_services_tests_use_no_other_services_code(spec: object) -> None:
    own = getattr(spec, "module")  # noqa: B009
    others = {s.module for s in SERVICES} - {own}
    tests = REPO_ROOT / "services" / getattr(spec, "name") / "tests"  # noqa: B009
    found = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                f"{path.relative_to(REPO_ROOT)}: {name}"
                for name in names
                if name.split(".")[0] in others
            ]
    assert found == [], "a service's tests import another service: " + ", ".join(found)
