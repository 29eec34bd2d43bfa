"""Input rules every context shares, in one place: text lengths, metadata
bounds, patterns that must match the whole value, ASCII-only identifiers and
case folding that cannot turn a non-ASCII character into an ASCII one. Checks
add field violations, so a service reports every bad field at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from billingos_kit.errors import FieldViolation, ValidationFailed
from billingos_kit.protoconv import MetadataValue

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_STRING_LENGTH = 500


@dataclass
class Violations:
    """Collects violations; `raise_if_any` ends validation with all of them."""

    found: list[FieldViolation]

    def __init__(self) -> None:
        self.found = []

    def add(self, field: str, description: str) -> None:
        self.found.append(FieldViolation(field, description))

    def extend(self, violations: list[FieldViolation]) -> None:
        self.found.extend(violations)

    def raise_if_any(self) -> None:
        if self.found:
            raise ValidationFailed(self.found)


class TextPattern:
    """A rule for identifiers and codes: the whole value must match (never a
    prefix, never "up to a trailing newline" as `$` allows), ASCII only."""

    __slots__ = ("_compiled", "description")

    def __init__(self, regex: str, description: str) -> None:
        self._compiled = re.compile(regex, re.ASCII)
        # What the error says after "must be", e.g. "3-64 letters, digits, '-' or '_'".
        self.description = description

    def matches(self, value: str) -> bool:
        return self._compiled.fullmatch(value) is not None

    def check(self, violations: Violations, field: str, value: str) -> None:
        if not self.matches(value):
            violations.add(field, f"must be {self.description}")


# An organization's slug, as the customers context makes them and every other
# context (public pages) reads them.
ORGANIZATION_SLUG = TextPattern(
    r"[a-z0-9][a-z0-9-]{1,46}[a-z0-9]", "3-48 characters of a-z, 0-9 and '-', not at the ends"
)

_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(value: str) -> str:
    """Lower case for A-Z only. `str.lower` maps the Kelvin sign to "k" and
    `str.upper` maps "ſ" to "S": a lookalike would then find (or collide with)
    another's code. Postgres's `lower(x COLLATE "C")` folds the same way."""
    return value.translate(_ASCII_UPPER)


# Characters no text field takes: control characters (C0 but tab and line
# breaks, DEL, C1).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The explicit bidirectional formatting characters: embeddings (LRE, RLE),
# their end (PDF), overrides (LRO, RLO), isolates (LRI, RLI, FSI) and their
# end (PDI). They make text read differently than it is (an invoice, an
# email, a dashboard would show the reordered text), so a single-line field
# (a name, an address line) takes none. Right-to-left text with embedded
# Latin uses them, though, so a multi-line field (a description, a note)
# takes embeddings and isolates each closed, in order, on the line that
# opens it (a paragraph break ends them all, UAX #9), and never an override,
# which reorders whatever it covers character by character.
_BIDI_FORMATTING = re.compile("[\u202a-\u202e\u2066-\u2069]")
_OVERRIDES = frozenset("\u202d\u202e")
_OPENS_EMBEDDING = frozenset("\u202a\u202b")
_CLOSES_EMBEDDING = "\u202c"
_OPENS_ISOLATE = frozenset("\u2066\u2067\u2068")
_CLOSES_ISOLATE = "\u2069"
# What ends a paragraph for the bidirectional algorithm (class B; U+001C-
# U+001E and U+0085 are control characters, refused before).
_PARAGRAPH_BREAKS = frozenset("\n\r\x85\u2029")
_BIDI_OR_PARAGRAPH = re.compile("[\u202a-\u202e\u2066-\u2069\n\r\x85\u2029]")
# And what a single-line field never takes either.
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029\x85]")


def _bidi_balanced(value: str) -> bool:
    """No override, and every embedding and isolate closed, innermost first,
    within its paragraph."""
    open_: list[str] = []  # _CLOSES_EMBEDDING or _CLOSES_ISOLATE, innermost last
    for match in _BIDI_OR_PARAGRAPH.finditer(value):
        character = match.group()
        if character in _PARAGRAPH_BREAKS:
            if open_:
                return False
        elif character in _OVERRIDES:
            return False
        elif character in _OPENS_EMBEDDING:
            open_.append(_CLOSES_EMBEDDING)
        elif character in _OPENS_ISOLATE:
            open_.append(_CLOSES_ISOLATE)
        elif not open_ or open_.pop() != character:
            return False  # a close with nothing open, or closing the wrong kind
    return not open_


def check_text(
    violations: Violations,
    field: str,
    value: str,
    *,
    max_length: int,
    required: bool = False,
    single_line: bool = False,
) -> None:
    """Required-ness, the length bound, no control characters, and no
    bidirectional formatting characters where `single_line` (nor line
    breaks), only closed embeddings and isolates elsewhere (see above)."""
    if required and not value.strip():
        violations.add(field, "is required")
    elif len(value) > max_length:
        violations.add(field, f"must be at most {max_length} characters")
    elif _CONTROL.search(value) or (single_line and _BIDI_FORMATTING.search(value)):
        violations.add(
            field, "must not contain control characters or bidirectional formatting characters"
        )
    elif single_line and _LINE_BREAKS.search(value):
        violations.add(field, "must be a single line (no tabs or line breaks)")
    elif not single_line and _BIDI_FORMATTING.search(value) and not _bidi_balanced(value):
        violations.add(
            field,
            "must not contain bidirectional overrides (U+202D, U+202E), and must close "
            "every bidirectional embedding (U+202C) and isolate (U+2069) it opens, "
            "innermost first, on the same line",
        )


def check_metadata(
    violations: Violations, field: str, metadata: Mapping[str, MetadataValue]
) -> None:
    """Stripe-like bounds: 50 keys, 40-character keys, 500-character strings."""
    if len(metadata) > MAX_METADATA_KEYS:
        violations.add(field, f"must have at most {MAX_METADATA_KEYS} keys")
        return  # no need to judge each of too many
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            violations.add(
                f"{field}.{key}", f"keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters"
            )
        if isinstance(value, str) and len(value) > MAX_METADATA_STRING_LENGTH:
            violations.add(
                f"{field}.{key}", f"must be at most {MAX_METADATA_STRING_LENGTH} characters"
            )
