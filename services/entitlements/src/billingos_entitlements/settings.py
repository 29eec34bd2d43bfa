"""Settings of the entitlements service
(environment: BILLINGOS_ENTITLEMENTS_*)."""

from __future__ import annotations

from typing import ClassVar

from billingos_kit.settings import ServiceSettings


class EntitlementsSettings(ServiceSettings):
    service_name: ClassVar[str] = "entitlements"

    grpc_listen: str = "127.0.0.1:50066"
    # Where metering listens (BILLINGOS_METERING_ADDRESS, set suite-wide):
    # meter-credits grants are credited there.
    metering_address: str = ""
