"""The services that exist, in start order, read from the registry
`services.toml` at the repository root. A new context joins the suite,
`./billingos up`, the tests' suite, the gateway and `deploy/` by one entry
there; tests/contract/test_registry.py checks that the rest agrees."""

from __future__ import annotations

import importlib
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from billingos_cli.paths import REGISTRY_FILE, SERVICES_DIR

# One name is a folder, a Python module part, an environment variable part, a
# Kubernetes object name (a DNS label) and an Envoy cluster: only what all allow.
_NAME = re.compile(r"[a-z][a-z0-9]{0,39}")
# Names something else already has: proto packages the kit owns or reads
# (billingos.common, billingos.state.* subjects), the project's own packages,
# the gateway's cluster for unknown paths, and the other Kubernetes Services.
RESERVED_NAMES = frozenset(
    {"common", "state", "kit", "cli", "pricing", "unrouted", "gateway", "nats", "postgres"}
)
_PACKAGE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
# Unquoted Postgres identifier, so it reads the same in hand-written SQL.
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class RegistryError(ValueError):
    """services.toml says something the rest of the repository cannot follow."""


@dataclass(frozen=True)
class ServiceSpec:
    """One `[[service]]` entry of services.toml (what each key means is
    written there)."""

    name: str  # the context, e.g. "customers"
    package: str  # its proto package, e.g. "billingos.customers.v1"
    schema: str  # its Postgres schema
    port: int  # its gRPC port on this machine (in a pod: kubernetes.GRPC_PORT)

    @property
    def module(self) -> str:
        return f"billingos_{self.name}"

    @property
    def distribution(self) -> str:
        """Its name in the uv workspace (pyproject.toml's sources and dependencies)."""
        return f"billingos-{self.name}"

    @property
    def source_dir(self) -> Path:
        return SERVICES_DIR / self.name / "src"

    @property
    def migrations_dir(self) -> Path:
        app = importlib.import_module(f"{self.module}.app")
        migrations: Path = app.MIGRATIONS_DIR
        return migrations


# The service that owns the API keys and answers every other service's key
# check (billingos_kit.keycheck).
KEY_OWNER = "customers"


def load_registry(path: Path = REGISTRY_FILE) -> tuple[ServiceSpec, ...]:
    """The registry's entries, checked up front: a typo here would otherwise
    surface as a confusing failure in kustomize, Envoy or a service's start."""
    entries = tomllib.loads(path.read_text()).get("service", [])
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{path.name}: no [[service]] entries")
    specs = tuple(_spec(entry, f"{path.name}: service {i + 1}") for i, entry in enumerate(entries))
    for key in ("name", "package", "schema", "port"):
        values = [getattr(spec, key) for spec in specs]
        duplicates = sorted({str(v) for v in values if values.count(v) > 1})
        if duplicates:
            raise RegistryError(f"{path.name}: two services share the {key} {duplicates}")
    if specs[0].name != KEY_OWNER:
        raise RegistryError(
            f"{path.name}: {KEY_OWNER!r} must come first: every other service checks API keys "
            "with it"
        )
    return specs


def _spec(entry: Any, where: str) -> ServiceSpec:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: not a table")
    keys = {f.name for f in fields(ServiceSpec)}
    if set(entry) != keys:
        raise RegistryError(f"{where}: needs exactly the keys {sorted(keys)}, has {sorted(entry)}")
    name, package, schema, port = (entry[k] for k in ("name", "package", "schema", "port"))
    checks = (
        (
            isinstance(name, str) and _NAME.fullmatch(name),
            "name: a lowercase letter, then letters and digits",
        ),
        (isinstance(package, str) and _PACKAGE.fullmatch(package), "package: a proto package"),
        (isinstance(schema, str) and _SCHEMA.fullmatch(schema), "schema: a lowercase identifier"),
        (type(port) is int and 1024 <= port <= 65535, "port: a number from 1024 to 65535"),
    )
    for ok, rule in checks:
        if not ok:
            raise RegistryError(f"{where}: {rule}")
    if name in RESERVED_NAMES:
        raise RegistryError(
            f"{where}: name {name!r} is reserved ({', '.join(sorted(RESERVED_NAMES))})"
        )
    return ServiceSpec(name, package, schema, port)


SERVICES = load_registry()
