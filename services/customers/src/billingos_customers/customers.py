"""Customers (customers.proto): a merchant's customers and their rules. Works in
the caller's scope (one unit of work, one organization); raises domain
errors; knows no protobuf."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email

from billingos_customers import events
from billingos_customers.drafts import Address, CustomerFields
from billingos_customers.models import Customer
from billingos_customers.repository import CustomerFilter, CustomerRepository
from billingos_customers.test_clocks import TestClockDirectory
from billingos_kit.countries import is_country_code
from billingos_kit.errors import NotFound
from billingos_kit.fieldmask import UpdateMask
from billingos_kit.grpc.scope import CallScope
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.pagination import Page, PageRequest
from billingos_kit.repository import apply_changes
from billingos_kit.validation import Violations, check_metadata, check_text

MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 256
MAX_EXTERNAL_ID_LENGTH = 256
MAX_ADDRESS_LINE_LENGTH = 200
# Request paths of the fields, as errors name them.
PREFIX = "customer"
CUSTOMER_MASK = UpdateMask(
    PREFIX,
    updatable=("email", "external_id", "name", "metadata", "billing_address"),
    immutable={
        "test_clock_id": "a customer stays on the test clock it was created on; "
        "create another customer",
        "organization_id": "a customer belongs to the organization that created it",
    },
)


class CustomerService:
    """Customers of the scope's organization."""

    def __init__(self, scope: CallScope, test_clocks: TestClockDirectory | None = None) -> None:
        self._scope = scope
        self._customers = CustomerRepository(scope)
        self._test_clocks = test_clocks

    async def create(self, fields: CustomerFields) -> Customer:
        """Creates a customer and announces `customer.created`. Its external id
        is unique among live customers (the database's unique index decides,
        so concurrent creates cannot both win). A test clock must be one of
        the organization's, as the subscriptions context knows them (only its
        form is checked where this deployment names no subscriptions
        service)."""
        violations = Violations()
        _check_fields(violations, fields, CUSTOMER_MASK.updatable)
        test_clock_id = canonical_id(fields.test_clock_id) if fields.test_clock_id else None
        if fields.test_clock_id and test_clock_id is None:
            violations.add(
                f"{PREFIX}.test_clock_id",
                "must be a test clock id in canonical UUID form (lower-case hex with hyphens)",
            )
        violations.raise_if_any()
        clocks = self._test_clocks
        if (
            test_clock_id is not None
            and clocks is not None
            and not await clocks.exists(self._scope.organization_id, test_clock_id)
        ):
            raise NotFound("test_clock", str(test_clock_id))
        now = self._scope.clock.now()
        customer = Customer(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            stripe_customer_id=None,
            created_at=now,
            updated_at=now,
            deleted_at=None,
            test_clock_id=test_clock_id,
            **fields.column_values(CUSTOMER_MASK.updatable),  # type: ignore[arg-type]
        )
        await self._customers.insert(customer)
        await self._scope.outbox.add(events.customer_created(customer))
        return customer

    async def get(self, customer_id: uuid.UUID, *, for_update: bool = False) -> Customer:
        return await self._customers.require(customer_id, for_update=for_update)

    async def get_by_external_id(self, external_id: str) -> Customer:
        customer = await self._customers.get_by_external_id(external_id)
        if customer is None:
            raise self._customers.not_found(external_id)
        return customer

    async def list_page(self, page: PageRequest, where: CustomerFilter) -> Page[Customer]:
        return await self._customers.page(where, page)

    async def update(
        self, customer_id: uuid.UUID, fields: CustomerFields, paths: Sequence[str]
    ) -> Customer:
        """Applies the fields named in `paths` (CUSTOMER_MASK's updatable ones);
        announces `customer.updated` if any changed."""
        violations = Violations()
        _check_fields(violations, fields, paths)
        violations.raise_if_any()
        customer = await self._customers.require(customer_id, for_update=True)
        changed = apply_changes(customer, fields.column_values(paths))
        if not changed:
            return customer
        customer.updated_at = self._scope.clock.now()
        await self._customers.update(customer, [*changed, "updated_at"])
        await self._scope.outbox.add(events.customer_updated(customer, changed))
        return customer

    async def delete(self, customer_id: uuid.UUID) -> Customer:
        """Soft-deletes; the external id becomes free for a new customer."""
        customer = await self._customers.require(customer_id, for_update=True)
        await self._customers.soft_delete(customer, self._scope.clock.now())
        await self._scope.outbox.add(events.customer_deleted(customer))
        return customer


def _check_fields(violations: Violations, fields: CustomerFields, paths: Sequence[str]) -> None:
    if "email" in paths:
        check_email(violations, f"{PREFIX}.email", fields.email)
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
        check_text(
            violations, f"{PREFIX}.name", fields.name, max_length=MAX_NAME_LENGTH, single_line=True
        )
    if "metadata" in paths:
        check_metadata(violations, f"{PREFIX}.metadata", fields.metadata)
    if "billing_address" in paths and fields.billing_address is not None:
        _check_address(violations, fields.billing_address)


def check_email(violations: Violations, field_name: str, email: str) -> None:
    """A customer's address (surrounding spaces aside): required, at most
    MAX_EMAIL_LENGTH, one line without control or bidirectional formatting
    characters (whatever the email library allows), valid as an address
    (deliverability is not asked)."""
    email = email.strip()
    if not email:
        violations.add(field_name, "is required")
        return
    found = len(violations.found)
    check_text(violations, field_name, email, max_length=MAX_EMAIL_LENGTH, single_line=True)
    if len(violations.found) > found:
        return
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        violations.add(field_name, "must be a valid email address")


def _check_address(violations: Violations, address: Address) -> None:
    base = f"{PREFIX}.billing_address"
    for name in ("line1", "line2", "postal_code", "city", "state"):
        check_text(
            violations,
            f"{base}.{name}",
            getattr(address, name),
            max_length=MAX_ADDRESS_LINE_LENGTH,
            single_line=True,
        )
    if not address.country:
        violations.add(f"{base}.country", "is required when an address is given")
    elif not is_country_code(address.country):
        violations.add(f"{base}.country", "must be an ISO 3166-1 alpha-2 code, e.g. US or FR")
