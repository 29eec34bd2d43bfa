from billingos_catalog.models import metadata
from billingos_kit.migrations import run_migrations

run_migrations(metadata)
