"""Assembles the entitlements service from the kit's parts:
its servicers (app.add_service), its consumers (app.add_consumer)."""

from __future__ import annotations

from pathlib import Path

from billingos_entitlements.models import kit_tables
from billingos_entitlements.settings import EntitlementsSettings
from billingos_kit.clock import Clock
from billingos_kit.server import ServiceApp
from billingos_kit.settings import ServiceSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_app(settings: ServiceSettings, clock: Clock | None = None) -> ServiceApp:
    assert isinstance(settings, EntitlementsSettings)
    return ServiceApp(settings, kit_tables, clock=clock)
