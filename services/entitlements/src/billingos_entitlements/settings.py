"""Settings of the entitlements service
(environment: BILLINGOS_ENTITLEMENTS_*)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from billingos_kit.settings import ServiceSettings


class EntitlementsSettings(ServiceSettings):
    service_name: ClassVar[str] = "entitlements"

    grpc_listen: str = "127.0.0.1:50066"
    # Where metering listens (BILLINGOS_METERING_ADDRESS, set suite-wide):
    # meter-credits grants are credited there.
    metering_address: str = ""
    # The oldest view a check answers from: past this long without NATS
    # confirming the view holds every state (NATS down, this process cut
    # off), checks are UNAVAILABLE (VIEW_STALE) instead of answering from it.
    max_view_staleness_seconds: float = Field(default=15.0, gt=0)
