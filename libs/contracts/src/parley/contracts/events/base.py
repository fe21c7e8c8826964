"""Shared base for payload models."""

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Payloads ignore unknown fields so an older consumer keeps parsing newer, additive versions."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )


def customer_key(tenant_id: object, wa_id: str) -> str:
    """Partition key of every per-customer topic: ordering holds per tenant + customer."""
    return f"{tenant_id}:{wa_id}"
