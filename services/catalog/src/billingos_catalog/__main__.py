"""`python -m billingos_catalog [serve|migrate]`."""

from __future__ import annotations

from billingos_catalog.app import MIGRATIONS_DIR, build_app
from billingos_catalog.settings import CatalogSettings
from billingos_kit.runner import run_service

if __name__ == "__main__":
    run_service(CatalogSettings, build_app, MIGRATIONS_DIR)
