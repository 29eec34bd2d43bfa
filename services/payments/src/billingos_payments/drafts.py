"""What requests ask for, as plain values the domain modules take (messages.py
and the servicer build them; nothing here knows protobuf)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class ChargeDraft:
    customer_id: uuid.UUID
    order_id: uuid.UUID
    attempt_number: int
    amount_minor: int
    currency: str
    payment_method_id: uuid.UUID | None


@dataclass(frozen=True)
class RefundDraft:
    payment_id: uuid.UUID
    amount_minor: int | None  # None: everything not refunded yet
    currency: str  # "" when no amount is given
    reason: str


@dataclass(frozen=True)
class AccountDraft:
    country: str
    email: str
