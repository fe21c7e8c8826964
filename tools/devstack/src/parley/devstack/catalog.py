"""Every process of the platform, its module, env prefix and default port."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    prefix: str
    default_port: int

    @property
    def schema(self) -> str:
        return self.module

    @property
    def role(self) -> str:
        return f"parley_{self.module}"

    def port(self) -> int:
        return int(os.environ.get(f"{self.prefix}PORT", self.default_port))


# Start order: the gateway serves the JWKS the others verify tokens with, so it goes first.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("gateway", "gateway", "GATEWAY_", 8080),
    ServiceSpec("ingest", "ingest", "INGEST_", 8081),
    ServiceSpec("conversation", "conversation", "CONVERSATION_", 8082),
    ServiceSpec("sender", "sender", "SENDER_", 8083),
    ServiceSpec("campaign", "campaign", "CAMPAIGN_", 8084),
    ServiceSpec("flow-engine", "flow_engine", "FLOW_ENGINE_", 8085),
    ServiceSpec("egress", "egress", "EGRESS_", 8086),
)

SANDBOX_DEFAULT_PORT = 8089
SANDBOX_TOKEN = "dev-only-sandbox-token"
DEV_APP_SECRET = "dev-only-app-secret"
DEV_VERIFY_TOKEN = "dev-only-verify-token"
DEMO_EMAIL = "owner@demo.parley.local"
DEMO_PASSWORD = "dev-only-demo-password"
DEMO_PHONE_NUMBER_ID = "100000000000001"
DEMO_WABA_ID = "200000000000001"
DEMO_DISPLAY_NUMBER = "15550100001"


def dev_db_password(spec: ServiceSpec) -> str:
    return f"dev-only-{spec.module}-db"
