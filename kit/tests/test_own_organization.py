"""An organization id a request may name: empty or the key's own passes,
anything else is refused on the field the caller named."""

from __future__ import annotations

import uuid

import pytest

from billingos_kit.errors import InvalidArgument
from billingos_kit.own_organization import NOT_OWN_REASON, check_own_organization

OWN = uuid.UUID("0196d0a4-1e2f-7a3b-8c4d-5e6f7a8b9c01")


def test_empty_or_the_own_organization_passes() -> None:
    check_own_organization("", OWN)
    check_own_organization(str(OWN), OWN)


def test_another_organization_is_refused_naming_the_own_one() -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_own_organization(str(uuid.uuid4()), OWN, "customer.organization_id")
    assert refused.value.reason == NOT_OWN_REASON
    (violation,) = refused.value.violations
    assert violation.field == "customer.organization_id"
    assert str(OWN) in violation.description


@pytest.mark.parametrize(
    "given",
    [str(OWN).upper(), "{" + str(OWN) + "}", f"urn:uuid:{OWN}", OWN.hex, f" {OWN}", "acme"],
)
def test_other_spellings_of_an_id_are_malformed_not_own(given: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_own_organization(given, OWN)
    assert refused.value.reason != NOT_OWN_REASON
    assert [v.field for v in refused.value.violations] == ["organization_id"]
