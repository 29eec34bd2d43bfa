"""Customer operations and their rules. Works in the caller's scope (one
transaction, one organization); raises domain errors; knows no protobuf.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError

from billingos_customers import events
from billingos_customers.errors import ExternalIdTaken
from billingos_customers.models import Customer
from billingos_customers.repository import CustomerRepository
from billingos_kit.countries import is_country_code
from billingos_kit.db import violated_constraint
from billingos_kit.errors import NotFound
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import new_id
from billingos_kit.pagination import PageRequest
from billingos_kit.protoconv import MetadataValue
from billingos_kit.validation import Violations, check_metadata, check_text

MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 256
MAX_EXTERNAL_ID_LENGTH = 256
MAX_ADDRESS_LINE_LENGTH = 200
# Request paths of the fields, as errors name them.
PREFIX = "customer"
UPDATABLE_FIELDS = ("email", "external_id", "name", "metadata", "billing_address")
# The unique index behind "one live customer per external id" (models.py).
EXTERNAL_ID_INDEX = "uq_customers_organization_id_external_id_live"


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    postal_code: str = ""
    city: str = ""
    state: str = ""
    country: str = ""


@dataclass(frozen=True)
class CustomerFields:
    """A customer's merchant-writable fields, as a request gives them."""

    email: str = ""
    external_id: str = ""
    name: str = ""
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    billing_address: Address | None = None


@dataclass(frozen=True)
class CustomerPage:
    customers: Sequence[Customer]
    next_page_token: str


