"""Event message types made at run time, for testing the kit's event
machinery in a context of the test's own (its own streams), without a proto
file per test. Each type is a real protobuf message in the default pool,
declared an event the way protos/ declare theirs."""

from __future__ import annotations

from functools import cache

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from billingos.common.v1 import options_pb2

_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL


@cache
def event_message(context: str, event_type: str, *, with_state: bool = False) -> type[Message]:
    """`event_message("kittest1", "widget.created")` is a message type
    `billingos.kittest1.v1.WidgetCreatedEvent` with a `value` text and a
    `state` ({id, value}); with `with_state`, it carries the whole state of
    the widget `state.id`."""
    name = "".join(part.capitalize() for part in event_type.replace(".", "_").split("_")) + "Event"
    package = f"billingos.{context}.v1"
    file = descriptor_pb2.FileDescriptorProto(
        name=f"billingos/{context}/v1/{event_type.replace('.', '_')}.proto",
        package=package,
        syntax="proto3",
        dependency=["billingos/common/v1/options.proto"],
    )
    message = file.message_type.add(name=name)
    state = message.nested_type.add(name="State")
    state.field.add(name="id", number=1, type=_STRING, label=_OPTIONAL)
    state.field.add(name="value", number=2, type=_STRING, label=_OPTIONAL)
    message.field.add(name="value", number=1, type=_STRING, label=_OPTIONAL)
    message.field.add(
        name="state", number=2, type=_MESSAGE, label=_OPTIONAL, type_name=f".{package}.{name}.State"
    )
    declared = message.options.Extensions[options_pb2.event]
    declared.type = event_type
    if with_state:
        declared.state_field = "state"
    pool = descriptor_pool.Default()
    pool.AddSerializedFile(file.SerializeToString())
    made: type[Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{package}.{name}")
    )
    return made
