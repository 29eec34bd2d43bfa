"""`python -m billingos_metering [serve|migrate]`."""

from __future__ import annotations

from billingos_kit.runner import run_service
from billingos_metering.app import MIGRATIONS_DIR, build_app
from billingos_metering.settings import MeteringSettings

if __name__ == "__main__":
    run_service(MeteringSettings, build_app, MIGRATIONS_DIR)
