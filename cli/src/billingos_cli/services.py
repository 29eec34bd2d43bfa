"""The services that exist, in start order. A new context joins the suite,
`./billingos up`, the tests' suite and the gateway by being added here and to
gateway/gateway.toml."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the context, e.g. "customers"

    @property
    def module(self) -> str:
        return f"billingos_{self.name}"

    @property
    def migrations_dir(self) -> Path:
        app = importlib.import_module(f"{self.module}.app")
        migrations: Path = app.MIGRATIONS_DIR
        return migrations


SERVICES = (ServiceSpec("customers"), ServiceSpec("catalog"))
