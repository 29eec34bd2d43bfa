"""gRPC adapters: request message in, domain call, response message out. No
SQL and no rules here; the kit's pipeline has already checked the caller,
resolved the organization and opened the unit of work."""

from __future__ import annotations

from typing import Any

from billingos.entitlements.v1 import (
    benefit_grants_pb2,
    benefit_grants_pb2_grpc,
    benefits_pb2,
    benefits_pb2_grpc,
    customer_portal_pb2,
    customer_portal_pb2_grpc,
    customer_state_pb2,
    customer_state_pb2_grpc,
    entitlements_pb2,
    entitlements_pb2_grpc,
    license_keys_pb2,
    license_keys_pb2_grpc,
)
from billingos_entitlements.benefit_grants import BenefitGrantService
from billingos_entitlements.benefits import BENEFIT_MASK, BenefitService
from billingos_entitlements.clients import MeteringClient
from billingos_entitlements.customer_portal import PortalGrants, PortalLicenseKeys
from billingos_entitlements.customer_state import CustomerStates
from billingos_entitlements.entitlement_view import EntitlementView
from billingos_entitlements.entitlements import EntitlementChecks
from billingos_entitlements.license_keys import LicenseKeyService
from billingos_entitlements.messages import (
    activation_message,
    benefit_draft,
    benefit_message,
    customer_state_message,
    entitlement_message,
    grant_message,
    license_key_message,
    portal_license_key_message,
)
from billingos_entitlements.repository import BenefitFilter, GrantFilter, LicenseKeyFilter
from billingos_entitlements.vocabulary import BENEFIT_TYPES
from billingos_kit.grpc.scope import current_scope
from billingos_kit.ids import parse_id
from billingos_kit.pagination import page_request
from billingos_kit.protoconv import optional_bool

Context = Any


