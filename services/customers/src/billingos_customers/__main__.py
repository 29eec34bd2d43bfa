"""`python -m billingos_customers [serve|migrate]`."""

from __future__ import annotations

from billingos_customers.app import MIGRATIONS_DIR, build_app
from billingos_customers.settings import CustomersSettings
from billingos_kit.runner import run_service

if __name__ == "__main__":
    run_service(CustomersSettings, build_app, MIGRATIONS_DIR)
