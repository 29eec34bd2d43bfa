"""`./billingos new-service NAME` yields a service that starts, migrates,
answers health and passes the contract tests, in a clone of this repository
(nothing here is touched)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from billingos_cli.paths import REPO_ROOT
from billingos_cli.scaffold import new_service
from billingos_kit.local import venv_binary

pytestmark = pytest.mark.contract

NAME = "ledger"


def run(clone: Path, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """A command in the clone, its packages first on the path (the venv's
    editable installs point at this checkout)."""
    sources = [clone / "gen" / "python", clone / "kit" / "src", clone / "pricing" / "src"]
    sources += [clone / "cli" / "src", *sorted((clone / "services").glob("*/src"))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in sources)}
    return subprocess.run(
        command, cwd=clone, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("scaffold") / "billingos"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(target)], check=True
    )
    new_service(target, NAME, lock=False)
    uv = str(venv_binary("uv"))
    locked = run(target, uv, "lock", "--offline")
    if locked.returncode != 0:
        locked = run(target, uv, "lock")
    assert locked.returncode == 0, locked.stderr
    generated = run(target, sys.executable, "-m", "billingos_cli", "gen")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    return target


def test_the_new_service_is_registered_and_wired_in(clone: Path) -> None:
    assert f'name = "{NAME}"' in (clone / "services.toml").read_text()
    pyproject = (clone / "pyproject.toml").read_text()
    assert f'"billingos-{NAME}"' in pyproject
    assert f"services/{NAME}/src" in pyproject
    assert (clone / "deploy" / "base" / "services" / NAME / "deployment.yaml").exists()
    assert (clone / "protos" / "billingos" / NAME / "v1" / f"{NAME}.proto").exists()
    with pytest.raises(ValueError, match="exists already"):
        new_service(clone, NAME, lock=False)


def test_it_starts_migrates_answers_health_and_passes_the_contract_tests(clone: Path) -> None:
    result = run(
        clone,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"services/{NAME}/tests",
        "tests/contract/test_registry.py",
        "tests/contract/test_architecture.py",
        "tests/contract/test_protos.py",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


@pytest.mark.parametrize("name", ["ab", "Ledger", "9lives", "has-dash"])
def test_a_bad_name_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "services.toml").write_text("")
    with pytest.raises(ValueError, match="lowercase"):
        new_service(tmp_path, name, lock=False)


@pytest.mark.parametrize("name", ["common", "state", "unrouted", "gateway", "nats", "pricing"])
def test_a_reserved_name_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "services.toml").write_text("")
    with pytest.raises(ValueError, match="reserved"):
        new_service(tmp_path, name, lock=False)
