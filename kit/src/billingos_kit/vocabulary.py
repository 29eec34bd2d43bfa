"""Domain vocabularies and their protobuf enums, kept in step.

A domain vocabulary is a `StrEnum` (`Scope.READ == "read"`, what is stored and
what the code speaks); its protobuf enum spells each member as
`<PREFIX><NAME>` (`SCOPE_READ`). `EnumCodec` derives both directions from
the two definitions and refuses, at import time, a vocabulary that has drifted
from its proto (a member without a proto value, or the reverse).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from billingos_kit.errors import FieldViolation, ValidationFailed

Vocabulary = TypeVar("Vocabulary", bound=StrEnum)


class ProtoEnum(Protocol):
    """What generated protobuf enum wrappers offer."""

    def keys(self) -> list[str]: ...

    def Value(self, name: str) -> int: ...


class EnumCodec(Generic[Vocabulary]):
    """`to_proto(Interval.MONTH) == INTERVAL_MONTH` and back."""

    def __init__(self, vocabulary: type[Vocabulary], proto: ProtoEnum, prefix: str) -> None:
        self._prefix = prefix
        self._to_proto: dict[Vocabulary, int] = {}
        self._from_proto: dict[int, Vocabulary] = {}
        declared = proto.keys()  # an enum wrapper, not a dict: no plain iteration
        proto_names = {name for name in declared if name != f"{prefix}UNSPECIFIED"}
        for member in vocabulary:
            name = f"{prefix}{member.name}"
            if name not in proto_names:
                raise TypeError(f"{vocabulary.__name__}.{member.name} has no proto value {name}")
            proto_names.discard(name)
            number = proto.Value(name)
            self._to_proto[member] = number
            self._from_proto[number] = member
        if proto_names:
            raise TypeError(f"{vocabulary.__name__} lacks members for {sorted(proto_names)}")

    def to_proto(self, value: Vocabulary) -> int:
        return self._to_proto[value]

    def from_proto(self, number: int) -> Vocabulary | None:
        """The member, or None for UNSPECIFIED and numbers this build does not know."""
        return self._from_proto.get(number)

    def proto_name(self, value: Vocabulary) -> str:
        """`SCOPE_READ` for Scope.READ: the name callers see in the API."""
        return f"{self._prefix}{value.name}"

    def proto_names(self) -> list[str]:
        """For error messages: the values a caller may send."""
        return [self.proto_name(member) for member in self._to_proto]

    def parse_repeated(self, numbers: Iterable[int], field: str) -> frozenset[Vocabulary]:
        """The members a repeated enum field names; ValidationFailed naming
        `field[i]` for UNSPECIFIED or a number this build does not know."""
        found: set[Vocabulary] = set()
        violations = []
        allowed = f"must be one of {', '.join(self.proto_names())}"
        for index, number in enumerate(numbers):
            member = self.from_proto(number)
            if member is None:
                violations.append(FieldViolation(f"{field}[{index}]", allowed))
            else:
                found.add(member)
        if violations:
            raise ValidationFailed(violations)
        return frozenset(found)
