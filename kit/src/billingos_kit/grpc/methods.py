"""What the kit must know about each RPC, read once from the proto descriptors:
whether it needs an organization, whether it mutates (and so honours
idempotency keys), which API-key scope it needs through the gateway (or that it
is a customer portal method, which takes a customer session token instead),
its REST paths, and how to decode its request and a stored response.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.api import annotations_pb2
from google.protobuf import descriptor, descriptor_pb2, message_factory
from google.protobuf.message import Message

from billingos.common.v1 import options_pb2
from billingos_kit.grpc.bindings import HttpBinding, http_bindings
from billingos_kit.scopes import SCOPE_CODEC, Scope

_READ_VERBS = {"get"}
# Where every customer portal route lives, and nothing else: the URL says
# which credential a route takes.
PORTAL_PATH_PREFIX = "/v1/customer-portal/"


@dataclass(frozen=True)
class MethodPolicy:
    """How the kit treats calls of one method."""

    full_name: str  # "/billingos.customers.v1.CustomerService/CreateCustomer"
    requires_organization: bool
    mutating: bool
    request_type: type[Message]
    response_type: type[Message]
    # What an API key needs to call it through the gateway.
    scope: Scope
    # Callable through the gateway without an API key.
    anonymous: bool
    rest_bindings: tuple[HttpBinding, ...]
    # Never served to a call from outside, whatever its key: the methods of a
    # service named *AdminService (the gateway does not route them either).
    internal_only: bool = False
    # Callable through the gateway only with a customer session token (and
    # no API key): `(billingos.common.v1.customer_portal)`.
    customer_portal: bool = False


def policies_for(
    service: descriptor.ServiceDescriptor,
) -> list[MethodPolicy]:
    """Policies of every method of `service`, from its proto options."""
    policies = []
    for method in service.methods:
        options = method.GetOptions()
        needs_organization = options.Extensions[options_pb2.tenancy] != options_pb2.TENANCY_NONE
        if method.client_streaming or method.server_streaming:
            raise TypeError(
                f"{service.full_name}.{method.name} streams; the kit pipeline serves unary "
                "methods only"
            )
        mutating = _is_mutating(method)
        bindings = http_bindings(method)
        declared_anonymous = options.Extensions[options_pb2.anonymous]
        if declared_anonymous and (needs_organization or not bindings):
            raise TypeError(
                f"{service.full_name}.{method.name}: an anonymous method must be TENANCY_NONE "
                "and have a REST binding"
            )
        internal_only = service.name.endswith("AdminService")
        customer_portal = options.Extensions[options_pb2.customer_portal]
        _check_portal_shape(
            f"{service.full_name}.{method.name}",
            options,
            bindings,
            customer_portal=customer_portal,
            needs_organization=needs_organization,
            internal_only=internal_only,
        )
        policies.append(
            MethodPolicy(
                full_name=f"/{service.full_name}/{method.name}",
                requires_organization=needs_organization,
                mutating=mutating,
                request_type=message_factory.GetMessageClass(method.input_type),
                response_type=message_factory.GetMessageClass(method.output_type),
                scope=_scope(options, mutating=mutating),
                anonymous=declared_anonymous,
                rest_bindings=bindings,
                internal_only=internal_only,
                customer_portal=customer_portal,
            )
        )
    return policies


def _check_portal_shape(
    name: str,
    options: descriptor_pb2.MethodOptions,
    bindings: tuple[HttpBinding, ...],
    *,
    customer_portal: bool,
    needs_organization: bool,
    internal_only: bool,
) -> None:
    """A portal method acts for a session's customer in its organization, is
    reached through its REST routes only under PORTAL_PATH_PREFIX, and no
    other method has a route there: refused at startup otherwise, so a
    credential mistake cannot ship."""
    paths = [binding.path.template for binding in bindings]
    under_portal = [path for path in paths if path.startswith(PORTAL_PATH_PREFIX)]
    if not customer_portal:
        if under_portal:
            raise TypeError(
                f"{name}: a route under {PORTAL_PATH_PREFIX} needs "
                "(billingos.common.v1.customer_portal) = true"
            )
        return
    problems = []
    if internal_only:
        problems.append("is in an *AdminService (internal)")
    if not needs_organization:
        problems.append("is TENANCY_NONE (a session acts inside its organization)")
    if options.Extensions[options_pb2.anonymous]:
        problems.append("is anonymous")
    if options.HasExtension(options_pb2.scope):
        problems.append("names an API-key scope (it takes no API key)")
    if not paths or len(under_portal) != len(paths):
        problems.append(f"has a REST route outside {PORTAL_PATH_PREFIX} (or none)")
    if problems:
        raise TypeError(f"{name}: a customer portal method " + "; ".join(problems))


def _scope(options: descriptor_pb2.MethodOptions, *, mutating: bool) -> Scope:
    declared = SCOPE_CODEC.from_proto(options.Extensions[options_pb2.scope])
    if declared is not None:
        return declared
    return Scope.WRITE if mutating else Scope.READ


def _is_mutating(method: descriptor.MethodDescriptor) -> bool:
    options = method.GetOptions()
    if options.Extensions[options_pb2.read_only]:
        return False
    if not options.HasExtension(annotations_pb2.http):
        # No REST mapping: treat as a mutation so keys are honoured, the safe side.
        return not method.name.startswith(("Get", "List", "Check"))
    rule = options.Extensions[annotations_pb2.http]
    return rule.WhichOneof("pattern") not in _READ_VERBS


def without_sensitive_fields(message: Message) -> Message:
    """A copy of `message` with every `(billingos.common.v1.sensitive)` field
    cleared, at any depth: what may be stored (e.g. as an idempotent reply)."""
    copy = type(message)()
    copy.CopyFrom(message)
    _clear_sensitive(copy)
    return copy


def _clear_sensitive(message: Message) -> None:
    for field, value in message.ListFields():
        if field.GetOptions().Extensions[options_pb2.sensitive]:
            message.ClearField(field.name)
        elif field.type == field.TYPE_MESSAGE and field.message_type is not None:
            if field.is_repeated:
                if field.message_type.GetOptions().map_entry:
                    continue
                for item in value:
                    _clear_sensitive(item)
            else:
                _clear_sensitive(value)
