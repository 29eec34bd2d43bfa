"""License keys (license_keys.proto): one per grant of a license-keys
benefit, made when it is granted, revoked with it (and valid again if the
grant is), validated and activated by the merchant's app. The key is
stored as the customer types it: the customer portal shows it again (as
Polar and Lemon Squeezy do); it grants use of software, not access to an
account. Activations are counted under the key's row lock, so concurrent
activations never pass its limit."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Protocol

from billingos_entitlements.models import Benefit, BenefitGrant, LicenseKey, LicenseKeyActivation
from billingos_entitlements.repository import (
    ActivationFilter,
    LicenseKeyActivations,
    LicenseKeyFilter,
    LicenseKeys,
)
from billingos_entitlements.vocabulary import KeyStatus
from billingos_kit.clock import Clock
from billingos_kit.db import Connection
from billingos_kit.errors import FailedPrecondition, InvalidArgument, NotFound
from billingos_kit.ids import canonical_id, new_id
from billingos_kit.pagination import Page, PageRequest

# The key after its prefix: 32 letters and digits (about 165 bits), in groups
# of 8, without look-alikes (0/O, 1/I/L).
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
GROUPS, GROUP_LENGTH = 4, 8
MAX_KEY_LENGTH = 64
MAX_LABEL = 256


class KeyScope(Protocol):
    @property
    def organization_id(self) -> uuid.UUID: ...

    @property
    def clock(self) -> Clock: ...

    async def connection(self) -> Connection: ...


@dataclass(frozen=True)
class KeyView:
    key: LicenseKey
    activations: int
    granted: bool


def key_status(key: LicenseKey, now: dt.datetime) -> KeyStatus:
    """Whether the key validates now."""
    if key.revoked_at is not None:
        return KeyStatus.REVOKED
    if key.expires_at is not None and key.expires_at <= now:
        return KeyStatus.EXPIRED
    return KeyStatus.VALID


def new_key(prefix: str) -> str:
    groups = [
        "".join(secrets.choice(_ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS)
    ]
    return "-".join([prefix.upper(), *groups] if prefix else groups)


async def issue(scope: KeyScope, grant: BenefitGrant, benefit: Benefit) -> LicenseKey:
    """The grant's key: made on its first grant, valid again on a regrant."""
    keys = LicenseKeys(scope)
    now = scope.clock.now()
    found = await keys.of_grant(grant.id)
    if found is not None:
        if found.revoked_at is not None:
            found.revoked_at, found.updated_at = None, now
            await keys.update(found, ["revoked_at", "updated_at"])
        return found
    days = int(benefit.properties.get("expires_after_days", 0))
    key = LicenseKey(
        id=new_id(scope.clock),
        organization_id=scope.organization_id,
        grant_id=grant.id,
        customer_id=grant.customer_id,
        benefit_id=benefit.id,
        key=new_key(str(benefit.properties.get("prefix", ""))),
        activation_limit=int(benefit.properties.get("activation_limit", 0)),
        expires_at=grant.granted_at + dt.timedelta(days=days) if days else None,
        revoked_at=None,
        created_at=now,
        updated_at=now,
    )
    await keys.insert(key)
    return key


async def revoke(scope: KeyScope, grant: BenefitGrant) -> None:
    keys = LicenseKeys(scope)
    found = await keys.of_grant(grant.id)
    if found is not None and found.revoked_at is None:
        found.revoked_at = found.updated_at = scope.clock.now()
        await keys.update(found, ["revoked_at", "updated_at"])


