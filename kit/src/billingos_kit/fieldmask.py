"""AIP-134 update masks: which fields a PATCH changes, from one declaration
per resource of what may change and what never can (and why)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from billingos_kit.errors import DomainError, FieldViolation, InvalidArgument, ValidationFailed

MASK_FIELD = "update_mask"


def _refuse_each(resource: str, immutable: Mapping[str, str]) -> Callable[[list[str]], DomainError]:
    def refuse(paths: list[str]) -> DomainError:
        return ValidationFailed([FieldViolation(f"{resource}.{p}", immutable[p]) for p in paths])

    return refuse


@dataclass(frozen=True)
class UpdateMask:
    """A resource's update rules: `updatable` fields, `immutable` ones (each
    with the reason a caller is told), and how a request naming immutable
    fields is refused (by default, a violation per field)."""

    resource: str  # the request field holding the resource, e.g. "product"
    updatable: tuple[str, ...]
    immutable: Mapping[str, str] = field(default_factory=dict)
    refusal: Callable[[list[str]], DomainError] | None = None

    async def resolve(
        self,
        mask: field_mask_pb2.FieldMask,
        requested: Message,
        current: Callable[[], Awaitable[Message]],
    ) -> list[str]:
        """`paths`, reading the resource (`current()`) only when the mask is
        empty and the implied mask must compare with it. `current` should lock
        the row (the call's unit of work holds the lock until it commits), so
        the comparison is with the row the update then changes."""
        return self.paths(mask, requested, await current() if not mask.paths else None)

    def paths(
        self, mask: field_mask_pb2.FieldMask, requested: Message, current: Message | None = None
    ) -> list[str]:
        """The fields to change, in the order of `updatable`.

        With a mask: its paths. A path that is neither updatable nor immutable
        is an error naming it (a typo never silently updates nothing); an
        immutable one is refused with its reason. Without a mask (AIP-134's
        implied mask): the updatable fields the request sets, and any
        immutable field set to a value other than `current`'s (refused):
        sending back a whole resource unchanged works, a changed amount is
        refused, never ignored. Pass `current` when the mask is empty.
        """
        if mask.paths:
            known = (*self.updatable, *self.immutable)
            for path in mask.paths:
                if path not in known:
                    raise InvalidArgument(
                        MASK_FIELD,
                        f"{path!r} cannot be updated; allowed: {', '.join(self.updatable)}",
                    )
            chosen = set(mask.paths)
            self._refuse([name for name in self.immutable if name in chosen])
            return [name for name in self.updatable if name in chosen]
        given = {descriptor.name for descriptor, _ in requested.ListFields()}
        if current is not None:
            self._refuse(
                [
                    name
                    for name in self.immutable
                    if name in given and getattr(requested, name) != getattr(current, name)
                ]
            )
        return [name for name in self.updatable if name in given]

    def _refuse(self, paths: list[str]) -> None:
        if paths:
            refuse = self.refusal or _refuse_each(self.resource, self.immutable)
            raise refuse(paths)


def fields_to_update(
    mask: field_mask_pb2.FieldMask, resource: Message, updatable: Iterable[str]
) -> Sequence[str]:
    """The paths of a mask over a resource without immutable fields."""
    return UpdateMask("", tuple(updatable)).paths(mask, resource)
