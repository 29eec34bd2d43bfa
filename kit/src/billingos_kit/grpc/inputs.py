"""Checks every request gets before any service code sees it."""

from __future__ import annotations

from google.protobuf.message import Message

from billingos_kit.errors import FieldViolation, ValidationFailed

# No list or map in any request is longer: a bound on the work one request can
# cause before a service's own (smaller) limits speak. 1 MiB of JSON holds
# hundreds of thousands of `{}`.
MAX_REPEATED_ENTRIES = 1000


def check_request(request: Message) -> None:
    """Refuses, naming the field, what no service could take: U+0000 (Postgres
    cannot store it in text or JSON) and lists or maps past MAX_REPEATED_ENTRIES."""
    found: list[FieldViolation] = []
    _walk(request, "", found)
    if found:
        raise ValidationFailed(found)


def _walk(message: Message, prefix: str, found: list[FieldViolation]) -> None:
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.is_repeated and len(value) > MAX_REPEATED_ENTRIES:
            found.append(FieldViolation(path, f"must have at most {MAX_REPEATED_ENTRIES} entries"))
            continue
        if field.type == field.TYPE_STRING:
            values = value if field.is_repeated else [value]
            if any("\x00" in text for text in values):
                found.append(FieldViolation(path, "must not contain NUL characters"))
        elif field.type == field.TYPE_MESSAGE and field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                for key, item in value.items():
                    if isinstance(key, str) and "\x00" in key:
                        found.append(FieldViolation(path, "keys must not contain NUL characters"))
                    if isinstance(item, Message):
                        _walk(item, f"{path}.{key}.", found)
                    elif isinstance(item, str) and "\x00" in item:
                        found.append(
                            FieldViolation(f"{path}.{key}", "must not contain NUL characters")
                        )
            elif field.is_repeated:
                for index, item in enumerate(value):
                    _walk(item, f"{path}[{index}].", found)
            else:
                _walk(value, f"{path}.", found)
