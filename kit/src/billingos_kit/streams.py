"""Where events live on NATS JetStream: the one place that names subjects and
streams, read from the event messages themselves (DESIGN §4).

- An event message carries `(billingos.common.v1.event)`: its type
  ("customer.created") and, when it holds an entity's whole state, the field
  that does ("customer"). Its context is its package: `billingos.customers.v1`.
- Events: subject `billingos.<context>.<type>`, stream `BILLINGOS_<CONTEXT>`,
  kept 14 days.
- Latest state: subject `billingos.state.<context>.<entity>.<id>`, stream
  `BILLINGOS_STATE_<CONTEXT>`, one message per subject, kept for ever. A read
  copy built from it learns every entity that exists, however old.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

from google.protobuf import descriptor, descriptor_pool, message_factory
from google.protobuf.message import Message

from billingos.common.v1 import event_pb2, options_pb2

EVENT_RETENTION = dt.timedelta(days=14)
DUPLICATE_WINDOW = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class EventKind:
    """What the kit knows of one event message type."""

    context: str  # "customers"
    type: str  # "customer.created"
    entity: str  # "customer"
    state_field: str  # "customer", or "" when the event holds no whole state

    @property
    def subject(self) -> str:
        return f"billingos.{self.context}.{self.type}"

    def state_subject(self, entity_id: str) -> str:
        return f"billingos.state.{self.context}.{self.entity}.{entity_id}"

    @property
    def states(self) -> str:
        """The state subjects of every entity of this kind."""
        return f"billingos.state.{self.context}.{self.entity}.>"


@cache
def event_kind(message: descriptor.Descriptor) -> EventKind:
    """The event kind of a message type; TypeError if it is not an event."""
    options = message.GetOptions()
    if not options.HasExtension(options_pb2.event):
        raise TypeError(
            f"{message.full_name} is not an event: it lacks (billingos.common.v1.event)"
        )
    declared = options.Extensions[options_pb2.event]
    context = context_of(message.file.package)
    entity = declared.type.split(".", 1)[0]
    if declared.state_field:
        field = message.fields_by_name.get(declared.state_field)
        if (
            field is None
            or field.message_type is None
            or "id" not in field.message_type.fields_by_name
        ):
            raise TypeError(f"{message.full_name}: state_field must name a message with an id")
    return EventKind(context, declared.type, entity, declared.state_field)


def kind_of(message: Message) -> EventKind:
    return event_kind(message.DESCRIPTOR)


def state_subject_of(message: Message) -> str | None:
    """Where the latest state this event carries is kept, if it carries one."""
    kind = kind_of(message)
    if not kind.state_field:
        return None
    entity_id: str = getattr(message, kind.state_field).id
    return kind.state_subject(entity_id)


def state_subject_of_envelope(envelope: event_pb2.EventEnvelope) -> str | None:
    """The state subject of a published envelope's event, read from its data
    (for outbox rows written before the column held it); None if the type is
    unknown here or carries no state."""
    name = envelope.data.type_url.rpartition("/")[2]
    try:
        descriptor_ = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        return None
    message = message_factory.GetMessageClass(descriptor_)()
    if not envelope.data.Unpack(message):
        return None
    try:
        return state_subject_of(message)
    except TypeError:
        return None  # not an event message


def context_of(package: str) -> str:
    """`billingos.customers.v1` → `customers`."""
    parts = package.split(".")
    if len(parts) != 3 or parts[0] != "billingos" or parts[1] in ("common", "state"):
        raise TypeError(f"{package} is not a context's package")
    return parts[1]


def events_stream(context: str) -> str:
    return f"BILLINGOS_{context.upper()}"


def events_subjects(context: str) -> str:
    return f"billingos.{context}.>"


def state_stream(context: str) -> str:
    return f"BILLINGOS_STATE_{context.upper()}"


def state_subjects(context: str) -> str:
    return f"billingos.state.{context}.>"
