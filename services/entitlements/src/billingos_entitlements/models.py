"""The `entitlements` schema: its tables, and the rows its
repositories read and write."""

from __future__ import annotations

from billingos_kit.db import service_metadata
from billingos_kit.tables import define_kit_tables

SCHEMA = "entitlements"

metadata = service_metadata(SCHEMA)
kit_tables = define_kit_tables(metadata)
