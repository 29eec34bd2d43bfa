"""AIP-134 update masks: which fields a PATCH changes."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from billingos_kit.errors import InvalidArgument

MASK_FIELD = "update_mask"


def fields_to_update(
    mask: field_mask_pb2.FieldMask, resource: Message, updatable: Iterable[str]
) -> list[str]:
    """The top-level fields to update, in the order given by `updatable`.

    With an empty mask, every updatable field the caller set to a non-empty
    value (AIP-134's implied mask). A path outside `updatable` is an error
    naming it, so a typo never silently updates nothing.
    """
    allowed = list(updatable)
    if not mask.paths:
        present = {descriptor.name for descriptor, _ in resource.ListFields()}
        return [name for name in allowed if name in present]
    chosen: set[str] = set()
    for path in mask.paths:
        if path not in allowed:
            raise InvalidArgument(
                MASK_FIELD, f"{path!r} cannot be updated; allowed: {', '.join(allowed)}"
            )
        chosen.add(path)
    return [name for name in allowed if name in chosen]
