"""Checks every request gets before any service code sees it."""

from __future__ import annotations

from google.protobuf.message import Message

from billingos_kit.errors import FieldViolation, ValidationFailed


def reject_nul_characters(request: Message) -> None:
    """Postgres cannot store U+0000 in text or JSON; refuse it up front,
    naming the field, instead of failing inside the database."""
    found: list[FieldViolation] = []
    _walk(request, "", found)
    if found:
        raise ValidationFailed(found)


def _walk(message: Message, prefix: str, found: list[FieldViolation]) -> None:
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
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
