"""`./billingos new-service NAME`: a new context in the one shape every service
has, registered and wired in, that starts, migrates, answers health and passes
the contract tests before a line of domain code is written.

It writes `services/<name>/` (settings, app, models with the kit tables,
migrations, a README, a first test), the proto package `protos/billingos/
<name>/v1/`, the registry entry (`services.toml`) and the workspace entries of
`pyproject.toml`, then locks the workspace. Run `./billingos gen` after it:
the manifests in `deploy/` follow from the registry.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from billingos_cli.services import RESERVED_NAMES

# The registry's rule (services.py), shorter: a name is also a Python package
# and an environment-variable part, where a one-letter name reads badly.
NAME = re.compile(r"[a-z][a-z0-9]{2,30}")


@dataclass(frozen=True)
class NewService:
    name: str
    port: int

    @property
    def module(self) -> str:
        return f"billingos_{self.name}"

    @property
    def title(self) -> str:
        return self.name.capitalize()


def new_service(root: Path, name: str, *, lock: bool = True) -> list[Path]:
    """Creates the service; returns the files written. Refuses a name taken
    or not of lowercase letters and digits (3-31, a letter first)."""
    if not NAME.fullmatch(name):
        raise ValueError(f"{name!r}: use 3-31 lowercase letters and digits, a letter first")
    if name in RESERVED_NAMES:
        raise ValueError(f"{name!r} is reserved: {', '.join(sorted(RESERVED_NAMES))}")
    registry = tomllib.loads((root / "services.toml").read_text())
    entries = registry.get("service", [])
    if any(entry["name"] == name for entry in entries) or (root / "services" / name).exists():
        raise ValueError(f"{name!r} exists already")
    service = NewService(name, max((int(e["port"]) for e in entries), default=50060) + 1)
    written = [_write(root / path, text) for path, text in _files(service).items()]
    _register(root / "services.toml", service)
    _add_to_workspace(root / "pyproject.toml", service)
    if lock:
        subprocess.run([str(root / ".venv" / "bin" / "uv"), "lock"], cwd=root, check=True)
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _register(registry: Path, service: NewService) -> None:
    text = registry.read_text().rstrip("\n")
    registry.write_text(
        f'{text}\n\n[[service]]\nname = "{service.name}"\npackage = "billingos.{service.name}.v1"\n'
        f'schema = "{service.name}"\nport = {service.port}\n'
    )


def _add_to_workspace(pyproject: Path, service: NewService) -> None:
    """Adds the service wherever the workspace lists every service (the
    registry's contract test names each place)."""
    text = pyproject.read_text()
    module, project = service.module, f"billingos-{service.name}"
    text = _append_to_list(text, r"dependencies = \[", f'  "{project}",')
    text = text.replace(
        "billingos-cli = { workspace = true }",
        f"{project} = {{ workspace = true }}\nbillingos-cli = {{ workspace = true }}",
        1,
    )
    text = re.sub(
        r'(mypy_path = "[^"]*)"',
        lambda m: f'{m.group(1)}:services/{service.name}/src"',
        text,
        count=1,
    )
    text = re.sub(
        r"(\npackages = \[[^\]]*)\]", lambda m: f'{m.group(1)}, "{module}"]', text, count=1
    )
    text = re.sub(
        r"(known-first-party = \[[^\]]*)\]", lambda m: f'{m.group(1)}, "{module}"]', text, count=1
    )
    text = _append_to_list(text, r"root_packages = \[", f'  "{module}",')
    text = re.sub(
        r'(type = "independence"\nmodules = \[[^\]]*)\]',
        lambda m: f'{m.group(1)}, "{module}"]',
        text,
        count=1,
    )
    text = re.sub(
        r'(forbidden_modules = \["billingos_customers"[^\]]*)\]',
        lambda m: f'{m.group(1)}, "{module}"]',
        text,
        count=1,
    )
    text = re.sub(
        r'(source_modules = \["billingos_customers"[^\]]*)\]',
        lambda m: f'{m.group(1)}, "{module}"]',
        text,
        count=1,
    )
    pyproject.write_text(text)


def _append_to_list(text: str, opening: str, line: str) -> str:
    """Adds `line` as the last entry of the first multi-line list after `opening`."""
    found = re.search(opening + r"\n(?:.*\n)*?\]", text)
    if found is None:
        raise ValueError(f"pyproject.toml has no list {opening!r}")
    block = found.group(0)
    return text.replace(block, block[:-1] + line + "\n]", 1)


def _files(service: NewService) -> dict[str, str]:
    name, module, title, port = service.name, service.module, service.title, service.port
    base = f"services/{name}"
    source = f"{base}/src/{module}"
    return {
        f"{base}/pyproject.toml": f'''[project]
name = "billingos-{name}"
version = "0.1.0"
description = "BillingOS {name} service."
requires-python = ">=3.11"
license = "Apache-2.0"
dependencies = [
  "billingos-kit",
  "billingos-protos",
]

[tool.uv.sources]
billingos-kit = {{ workspace = true }}
billingos-protos = {{ workspace = true }}

[build-system]
requires = ["uv_build>=0.9,<0.14"]
build-backend = "uv_build"

[tool.uv.build-backend]
module-name = "{module}"
''',
        f"{base}/README.md": f"""# {name}

The {name} context. Its API is in `protos/billingos/{name}/v1/`; its tables in
the `{name}` schema. Shape and rules: docs/architecture.md ("A service's shape").

- **Run**: `python -m {module} migrate`, then `… serve` (`BILLINGOS_{name.upper()}_*` settings).
- **Test**: `./billingos test services/{name}`.
""",
        f"{source}/__init__.py": f'"""The {name} context."""\n',
        f"{source}/py.typed": "",
        f"{source}/__main__.py": f'''"""`python -m {module} [serve|migrate]`."""

from __future__ import annotations

from billingos_kit.runner import run_service
from {module}.app import MIGRATIONS_DIR, build_app
from {module}.settings import {title}Settings

if __name__ == "__main__":
    run_service({title}Settings, build_app, MIGRATIONS_DIR)
''',
        f"{source}/settings.py": f'''"""Settings of the {name} service
(environment: BILLINGOS_{name.upper()}_*)."""

from __future__ import annotations

from typing import ClassVar

from billingos_kit.settings import ServiceSettings


class {title}Settings(ServiceSettings):
    service_name: ClassVar[str] = "{name}"

    grpc_listen: str = "127.0.0.1:{port}"
''',
        f"{source}/models.py": f'''"""The `{name}` schema: its tables, and the rows its
repositories read and write."""

from __future__ import annotations

from billingos_kit.db import service_metadata
from billingos_kit.tables import define_kit_tables

SCHEMA = "{name}"

metadata = service_metadata(SCHEMA)
kit_tables = define_kit_tables(metadata)
''',
        f"{source}/app.py": f'''"""Assembles the {name} service from the kit's parts:
its servicers (app.add_service), its consumers (app.add_consumer)."""

from __future__ import annotations

from pathlib import Path

from billingos_kit.clock import Clock
from billingos_kit.server import ServiceApp
from billingos_kit.settings import ServiceSettings
from {module}.models import kit_tables
from {module}.settings import {title}Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> ServiceApp:
    assert isinstance(settings, {title}Settings)
    return ServiceApp(settings, kit_tables, clock=clock)
''',
        f"{source}/migrations/env.py": f"""from billingos_kit.migrations import run_migrations
from {module}.models import metadata

run_migrations(metadata)
""",
        f"{source}/migrations/script.py.mako": _MAKO,
        f"{source}/migrations/versions/0001_initial.py": f'''"""The kit tables (outbox,
idempotency keys, processed events).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from billingos_kit.migrations import (
    create_kit_tables,
    downgrade_kit_tables_from_v2,
    upgrade_kit_tables_to_v2,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "{name}"


def upgrade() -> None:
    create_kit_tables(SCHEMA)
    upgrade_kit_tables_to_v2(SCHEMA)


def downgrade() -> None:
    downgrade_kit_tables_from_v2(SCHEMA)
    for table in ("processed_events", "idempotency_keys", "outbox_events"):
        op.drop_table(table, schema=SCHEMA)
''',
        f"{base}/tests/conftest.py": f"""from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from billingos_kit.clock import FrozenClock
from billingos_kit.testing.servers import SessionServers
from billingos_kit.testing.service import RunningService, running_service
from {module}.app import MIGRATIONS_DIR, build_app
from {module}.settings import {title}Settings


@pytest.fixture(scope="session")
async def {name}_service(
    servers: SessionServers, session_clock: FrozenClock
) -> AsyncIterator[RunningService]:
    async with running_service(
        {title}Settings, build_app, MIGRATIONS_DIR, servers, session_clock
    ) as service:
        yield service
""",
        f"{base}/tests/test_service.py": f'''"""The service starts on its migrated
schema and answers health."""

from __future__ import annotations

from grpc_health.v1 import health_pb2, health_pb2_grpc

from billingos_kit.testing.db import drift
from billingos_kit.testing.service import RunningService
from {module}.models import metadata


async def test_it_answers_health({name}_service: RunningService) -> None:
    health = health_pb2_grpc.HealthStub({name}_service.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_migrated_schema_matches_the_models({name}_service: RunningService) -> None:
    assert await drift({name}_service.app.database, metadata) == []
''',
        f"protos/billingos/{name}/v1/{name}.proto": f"""syntax = "proto3";

package billingos.{name}.v1;

// The {name} context's API: its messages, services (with google.api.http
// bindings for the gateway) and, in events.proto, its events.
""",
    }


_MAKO = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''
