from billingos_catalog.models import Base
from billingos_kit.migrations import run_migrations

run_migrations(Base.metadata)
