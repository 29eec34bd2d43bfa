"""Checks every request gets before any service code sees it."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from billingos_kit.errors import FieldViolation, ValidationFailed

# No list or map in any request is longer: a bound on the work one request can
# cause before a service's own (smaller) limits speak. 1 MiB of JSON holds
# hundreds of thousands of `{}`.
MAX_REPEATED_ENTRIES = 1000

_SCALAR, _STRING, _MESSAGE, _MAP, _STRUCT = range(5)
# What each field is, looked up once (descriptor options are not free, and a
# usage-ingest request holds thousands of messages).
_KINDS: dict[FieldDescriptor, int] = {}


def check_request(request: Message) -> None:
    """Refuses, naming the field, what no service could take: U+0000 (Postgres
    cannot store it in text or JSON) and lists or maps past MAX_REPEATED_ENTRIES.

    A first walk only answers "is it clean?" (no field paths built: the common
    case costs the least); only a request that is not is walked again to name
    every offending field."""
    if _clean(request):
        return
    found: list[FieldViolation] = []
    _walk(request, "", found)
    if found:
        raise ValidationFailed(found)


def _kind(field: FieldDescriptor) -> int:
    kind = _KINDS.get(field)
    if kind is None:
        if field.type == field.TYPE_STRING:
            kind = _STRING
        elif field.type == field.TYPE_MESSAGE and field.message_type is not None:
            if field.message_type.full_name == "google.protobuf.Struct":
                kind = _STRUCT
            elif field.message_type.GetOptions().map_entry:
                kind = _MAP
            else:
                kind = _MESSAGE
        else:
            kind = _SCALAR
        _KINDS[field] = kind
    return kind


def _clean_struct(struct: Message) -> bool:
    """A google.protobuf.Struct (metadata: the bulk of a usage batch), read
    through its own fields rather than the generic walk."""
    fields = struct.fields  # type: ignore[attr-defined]
    if len(fields) > MAX_REPEATED_ENTRIES:
        return False
    for key in fields:
        if "\x00" in key:
            return False
        value = fields[key]
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            if "\x00" in value.string_value:
                return False
        elif kind in ("struct_value", "list_value") and not _clean(value):
            return False
    return True


def _clean(message: Message) -> bool:
    for field, value in message.ListFields():
        kind = _kind(field)
        if kind == _SCALAR and not field.is_repeated:
            continue
        if kind == _STRUCT:
            if field.is_repeated:
                if len(value) > MAX_REPEATED_ENTRIES or not all(map(_clean_struct, value)):
                    return False
            elif not _clean_struct(value):
                return False
            continue
        if field.is_repeated:
            if len(value) > MAX_REPEATED_ENTRIES:
                return False
            if kind == _STRING:
                if any("\x00" in text for text in value):
                    return False
            elif kind == _MAP:
                for key in value:
                    if isinstance(key, str) and "\x00" in key:
                        return False
                    item = value[key]
                    if isinstance(item, Message):
                        if not _clean(item):
                            return False
                    elif isinstance(item, str) and "\x00" in item:
                        return False
            elif kind == _MESSAGE:
                for item in value:
                    if not _clean(item):
                        return False
        elif kind == _STRING:
            if "\x00" in value:
                return False
        elif not _clean(value):
            return False
    return True


def _walk(message: Message, prefix: str, found: list[FieldViolation]) -> None:
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        kind = _kind(field)
        if field.is_repeated and len(value) > MAX_REPEATED_ENTRIES:
            found.append(FieldViolation(path, f"must have at most {MAX_REPEATED_ENTRIES} entries"))
            continue
        if kind == _STRING:
            values = value if field.is_repeated else [value]
            if any("\x00" in text for text in values):
                found.append(FieldViolation(path, "must not contain NUL characters"))
        elif kind == _MAP:
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    found.append(FieldViolation(path, "keys must not contain NUL characters"))
                if isinstance(item, Message):
                    _walk(item, f"{path}.{key}.", found)
                elif isinstance(item, str) and "\x00" in item:
                    found.append(FieldViolation(f"{path}.{key}", "must not contain NUL characters"))
        elif kind == _STRUCT:
            structs = value if field.is_repeated else [value]
            for index, struct in enumerate(structs):
                at = f"{path}[{index}]" if field.is_repeated else path
                _walk_struct(struct, at, found)
        elif kind == _MESSAGE:
            if field.is_repeated:
                for index, item in enumerate(value):
                    _walk(item, f"{path}[{index}].", found)
            else:
                _walk(value, f"{path}.", found)


def _walk_struct(struct: Message, path: str, found: list[FieldViolation]) -> None:
    """A Struct's problems under the paths its JSON has (`metadata.model`,
    `metadata.tags[2]`), not its protobuf wrapping (`fields.model.string_value`)."""
    fields = struct.fields  # type: ignore[attr-defined]
    if len(fields) > MAX_REPEATED_ENTRIES:
        found.append(FieldViolation(path, f"must have at most {MAX_REPEATED_ENTRIES} keys"))
        return
    for key in fields:
        if "\x00" in key:
            found.append(FieldViolation(path, "keys must not contain NUL characters"))
            continue
        _walk_value(fields[key], f"{path}.{key}", found)


def _walk_value(value: Message, path: str, found: list[FieldViolation]) -> None:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        if "\x00" in value.string_value:  # type: ignore[attr-defined]
            found.append(FieldViolation(path, "must not contain NUL characters"))
    elif kind == "struct_value":
        _walk_struct(value.struct_value, path, found)  # type: ignore[attr-defined]
    elif kind == "list_value":
        values = value.list_value.values  # type: ignore[attr-defined]
        if len(values) > MAX_REPEATED_ENTRIES:
            found.append(FieldViolation(path, f"must have at most {MAX_REPEATED_ENTRIES} entries"))
            return
        for index, item in enumerate(values):
            _walk_value(item, f"{path}[{index}]", found)
