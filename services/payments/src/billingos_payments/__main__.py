"""`python -m billingos_payments [serve|migrate]`."""

from __future__ import annotations

from billingos_kit.runner import run_service
from billingos_payments.app import MIGRATIONS_DIR, build_app
from billingos_payments.settings import PaymentsSettings

if __name__ == "__main__":
    run_service(PaymentsSettings, build_app, MIGRATIONS_DIR)