class LicenseKeyService:
    """License keys of the scope's organization."""

    def __init__(self, scope: KeyScope) -> None:
        self._scope = scope
        self._keys = LicenseKeys(scope)
        self._activations = LicenseKeyActivations(scope)

    async def get(self, key_id: uuid.UUID) -> KeyView:
        [view] = await self._views([await self._keys.require(key_id)])
        return view

    async def list_page(self, where: LicenseKeyFilter, page: PageRequest) -> Page[KeyView]:
        found = await self._keys.page(where, page)
        return Page(await self._views(list(found.items)), found.next_page_token)

    async def validate(self, key: str, activation_id: str) -> tuple[str, KeyView | None]:
        """(validity, the key's view if the organization has it); changes
        nothing."""
        found = await self._keys.by_key(_typed(key))
        if found is None:
            return "not_found", None
        [view] = await self._views([found])
        problem = self._problem(found)
        if problem is not None:
            return problem, view
        if activation_id:
            parsed = canonical_id(activation_id)
            active = await self._activations.active_of([found.id])
            if parsed is None or parsed not in {a.id for a in active}:
                return "not_activated", view
        return "valid", view

    async def activate(self, key: str, label: str) -> LicenseKeyActivation:
        if not label.strip() or len(label) > MAX_LABEL:
            raise InvalidArgument("label", f"must be 1 to {MAX_LABEL} characters")
        found = await self._keys.by_key(_typed(key), for_update=True)
        if found is None:
            raise NotFound("license_key", "key")
        problem = self._problem(found)
        if problem is not None:
            raise FailedPrecondition(
                f"key: the license key is {problem}", reason=f"LICENSE_KEY_{problem.upper()}"
            )
        active = await self._activations.active_of([found.id])
        if found.activation_limit and len(active) >= found.activation_limit:
            raise FailedPrecondition(
                f"key: the license key has all its {found.activation_limit} activations",
                reason="LICENSE_KEY_ACTIVATION_LIMIT",
            )
        activation = LicenseKeyActivation(
            id=new_id(self._scope.clock),
            organization_id=self._scope.organization_id,
            license_key_id=found.id,
            label=label.strip(),
            created_at=self._scope.clock.now(),
            deactivated_at=None,
        )
        await self._activations.insert(activation)
        return activation

    async def deactivate(self, key: str, activation_id: uuid.UUID) -> KeyView:
        found = await self._keys.by_key(_typed(key), for_update=True)
        if found is None:
            raise NotFound("license_key", "key")
        return await self._end(found, activation_id)

    async def deactivate_of_customer(
        self, key_id: uuid.UUID, customer_id: uuid.UUID, activation_id: uuid.UUID
    ) -> KeyView:
        """As `deactivate`, for the key by its id, and only the customer's
        own (another's is NotFound): the customer portal's."""
        found = await self._keys.get(key_id, for_update=True)
        if found is None or found.customer_id != customer_id:
            raise NotFound("license_key", str(key_id))
        return await self._end(found, activation_id)

    async def activations_page(
        self, where: ActivationFilter, page: PageRequest
    ) -> Page[LicenseKeyActivation]:
        """One page of activations, newest first; changes nothing."""
        return await self._activations.page(where, page)

    async def _end(self, found: LicenseKey, activation_id: uuid.UUID) -> KeyView:
        """Ends the key's activation (the key's row is locked); ending it
        twice is once."""
        activation = await self._activations.get(activation_id, for_update=True)
        if activation is None or activation.license_key_id != found.id:
            raise NotFound("license_key_activation", str(activation_id))
        if activation.deactivated_at is None:
            activation.deactivated_at = self._scope.clock.now()
            await self._activations.update(activation, ["deactivated_at"])
        [view] = await self._views([found])
        return view

    def _problem(self, key: LicenseKey) -> str | None:
        status = key_status(key, self._scope.clock.now())
        return None if status is KeyStatus.VALID else status.value

    async def _views(self, keys: list[LicenseKey]) -> list[KeyView]:
        active = await self._activations.active_of([k.id for k in keys])
        counts: dict[uuid.UUID, int] = {}
        for activation in active:
            counts[activation.license_key_id] = counts.get(activation.license_key_id, 0) + 1
        return [KeyView(k, counts.get(k.id, 0), k.revoked_at is None) for k in keys]


def _typed(key: str) -> str:
    """The key as stored: surrounding spaces dropped, letters upper case."""
    typed = key.strip().upper()
    if not typed or len(typed) > MAX_KEY_LENGTH:
        raise InvalidArgument("key", f"must be 1 to {MAX_KEY_LENGTH} characters")
    return typed
