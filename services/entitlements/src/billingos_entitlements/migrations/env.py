from billingos_entitlements.models import metadata
from billingos_kit.migrations import run_migrations

run_migrations(metadata)
