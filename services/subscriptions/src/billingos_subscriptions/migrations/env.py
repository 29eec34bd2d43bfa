from billingos_kit.migrations import run_migrations
from billingos_subscriptions.models import metadata

run_migrations(metadata)
