"""`python -m billingos_subscriptions [serve|migrate]`."""

from __future__ import annotations

from billingos_kit.runner import run_service
from billingos_subscriptions.app import MIGRATIONS_DIR, build_app
from billingos_subscriptions.settings import SubscriptionsSettings

if __name__ == "__main__":
    run_service(SubscriptionsSettings, build_app, MIGRATIONS_DIR)
