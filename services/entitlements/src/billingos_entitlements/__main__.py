"""`python -m billingos_entitlements [serve|migrate]`."""

from __future__ import annotations

from billingos_entitlements.app import MIGRATIONS_DIR, build_app
from billingos_entitlements.settings import EntitlementsSettings
from billingos_kit.runner import run_service

if __name__ == "__main__":
    run_service(EntitlementsSettings, build_app, MIGRATIONS_DIR)