class BenefitServicer(benefits_pb2_grpc.BenefitServiceServicer):
    def __init__(self, metering: MeteringClient) -> None:
        self._metering = metering

    def _service(self) -> BenefitService:
        return BenefitService(current_scope(), self._metering)

    async def CreateBenefit(
        self, request: benefits_pb2.CreateBenefitRequest, context: Context
    ) -> benefits_pb2.Benefit:
        return benefit_message(await self._service().create(benefit_draft(request.benefit)))

    async def GetBenefit(
        self, request: benefits_pb2.GetBenefitRequest, context: Context
    ) -> benefits_pb2.Benefit:
        benefit_id = parse_id(request.id, "id")
        return benefit_message(await self._service().get_any(benefit_id))

    async def ListBenefits(
        self, request: benefits_pb2.ListBenefitsRequest, context: Context
    ) -> benefits_pb2.ListBenefitsResponse:
        kind = BENEFIT_TYPES.from_proto(request.type)
        where = BenefitFilter(type=kind.value if kind else None, key=request.key or None)
        page = page_request(request.page_size, request.page_token, where)
        result = await self._service().list_page(where, page)
        return benefits_pb2.ListBenefitsResponse(
            benefits=[benefit_message(b) for b in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateBenefit(
        self, request: benefits_pb2.UpdateBenefitRequest, context: Context
    ) -> benefits_pb2.Benefit:
        benefit_id = parse_id(request.benefit.id, "benefit.id")
        service = self._service()

        async def current() -> benefits_pb2.Benefit:
            return benefit_message(await service.get(benefit_id, for_update=True))

        paths = await BENEFIT_MASK.resolve(request.update_mask, request.benefit, current)
        draft = benefit_draft(request.benefit)
        return benefit_message(await service.update(benefit_id, draft, paths))

    async def DeleteBenefit(
        self, request: benefits_pb2.DeleteBenefitRequest, context: Context
    ) -> benefits_pb2.Benefit:
        benefit_id = parse_id(request.id, "id")
        return benefit_message(await self._service().delete(benefit_id))


class BenefitGrantServicer(benefit_grants_pb2_grpc.BenefitGrantServiceServicer):
    def _service(self) -> BenefitGrantService:
        return BenefitGrantService(current_scope())

    async def GetBenefitGrant(
        self, request: benefit_grants_pb2.GetBenefitGrantRequest, context: Context
    ) -> benefit_grants_pb2.BenefitGrant:
        view = await self._service().get(parse_id(request.id, "id"))
        return grant_message(view.grant, view.benefit)

    async def ListBenefitGrants(
        self, request: benefit_grants_pb2.ListBenefitGrantsRequest, context: Context
    ) -> benefit_grants_pb2.ListBenefitGrantsResponse:
        service = self._service()
        customer_id = parse_id(request.customer_id, "customer_id") if request.customer_id else None
        if request.external_customer_id:
            known = await service.customer_of_external_id(request.external_customer_id)
            if known is None or (customer_id is not None and known != customer_id):
                return benefit_grants_pb2.ListBenefitGrantsResponse()
            customer_id = known
        where = GrantFilter(
            customer_id=customer_id,
            benefit_id=parse_id(request.benefit_id, "benefit_id") if request.benefit_id else None,
            source_id=(
                parse_id(request.subscription_id, "subscription_id")
                if request.subscription_id
                else None
            ),
            is_granted=optional_bool(request, "is_granted"),
        )
        page = page_request(request.page_size, request.page_token, where)
        result = await service.list_page(where, page)
        return benefit_grants_pb2.ListBenefitGrantsResponse(
            benefit_grants=[grant_message(v.grant, v.benefit) for v in result.items],
            next_page_token=result.next_page_token,
        )


class EntitlementServicer(entitlements_pb2_grpc.EntitlementServiceServicer):
    """Answered from the view in memory: no database, no transaction."""

    def __init__(self, view: EntitlementView) -> None:
        self._view = view

    def _checks(self) -> EntitlementChecks:
        return EntitlementChecks(self._view, current_scope().organization_id)

    async def CheckEntitlement(
        self, request: entitlements_pb2.CheckEntitlementRequest, context: Context
    ) -> entitlements_pb2.Entitlement:
        [answer] = await self._checks().check(
            request.customer_id, request.external_customer_id, [request.feature]
        )
        return entitlement_message(answer)

    async def BatchCheckEntitlements(
        self, request: entitlements_pb2.BatchCheckEntitlementsRequest, context: Context
    ) -> entitlements_pb2.BatchCheckEntitlementsResponse:
        answers = await self._checks().check(
            request.customer_id, request.external_customer_id, list(request.features)
        )
        return entitlements_pb2.BatchCheckEntitlementsResponse(
            entitlements=[entitlement_message(answer) for answer in answers]
        )


class CustomerStateServicer(customer_state_pb2_grpc.CustomerStateServiceServicer):
    def __init__(self, view: EntitlementView) -> None:
        self._view = view

    async def GetCustomerState(
        self, request: customer_state_pb2.GetCustomerStateRequest, context: Context
    ) -> customer_state_pb2.CustomerState:
        customer_id = parse_id(request.customer_id, "customer_id")
        state = await CustomerStates(current_scope(), self._view).of(customer_id)
        return customer_state_message(state)


class CustomerPortalServicer(customer_portal_pb2_grpc.CustomerPortalServiceServicer):
    """Calls scoped to the customer session's customer (the kit puts it in
    the call's scope; the request cannot name another)."""

    async def ListPortalBenefitGrants(
        self, request: customer_portal_pb2.ListPortalBenefitGrantsRequest, context: Context
    ) -> customer_portal_pb2.ListPortalBenefitGrantsResponse:
        result = await PortalGrants(current_scope()).list_page(
            optional_bool(request, "is_granted"), request.page_size, request.page_token
        )
        return customer_portal_pb2.ListPortalBenefitGrantsResponse(
            benefit_grants=[grant_message(v.grant, v.benefit) for v in result.items],
            next_page_token=result.next_page_token,
        )

    async def ListPortalLicenseKeys(
        self, request: customer_portal_pb2.ListPortalLicenseKeysRequest, context: Context
    ) -> customer_portal_pb2.ListPortalLicenseKeysResponse:
        result = await PortalLicenseKeys(current_scope()).list_page(
            request.page_size, request.page_token
        )
        return customer_portal_pb2.ListPortalLicenseKeysResponse(
            license_keys=[portal_license_key_message(v) for v in result.items],
            next_page_token=result.next_page_token,
        )

    async def GetPortalLicenseKey(
        self, request: customer_portal_pb2.GetPortalLicenseKeyRequest, context: Context
    ) -> customer_portal_pb2.PortalLicenseKey:
        shown = await PortalLicenseKeys(current_scope()).get(parse_id(request.id, "id"))
        return portal_license_key_message(shown)

    async def ListPortalLicenseKeyActivations(
        self, request: customer_portal_pb2.ListPortalLicenseKeyActivationsRequest, context: Context
    ) -> customer_portal_pb2.ListPortalLicenseKeyActivationsResponse:
        result = await PortalLicenseKeys(current_scope()).activations_page(
            parse_id(request.license_key_id, "license_key_id"),
            request.page_size,
            request.page_token,
        )
        return customer_portal_pb2.ListPortalLicenseKeyActivationsResponse(
            activations=[activation_message(row) for row in result.items],
            next_page_token=result.next_page_token,
        )

    async def DeactivatePortalLicenseKeyActivation(
        self,
        request: customer_portal_pb2.DeactivatePortalLicenseKeyActivationRequest,
        context: Context,
    ) -> customer_portal_pb2.PortalLicenseKey:
        shown = await PortalLicenseKeys(current_scope()).deactivate(
            parse_id(request.license_key_id, "license_key_id"), parse_id(request.id, "id")
        )
        return portal_license_key_message(shown)


_VALIDITY = {
    "valid": license_keys_pb2.LICENSE_KEY_VALIDITY_VALID,
    "not_found": license_keys_pb2.LICENSE_KEY_VALIDITY_NOT_FOUND,
    "revoked": license_keys_pb2.LICENSE_KEY_VALIDITY_REVOKED,
    "expired": license_keys_pb2.LICENSE_KEY_VALIDITY_EXPIRED,
    "not_activated": license_keys_pb2.LICENSE_KEY_VALIDITY_NOT_ACTIVATED,
}


class LicenseKeyServicer(license_keys_pb2_grpc.LicenseKeyServiceServicer):
    def _service(self) -> LicenseKeyService:
        return LicenseKeyService(current_scope())

    async def GetLicenseKey(
        self, request: license_keys_pb2.GetLicenseKeyRequest, context: Context
    ) -> license_keys_pb2.LicenseKey:
        return license_key_message(await self._service().get(parse_id(request.id, "id")))

    async def ListLicenseKeys(
        self, request: license_keys_pb2.ListLicenseKeysRequest, context: Context
    ) -> license_keys_pb2.ListLicenseKeysResponse:
        where = LicenseKeyFilter(
            customer_id=parse_id(request.customer_id, "customer_id")
            if request.customer_id
            else None,
            benefit_id=parse_id(request.benefit_id, "benefit_id") if request.benefit_id else None,
        )
        page = page_request(request.page_size, request.page_token, where)
        result = await self._service().list_page(where, page)
        return license_keys_pb2.ListLicenseKeysResponse(
            license_keys=[license_key_message(v) for v in result.items],
            next_page_token=result.next_page_token,
        )

    async def ValidateLicenseKey(
        self, request: license_keys_pb2.ValidateLicenseKeyRequest, context: Context
    ) -> license_keys_pb2.ValidateLicenseKeyResponse:
        validity, view = await self._service().validate(request.key, request.activation_id)
        answer = license_keys_pb2.ValidateLicenseKeyResponse(
            valid=validity == "valid",
            validity=license_keys_pb2.LicenseKeyValidity.ValueType(_VALIDITY[validity]),
        )
        if view is not None:
            answer.license_key.CopyFrom(license_key_message(view))
        return answer

    async def ActivateLicenseKey(
        self, request: license_keys_pb2.ActivateLicenseKeyRequest, context: Context
    ) -> license_keys_pb2.LicenseKeyActivation:
        return activation_message(await self._service().activate(request.key, request.label))

    async def DeactivateLicenseKey(
        self, request: license_keys_pb2.DeactivateLicenseKeyRequest, context: Context
    ) -> license_keys_pb2.LicenseKey:
        activation_id = parse_id(request.activation_id, "activation_id")
        return license_key_message(await self._service().deactivate(request.key, activation_id))