class CustomerService:
    """Customers of the scope's organization."""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._customers = CustomerRepository(scope.session)

    async def create(self, fields: CustomerFields) -> Customer:
        """Creates a customer and announces `customer.created`."""
        violations = Violations()
        _check_fields(violations, fields, UPDATABLE_FIELDS)
        violations.raise_if_any()
        organization_id = self._scope.organization_id
        external_id = fields.external_id or None
        if external_id and await self._customers.get_live_by_external_id(
            organization_id, external_id
        ):
            raise ExternalIdTaken(f"{PREFIX}.external_id")
        now = self._scope.clock.now()
        customer = Customer(
            id=new_id(self._scope.clock),
            organization_id=organization_id,
            email=fields.email.strip(),
            external_id=external_id,
            name=fields.name,
            metadata_=fields.metadata,
            billing_address=_address_json(fields.billing_address),
            stripe_customer_id=None,
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        try:
            await self._customers.add(customer)
        except IntegrityError as error:
            # Lost a race with a concurrent create of the same external id.
            if violated_constraint(error) == EXTERNAL_ID_INDEX:
                raise ExternalIdTaken(f"{PREFIX}.external_id") from None
            raise
        await events.customer_created(self._scope.outbox, customer)
        return customer

    async def get(self, customer_id: uuid.UUID) -> Customer:
        customer = await self._customers.get(self._scope.organization_id, customer_id)
        if customer is None:
            raise NotFound("customer", str(customer_id))
        return customer

    async def get_by_external_id(self, external_id: str) -> Customer:
        customer = await self._customers.get_live_by_external_id(
            self._scope.organization_id, external_id
        )
        if customer is None:
            raise NotFound("customer", external_id)
        return customer

    async def list_page(
        self, page: PageRequest, *, email: str | None, external_id: str | None
    ) -> CustomerPage:
        rows = await self._customers.list_page(
            self._scope.organization_id,
            limit=page.fetch_size,
            before_id=page.after,
            email=email,
            external_id=external_id,
        )
        return CustomerPage(*page.cut(rows))

    async def update(
        self, customer_id: uuid.UUID, fields: CustomerFields, paths: Sequence[str]
    ) -> Customer:
        """Applies the fields named in `paths`; announces `customer.updated` if any changed."""
        violations = Violations()
        _check_fields(violations, fields, paths)
        violations.raise_if_any()
        organization_id = self._scope.organization_id
        customer = await self._customers.get(organization_id, customer_id, for_update=True)
        if customer is None:
            raise NotFound("customer", str(customer_id))
        wanted = _column_values(fields, paths)
        changed = [path for path, value in wanted.items() if _current(customer, path) != value]
        if not changed:
            return customer
        new_external_id = wanted.get("external_id")
        if "external_id" in changed and new_external_id:
            holder = await self._customers.get_live_by_external_id(
                organization_id, str(new_external_id)
            )
            if holder is not None and holder.id != customer.id:
                raise ExternalIdTaken(f"{PREFIX}.external_id")
        for path in changed:
            setattr(customer, _COLUMN[path], wanted[path])
        customer.updated_at = self._scope.clock.now()
        try:
            await self._customers.flush()
        except IntegrityError as error:
            if violated_constraint(error) == EXTERNAL_ID_INDEX:
                raise ExternalIdTaken(f"{PREFIX}.external_id") from None
            raise
        await events.customer_updated(self._scope.outbox, customer, changed)
        return customer

    async def delete(self, customer_id: uuid.UUID) -> Customer:
        """Soft-deletes; the external id becomes free for a new customer."""
        customer = await self._customers.get(
            self._scope.organization_id, customer_id, for_update=True
        )
        if customer is None:
            raise NotFound("customer", str(customer_id))
        now = self._scope.clock.now()
        customer.deleted_at = now
        customer.updated_at = now
        await self._customers.flush()
        await events.customer_deleted(self._scope.outbox, customer)
        return customer


_COLUMN = {
    "email": "email",
    "external_id": "external_id",
    "name": "name",
    "metadata": "metadata_",
    "billing_address": "billing_address",
}


def _column_values(fields: CustomerFields, paths: Sequence[str]) -> dict[str, object]:
    values: dict[str, object] = {
        "email": fields.email.strip(),
        "external_id": fields.external_id or None,
        "name": fields.name,
        "metadata": fields.metadata,
        "billing_address": _address_json(fields.billing_address),
    }
    return {path: values[path] for path in paths}


def _current(customer: Customer, path: str) -> object:
    return getattr(customer, _COLUMN[path])


def _address_json(address: Address | None) -> dict[str, str] | None:
    if address is None:
        return None
    return {k: v for k, v in dataclasses.asdict(address).items() if v}


def _check_fields(violations: Violations, fields: CustomerFields, paths: Sequence[str]) -> None:
    if "email" in paths:
        _check_email(violations, fields.email)
    if "external_id" in paths:
        check_text(
            violations,
            f"{PREFIX}.external_id",
            fields.external_id,
            max_length=MAX_EXTERNAL_ID_LENGTH,
        )
        if fields.external_id and fields.external_id != fields.external_id.strip():
            violations.add(f"{PREFIX}.external_id", "must not start or end with whitespace")
    if "name" in paths:
        check_text(violations, f"{PREFIX}.name", fields.name, max_length=MAX_NAME_LENGTH)
    if "metadata" in paths:
        check_metadata(violations, f"{PREFIX}.metadata", fields.metadata)
    if "billing_address" in paths and fields.billing_address is not None:
        _check_address(violations, fields.billing_address)


def _check_email(violations: Violations, email: str) -> None:
    field_name = f"{PREFIX}.email"
    email = email.strip()
    if not email:
        violations.add(field_name, "is required")
        return
    if len(email) > MAX_EMAIL_LENGTH:
        violations.add(field_name, f"must be at most {MAX_EMAIL_LENGTH} characters")
        return
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        violations.add(field_name, "must be a valid email address")


def _check_address(violations: Violations, address: Address) -> None:
    base = f"{PREFIX}.billing_address"
    for name in ("line1", "line2", "postal_code", "city", "state"):
        check_text(
            violations, f"{base}.{name}", getattr(address, name), max_length=MAX_ADDRESS_LINE_LENGTH
        )
    if not address.country:
        violations.add(f"{base}.country", "is required when an address is given")
    elif not is_country_code(address.country):
        violations.add(f"{base}.country", "must be an ISO 3166-1 alpha-2 code, e.g. US or FR")
