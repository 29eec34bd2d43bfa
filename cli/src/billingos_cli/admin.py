"""Platform administration over the services' gRPC APIs (never through the
public gateway): creating organizations for `up` and `org create`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from billingos.common.v1 import options_pb2
from billingos.customers.v1 import organizations_pb2, organizations_pb2_grpc
from billingos_kit.headers import SERVICE_TOKEN_HEADER


@dataclass(frozen=True)
class NewOrganization:
    organization_id: str
    slug: str
    api_key: str

    def as_json(self) -> str:
        return json.dumps(
            {"organization_id": self.organization_id, "slug": self.slug, "api_key": self.api_key}
        )


def create_organization(
    customers_address: str, service_token: str, name: str, *, development: bool = False
) -> NewOrganization:
    """A new organization and its first key; `development`: in development
    mode (its webhooks may go to http and local addresses)."""
    with grpc.insecure_channel(customers_address) as channel:
        admin = organizations_pb2_grpc.OrganizationAdminServiceStub(channel)
        created = admin.CreateOrganization(
            organizations_pb2.CreateOrganizationRequest(
                organization=organizations_pb2.Organization(name=name, development_mode=development)
            ),
            metadata=((SERVICE_TOKEN_HEADER, service_token),),
            timeout=10,
        )
    return NewOrganization(
        created.organization.id, created.organization.slug, created.api_key_secret
    )


def issue_api_key(
    customers_address: str,
    service_token: str,
    organization_id: str,
    name: str,
    *,
    scopes: Sequence[int] = (),
) -> NewOrganization:
    """A new key for an existing organization (e.g. one locked out of its keys);
    every scope unless `scopes` (billingos.common.v1.Scope values) says otherwise."""
    with grpc.insecure_channel(customers_address) as channel:
        admin = organizations_pb2_grpc.OrganizationAdminServiceStub(channel)
        issued = admin.IssueApiKey(
            organizations_pb2.IssueApiKeyRequest(
                organization_id=organization_id,
                name=name,
                scopes=[options_pb2.Scope.ValueType(scope) for scope in scopes],
            ),
            metadata=((SERVICE_TOKEN_HEADER, service_token),),
            timeout=10,
        )
    return NewOrganization(organization_id, "", issued.secret)


def api_key_works(rest_url: str, organization_id: str, api_key: str) -> bool:
    """Whether the gateway accepts `api_key` for `organization_id` right now."""
    if not organization_id or not api_key:
        return False
    request = urllib.request.Request(  # noqa: S310 - the suite's own URL
        f"{rest_url}/v1/organizations/{organization_id}",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except urllib.error.HTTPError:
        return False
