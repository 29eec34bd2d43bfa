"""Usage events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _json as j


@dataclass(frozen=True)
class IngestResult:
    """What a batch stored: duplicates (by event ``external_id``) are counted,
    not stored, which makes replaying a batch safe."""

    inserted: int
    duplicates: int
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: j.Json) -> IngestResult:
        return cls(
            inserted=j.integer(data, "inserted"),
            duplicates=j.integer(data, "duplicates"),
            raw=dict(data),
        )
