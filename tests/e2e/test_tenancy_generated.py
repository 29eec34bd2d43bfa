"""Tenancy, generated from the protos: every method the gateway routes for
an organization (every `TENANCY_ORGANIZATION` method of a non-admin
service, customer portal methods aside) is called through the gateway with
another organization's API key and a request filled, field by field, with
the first organization's ids and identifying values (tenancy_world.py).

What each call must show:
- a request that names one of the first organization's resources (by id,
  external id, lookup key, code or license key) outside a list filter is
  NOT_FOUND (404): never found, changed or even told apart from an id that
  does not exist;
- a list, a check or a validation may answer, but with nothing of the
  first organization in it;
- no answer ever holds a value of the first organization's that the
  request did not carry itself;
- afterwards, the first organization's resources are as they were.

A new method is covered without a test of its own: its request is built
from its descriptor, and a field that names a resource this world has no
value for fails the coverage check below, asking for one."""

from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from google.api import annotations_pb2, field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from billingos.common.v1 import options_pb2
from billingos_kit.testing.servers import SessionServers

from .conftest import Merchant
from .tenancy_world import World, build_world

pytestmark = pytest.mark.e2e

CONTEXTS = ("customers", "catalog", "payments", "subscriptions", "entitlements", "metering")
# Verbs a method's name starts with; what follows names its resource.
VERBS = (
    "BatchCheck",
    "SetDefault",
    "Activate",
    "Advance",
    "Assign",
    "Attach",
    "Cancel",
    "Change",
    "Check",
    "Create",
    "Deactivate",
    "Delete",
    "Detach",
    "Expire",
    "Get",
    "Ingest",
    "List",
    "Redeem",
    "Redeliver",
    "Resolve",
    "Revoke",
    "Rotate",
    "Sync",
    "Uncancel",
    "Update",
    "Validate",
)
# A field's name that is not its resource's (`endpoint_id` names a webhook
# endpoint).
ALIASES = {
    "endpoint": "webhook_endpoint",
    "external_customer": "customer",
    "allowed_discount": "discount",
}
# Methods that answer for a value they are given rather than find a
# resource by it: they may answer, with nothing of the first organization.
ANSWERING = re.compile(r"^(List|Check|BatchCheck|Validate|Resolve|Ingest)")
# Wrapper and well-known messages: not filled.
SKIPPED_MESSAGES = {"Timestamp", "Duration", "FieldMask", "Struct", "Value", "BoolValue"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


@dataclass(frozen=True)
class Method:
    descriptor: MethodDescriptor
    service: str
    verb: str
    path: str
    body: str

    @property
    def name(self) -> str:
        return f"{self.service}.{self.descriptor.name}"

    def resource(self, world: World) -> str:
        """The resource the method is about: the longest resource name the
        world knows that the noun after the verb starts with."""
        noun = _singular(_snake(self.descriptor.name.removeprefix(self.verb)))
        known = sorted(world.ids, key=len, reverse=True)
        return next((r for r in known if noun == r or noun.startswith(r + "_")), noun)


def routed_methods() -> Iterator[Method]:
    for context in CONTEXTS:
        package = importlib.import_module(f"billingos.{context}.v1")
        for module_info in pkgutil.iter_modules(package.__path__):
            if not module_info.name.endswith("_pb2"):
                continue
            module = importlib.import_module(f"billingos.{context}.v1.{module_info.name}")
            for name, service in module.DESCRIPTOR.services_by_name.items():
                if name.endswith("AdminService"):
                    continue  # never routed by the gateway
                for method in service.methods:
                    options = method.GetOptions()
                    if options.Extensions[options_pb2.tenancy] == options_pb2.TENANCY_NONE:
                        continue
                    if options.Extensions[options_pb2.customer_portal]:
                        continue  # bounded by the session's customer, tested apart
                    rule = options.Extensions[annotations_pb2.http]
                    verb = rule.WhichOneof("pattern")
                    if verb is None:
                        continue
                    method_verb = next(v for v in VERBS if method.name.startswith(v))
                    yield Method(method, name, method_verb, getattr(rule, verb), rule.body)


def _http_verb(method: Method) -> str:
    rule = method.descriptor.GetOptions().Extensions[annotations_pb2.http]
    return str(rule.WhichOneof("pattern")).upper()


@dataclass
class Filled:
    """A request's JSON and which of the world's values went into it."""

    body: dict[str, Any]
    named: set[str]
    unfilled: list[str]


def _server_set(field: FieldDescriptor, creating: bool) -> bool:
    """A field the server sets (output only), or a new resource's own id:
    a value sent there names nothing (the server ignores it)."""
    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    if field_behavior_pb2.OUTPUT_ONLY in behaviors:
        return True
    return creating and field_behavior_pb2.IDENTIFIER in behaviors


def fill(
    message: Descriptor, resource: str, world: World, depth: int = 0, *, creating: bool = False
) -> Filled:
    """The request message as JSON, every field that names a resource set
    to the world's: `id` to the resource's own, `x_id` to x's, external ids,
    lookup keys, codes and license keys to the world's."""
    result = Filled({}, set(), [])
    for field in message.fields:
        if _server_set(field, creating):
            continue
        if depth > 0 and field.name == "organization_id":
            continue  # a body's own organization: refused as such, not a lookup
        if creating and field.name in ("code", "lookup_key", "external_id", "key"):
            continue  # the new resource's own name in the caller's namespace
        if field.message_type is not None:
            if field.message_type.name in SKIPPED_MESSAGES or depth >= 2:
                continue
            if field.message_type.GetOptions().map_entry:
                continue
            inner = fill(
                field.message_type,
                _snake(field.message_type.name),
                world,
                depth + 1,
                creating=creating,
            )
            if inner.body:
                result.body[field.json_name] = [inner.body] if _repeated(field) else inner.body
            result.named |= inner.named
            result.unfilled += [f"{field.name}.{u}" for u in inner.unfilled]
            continue
        if field.type != FieldDescriptor.TYPE_STRING:
            continue
        value, wanted = _value(field.name, resource, world)
        if value:
            result.body[field.name] = [value] if _repeated(field) else value
            result.named.add(value)
        elif wanted:
            result.unfilled.append(field.name)
    return result


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _value(name: str, resource: str, world: World) -> tuple[str, bool]:
    """The world's value for a field (or ""), and whether the field names a
    resource at all (so an empty value is a gap in the world)."""
    if name == "id":
        if resource in world.ids:
            return world.ids[resource], True
        return "", resource not in _NOT_RESOURCES
    if name == "external_customer_id" or (name == "external_id" and resource == "customer"):
        return world.external_id, True
    if name == "lookup_key":
        return world.lookup_key, True
    if name == "code" and resource == "discount":
        return world.discount_code, True
    if name == "code" and resource == "promotion_code":
        return world.promotion_code, True
    if name == "key" and resource == "license_key":
        return world.license_key, True
    if name.endswith(("_id", "_ids")):
        stem = ALIASES.get(name.removesuffix("_ids").removesuffix("_id"), "")
        stem = stem or name.removesuffix("_ids").removesuffix("_id")
        if stem in world.ids:
            return world.ids[stem], True
        return "", stem not in _NOT_RESOURCES
    return "", False


# Ids in requests that name no resource of a tenant's (a Stripe object's id,
# an idempotency token): never filled, never a gap.
_NOT_RESOURCES = {
    "stripe_customer",
    "stripe_setup_intent",
    "stripe_payment_method",
    "stripe_account",
    "stripe_payment_intent",
    "stripe_refund",
    "webhook_delivery",
    "seat",
    "member_customer",
    "previous_price",
    "previous_product",
    "scheduled_price",
    "latest_order",
    "feature",
    "entitlement",
    "billing_settings",
    "tax_settings",
    # An event's own external id: its idempotency key, not a resource.
    "external",
    "connect_account",
    "onboarding_link",
    "dashboard_link",
    "event",
    "usage_event",
    "meter_quantitie",
    "customer_state",
}


def request_of(method: Method, filled: Filled) -> tuple[str, str, dict[str, str], Any]:
    """The REST request: verb, path with its variables, query, JSON body."""
    body = json.loads(json.dumps(filled.body))
    path = method.path

    def take(match: re.Match[str]) -> str:
        parts = match.group(1).split(".")
        holder: Any = body
        for part in parts[:-1]:
            holder = holder.get(part, {}) if isinstance(holder, dict) else {}
        value = holder.pop(parts[-1], "") if isinstance(holder, dict) else ""
        return str(value) or "00000000-0000-7000-8000-000000000000"

    path = re.sub(r"\{([a-z_.]+)\}", take, path)
    verb = _http_verb(method)
    query: dict[str, str] = {}
    payload: Any = None
    if method.body == "*":
        payload = body
    elif method.body:
        payload = body.get(method.body, {})
    else:
        query = {k: v for k, v in body.items() if isinstance(v, str)}
    return verb, path, query, payload


async def test_no_method_reaches_another_organizations_resources(
    merchant: Merchant, other_merchant: Merchant, servers: SessionServers
) -> None:
    world = await build_world(merchant, servers)
    theirs = world.values()
    methods = list(routed_methods())
    assert len(methods) > 100, "the protos should give every routed method"
    gaps: list[str] = []
    wrong: list[str] = []
    for method in methods:
        resource = method.resource(world)
        template = world.templates.get(method.descriptor.name)
        if template is not None:
            filled = Filled(json.loads(json.dumps(template)), set(), [])
            filled.named = {v for v in theirs if v in json.dumps(template)}
        else:
            filled = fill(
                method.descriptor.input_type,
                resource,
                world,
                creating=method.verb == "Create",
            )
        gaps += [f"{method.name}: {field}" for field in filled.unfilled]
        verb, path, query, payload = request_of(method, filled)
        answer = await other_merchant.client.request(
            verb,
            path,
            params=query or None,
            json=payload,
            headers={"Idempotency-Key": f"tenancy-{method.name}"} if verb != "GET" else None,
        )
        named = filled.named - {world.organization_id}
        leaked = sorted(v for v in theirs - filled.named if v in answer.text)
        if leaked:
            wrong.append(f"{method.name} {verb} {path}: answered {leaked} ({answer.status_code})")
        if named and not ANSWERING.match(method.descriptor.name):
            # Refused (a create may call a reference a bad field), and just as
            # a value that names nothing at all is refused.
            refusals = (400, 404) if method.verb == "Create" else (404,)
            control = await _control(
                other_merchant.client, method, verb, path, query, payload, named
            )
            if answer.status_code not in refusals:
                wrong.append(
                    f"{method.name} {verb} {path} naming {sorted(named)}: "
                    f"{answer.status_code} {answer.text[:200]}"
                )
            elif _shape(answer, named) != _shape(control[0], control[1]):
                wrong.append(
                    f"{method.name} {verb} {path}: told apart from a value naming nothing: "
                    f"{answer.status_code} {answer.text[:200]} / "
                    f"{control[0].status_code} {control[0].text[:200]}"
                )
        elif answer.status_code >= 500:
            wrong.append(f"{method.name} {verb} {path}: {answer.status_code} {answer.text[:200]}")
        if answer.status_code == 200 and world.organization_id in _organizations_in(answer):
            wrong.append(f"{method.name} {verb} {path}: acted in the first organization")
    assert wrong == [], "\n".join(wrong)
    assert gaps == [], "the world has no value for:\n" + "\n".join(gaps)
    await _world_intact(merchant.client, world)


async def _control(
    client: httpx.AsyncClient,
    method: Method,
    verb: str,
    path: str,
    query: dict[str, str],
    payload: Any,
    named: set[str],
) -> tuple[httpx.Response, set[str]]:
    """The same call with each of the first organization's values replaced
    by one that names nothing (a fresh id, a fresh string); its answer and
    the values used."""
    swap = {
        v: (str(uuid.uuid4()) if _is_id(v) else f"nothing{uuid.uuid4().hex[:8]}") for v in named
    }

    def replaced(text: str) -> str:
        for old, new in swap.items():
            text = text.replace(old, new)
        return text

    answer = await client.request(
        verb,
        replaced(path),
        params={k: replaced(v) for k, v in query.items()} or None,
        json=None if payload is None else json.loads(replaced(json.dumps(payload))),
        headers={"Idempotency-Key": f"tenancy-control-{method.name}"} if verb != "GET" else None,
    )
    return answer, set(swap.values())


def _is_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _shape(answer: httpx.Response, values: set[str]) -> tuple[int, str]:
    """An answer with the values it was asked about blanked out."""
    text = answer.text
    for value in values:
        text = text.replace(value, "<value>")
    return answer.status_code, text


def _organizations_in(answer: httpx.Response) -> set[str]:
    """Every `organization_id` in a JSON answer."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "organization_id" and isinstance(inner, str):
                    found.add(inner)
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    with contextlib.suppress(ValueError):
        walk(answer.json())
    return found


async def _world_intact(client: httpx.AsyncClient, world: World) -> None:
    """The first organization's resources answer to it as before."""
    for resource, path in (
        ("customer", "/v1/customers/{}"),
        ("product", "/v1/products/{}"),
        ("price", "/v1/prices/{}"),
        ("discount", "/v1/discounts/{}"),
        ("promotion_code", "/v1/promotion-codes/{}"),
        ("tax_rate", "/v1/tax-rates/{}"),
        ("webhook_endpoint", "/v1/webhook-endpoints/{}"),
        ("payment_method", "/v1/payment-methods/{}"),
        ("subscription", "/v1/subscriptions/{}"),
        ("order", "/v1/orders/{}"),
        ("benefit", "/v1/benefits/{}"),
        ("license_key", "/v1/license-keys/{}"),
        ("meter", "/v1/meters/{}"),
        ("test_clock", "/v1/test-clocks/{}"),
        ("checkout_link", "/v1/checkout-links/{}"),
        ("checkout_session", "/v1/checkout-sessions/{}"),
    ):
        found = await client.get(path.format(world.ids[resource]))
        assert found.status_code == 200, f"{resource}: {found.text}"
        body = found.json()
        assert not body.get("delete_time"), f"{resource} was deleted: {body}"
        assert not body.get("archived"), f"{resource} was archived: {body}"
    subscription = (await client.get(f"/v1/subscriptions/{world.ids['subscription']}")).json()
    assert subscription["status"] == "SUBSCRIPTION_STATUS_ACTIVE"
    assert not subscription.get("cancel_at_period_end")
    card = (await client.get(f"/v1/payment-methods/{world.ids['payment_method']}")).json()
    assert not card.get("detach_time")
    endpoint = (await client.get(f"/v1/webhook-endpoints/{world.ids['webhook_endpoint']}")).json()
    assert not endpoint.get("disabled")
    checkout = (await client.get(f"/v1/checkout-sessions/{world.ids['checkout_session']}")).json()
    assert checkout["status"] == "CHECKOUT_SESSION_STATUS_OPEN"
