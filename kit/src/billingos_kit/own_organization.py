"""An `organization_id` a caller may name in a request (the owner's REST
shapes carry one: `GET /v1/customers?organization_id=…`, the SDK's
`customers.create({ organizationId, … })`).

A key acts for exactly one organization, so such a field can only repeat it:
naming the key's own organization is accepted (and changes nothing), naming
any other is refused with a reason of its own rather than answered with the
key's organization silently, or with an empty list that would read as "that
organization has no customers"."""

from __future__ import annotations

import uuid

from billingos_kit.errors import InvalidArgument
from billingos_kit.ids import canonical_id

NOT_OWN_REASON = "ORGANIZATION_NOT_OWN"


def check_own_organization(given: str, own: uuid.UUID, field: str = "organization_id") -> None:
    """Passes when `given` is empty or names `own`; raises InvalidArgument on `field` else."""
    if not given:
        return
    parsed = canonical_id(given)
    if parsed is None:
        raise InvalidArgument(
            field, "must be an organization id in canonical UUID form (lower-case hex with hyphens)"
        )
    if parsed != own:
        raise InvalidArgument(
            field,
            f"must be the API key's own organization ({own}): a key acts for one "
            "organization; use a key of the organization named",
            reason=NOT_OWN_REASON,
        )
