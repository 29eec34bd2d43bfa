"""Errors particular to the customers context."""

from __future__ import annotations

from billingos_kit.errors import AlreadyExists, DomainError, ErrorKind


class ExternalIdTaken(AlreadyExists):
    def __init__(self, field: str) -> None:
        super().__init__(
            field, "is already used by another customer", reason="EXTERNAL_ID_ALREADY_EXISTS"
        )


class SlugTaken(AlreadyExists):
    def __init__(self, field: str) -> None:
        super().__init__(
            field, "is already used by another organization", reason="SLUG_ALREADY_EXISTS"
        )


class OrganizationNotFound(DomainError):
    """A public lookup that found nothing: one answer for an unknown id, an
    unknown slug and anything that is neither, echoing none of them."""

    kind = ErrorKind.NOT_FOUND
    reason = "ORGANIZATION_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("organization not found", metadata={"resource": "organization"})


class PortalSignInNotFound(DomainError):
    """A sign-in token that opens nothing: one answer for an unknown token, a
    used one, an expired one and one whose customer was deleted, echoing
    none of it (a page can only say "ask for a new link")."""

    kind = ErrorKind.NOT_FOUND
    reason = "PORTAL_SIGN_IN_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__(
            "this sign-in link does not work (it may have been used or have expired); "
            "ask for a new one",
            metadata={"resource": "portal_sign_in"},
        )
