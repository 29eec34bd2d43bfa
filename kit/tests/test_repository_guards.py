"""Guards of the repository base that need no database: a tenant's
statement must be bounded by the organization, and a statement refuses
values it never reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import Column, MetaData, Table, Text, Uuid, bindparam, select

from billingos_kit.repository import OnConnection, TenantRepository
from billingos_kit.sql import Query

widgets = Table(
    "widgets",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("name", Text, nullable=False),
)


@dataclass
class Widget:
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str


class WidgetRepository(TenantRepository[Widget]):
    table = widgets
    row_type = Widget
    resource = "widget"


def repository() -> WidgetRepository:
    return WidgetRepository(OnConnection(None, uuid.uuid4()))  # type: ignore[arg-type]


def test_a_tenants_statement_that_forgets_the_organization_is_refused() -> None:
    with pytest.raises(TypeError, match="bounded by"):
        repository().query("everyone", lambda: select(widgets))


def test_a_tenants_statement_built_on_live_is_accepted() -> None:
    repo = repository()
    found = repo.query("by_name", lambda: repo.live().where(widgets.c.name == bindparam("name")))
    assert "organization_id" in found.names


def test_a_value_the_statement_never_reads_is_refused() -> None:
    query = Query.of(select(widgets).where(widgets.c.name == bindparam("name")))
    assert query.args({"name": "a"}) == ["a"]
    with pytest.raises(KeyError, match="takes no"):
        query.args({"name": "a", "organization_id": uuid.uuid4()})
