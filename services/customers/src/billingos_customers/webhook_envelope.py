"""What a webhook receiver gets (docs/webhooks.md): the JSON envelope, made
once when a delivery is enqueued (every attempt and redelivery posts the
same bytes), and the Standard Webhooks headers, signed at each attempt with
the `standardwebhooks` package, the reference receivers verify with."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Sequence

from google.protobuf import json_format
from google.protobuf.message import Message
from standardwebhooks import Webhook

from billingos.common.v1 import event_pb2
from billingos_kit.grpc.methods import without_sensitive_fields

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
USER_AGENT = "BillingOS-Webhooks/1"


def new_secret() -> str:
    """A signing secret as Standard Webhooks spells one: whsec_ + base64 of
    32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def envelope_body(envelope: event_pb2.EventEnvelope, data: Message, sequence: int) -> str:
    """The envelope: the event's id, type, time and organization, the
    endpoint's `sequence`, and the event message as proto3 JSON with proto
    field names (the names the protos and events.proto document). Fields
    marked sensitive (a checkout's client secret, ...) are never posted,
    whatever the emitting context put in its event."""
    occurred = envelope.occur_time.ToDatetime(tzinfo=dt.UTC)
    body = {
        "id": envelope.event_id,
        "type": envelope.type,
        "timestamp": occurred.isoformat().replace("+00:00", "Z"),
        "organization_id": envelope.organization_id,
        "sequence": sequence,
        "data": json_format.MessageToDict(
            without_sensitive_fields(data), preserving_proto_field_name=True
        ),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def signed_headers(
    webhook_id: str, body: str, secrets_in_use: Sequence[str], now: dt.datetime
) -> dict[str, str]:
    """The headers of one attempt: `webhook-signature` holds one `v1,`
    signature per secret in use (two during a rotation's grace, so a
    receiver holding either secret verifies), space-separated."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id=webhook_id, timestamp=now, data=body)
        for secret in secrets_in_use
    )
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
