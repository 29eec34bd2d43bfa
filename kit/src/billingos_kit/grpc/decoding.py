"""Turning a request's bytes into its message, with a caller-facing error.

grpc's own decoding fails a request it cannot parse with UNKNOWN, a message
naming Python classes and proto types, and a traceback in the log. The kit
decodes instead: a request that does not parse is INVALID_ARGUMENT, naming the
field where that can be found (text that is not UTF-8 — the gateway passes a
path or query's `%FF` through — or structures nested deeper than the decoder
allows), and nothing is logged above INFO.

The walk over the wire format only runs for a request that failed to parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from google.protobuf import descriptor
from google.protobuf.message import DecodeError, Message

from billingos_kit.errors import FieldViolation, InvalidArgument, ValidationFailed

# upb refuses messages nested deeper than this (its default recursion limit).
DECODER_MAX_DEPTH = 100

_WIRE_VARINT, _WIRE_FIXED64, _WIRE_LENGTH, _WIRE_FIXED32 = 0, 1, 2, 5


def decode_request(message_type: type[Message], raw: bytes) -> Message:
    """The request message, or InvalidArgument naming what could not be read."""
    try:
        return message_type.FromString(raw)
    except (DecodeError, RecursionError, ValueError):
        problem = find_decode_problem(cast(descriptor.Descriptor, message_type.DESCRIPTOR), raw)
        if problem is None:
            raise InvalidArgument(
                "request", "is not a valid encoding of this method's request"
            ) from None
        raise ValidationFailed([problem]) from None


@dataclass
class _Reader:
    data: bytes
    position: int
    end: int

    def varint(self) -> int:
        shift = 0
        value = 0
        while True:
            if self.position >= self.end or shift > 63:
                raise _Malformed
            byte = self.data[self.position]
            self.position += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def take(self, length: int) -> bytes:
        if length < 0 or self.position + length > self.end:
            raise _Malformed
        chunk = self.data[self.position : self.position + length]
        self.position += length
        return chunk


class _Malformed(Exception):
    """The bytes are not protobuf wire format at all."""


def find_decode_problem(message: descriptor.Descriptor, raw: bytes) -> FieldViolation | None:
    """The first field whose bytes stop `raw` from parsing as `message`."""
    try:
        return _walk(message, _Reader(raw, 0, len(raw)), "", 1)
    except _Malformed:
        return FieldViolation("request", "is not a valid encoding of this method's request")


# Inside these, paths stop growing: `customer.metadata.plan` names the value,
# not `...plan.struct_value.fields.a.list_value.values`.
_JSON_VALUE_TYPES = {
    "google.protobuf.Value",
    "google.protobuf.Struct",
    "google.protobuf.ListValue",
}


def _walk(
    message: descriptor.Descriptor, reader: _Reader, path: str, depth: int
) -> FieldViolation | None:
    if depth > DECODER_MAX_DEPTH:
        return FieldViolation(path or "request", "is nested too deeply")
    frozen = message.full_name in _JSON_VALUE_TYPES and bool(path)
    while reader.position < reader.end:
        number, chunk = _next_field(reader)
        field = message.fields_by_number.get(number)
        if chunk is None or field is None:
            continue
        name = path if frozen else (f"{path}.{field.name}" if path else field.name)
        if field.type == field.TYPE_STRING:
            if not _is_utf8(chunk):
                return FieldViolation(name, "must be valid UTF-8 text")
        elif field.type == field.TYPE_MESSAGE and field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                found = _walk_map_entry(field.message_type, chunk, name, depth + 1, frozen)
            else:
                found = _walk(field.message_type, chunk, name, depth + 1)
            if found is not None:
                return found
    return None


def _walk_map_entry(
    entry: descriptor.Descriptor, reader: _Reader, path: str, depth: int, frozen: bool
) -> FieldViolation | None:
    key = ""
    value: _Reader | None = None
    while reader.position < reader.end:
        number, chunk = _next_field(reader)
        if number == 1 and chunk is not None:
            if not _is_utf8(chunk):
                return FieldViolation(path, "keys must be valid UTF-8 text")
            key = chunk.data[chunk.position : chunk.end].decode()
        elif number == 2 and chunk is not None:
            value = chunk
    value_field = entry.fields_by_number[2]
    if value is None:
        return None
    name = f"{path}.{key}" if key and not frozen else path
    if value_field.type == value_field.TYPE_STRING:
        return None if _is_utf8(value) else FieldViolation(name, "must be valid UTF-8 text")
    if value_field.message_type is not None:
        return _walk(value_field.message_type, value, name, depth + 1)
    return None


def _next_field(reader: _Reader) -> tuple[int, _Reader | None]:
    """The next field's number, and its bytes when length-delimited."""
    tag = reader.varint()
    number, wire_type = tag >> 3, tag & 7
    if wire_type == _WIRE_VARINT:
        reader.varint()
        return number, None
    if wire_type == _WIRE_FIXED64:
        reader.take(8)
        return number, None
    if wire_type == _WIRE_FIXED32:
        reader.take(4)
        return number, None
    if wire_type != _WIRE_LENGTH:
        raise _Malformed
    length = reader.varint()
    start = reader.position
    reader.take(length)
    return number, _Reader(reader.data, start, start + length)


def _is_utf8(chunk: _Reader) -> bool:
    try:
        chunk.data[chunk.position : chunk.end].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
