"""API-key scopes: what a key may do through the gateway (DESIGN §3: keys are
scoped). Each method names the scope it needs in its proto options; the
gateway's key check passes the verified key's scopes to the service, whose
pipeline compares them. The vocabulary lives here because the pipeline (kit)
checks it and the customers service stores it."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from billingos.common.v1 import options_pb2
from billingos_kit.vocabulary import EnumCodec


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    API_KEYS = "api_keys"


SCOPE_CODEC = EnumCodec(Scope, options_pb2.Scope, "SCOPE_")
ALL_SCOPES = frozenset(Scope)


def with_implied(scopes: Iterable[Scope]) -> frozenset[Scope]:
    """`write` includes `read`."""
    granted = set(scopes)
    if Scope.WRITE in granted:
        granted.add(Scope.READ)
    return frozenset(granted)


def format_scopes(scopes: Iterable[Scope]) -> str:
    """The header form, e.g. "api_keys read write" (sorted, space-separated)."""
    return " ".join(sorted(scopes))


def parse_scopes(header: str) -> frozenset[Scope]:
    """The header form back; unknown words are ignored (a newer gateway)."""
    known = {scope.value: scope for scope in Scope}
    return frozenset(known[word] for word in header.split() if word in known)
