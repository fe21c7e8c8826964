"""CLI commands of the sender (``python -m parley.sender <command>``)."""

from __future__ import annotations

import os
from uuid import UUID

from parley.contracts.events.channels import ChannelRegistered
from parley.kit.crypto import TenantCipher, load_keyring
from parley.kit.service import Service
from parley.sender import service
from parley.sender.models import Channel, data_keys

#: The Cloud API sandbox's default token (tools/sandbox: SANDBOX_ACCESS_TOKENS).
SANDBOX_TOKEN = "dev-only-sandbox-token"


async def seed_demo(sender: Service, _: list[str]) -> str:
    """Register the demo tenant's sandbox number with the sandbox token, encrypted (development only; idempotent)."""
    await sender.migrate()
    number = os.environ["PARLEY_DEMO_PHONE_NUMBER_ID"]
    tenant_id = UUID(os.environ["PARLEY_DEMO_TENANT_ID"])
    # Like the other PARLEY_DEMO_* values: development-only, never a production setting.
    token = os.environ.get("PARLEY_DEMO_ACCESS_TOKEN", SANDBOX_TOKEN)
    cipher = TenantCipher(load_keyring(sender.settings), data_keys)
    async with sender.db.unit_of_work(tenant_id=tenant_id) as session:
        if await session.get(Channel, number) is not None:
            return f"sender: demo channel {number} already registered"
        await service.register_channel(session, sender.store, cipher, tenant_id, ChannelRegistered(
            phone_number_id=number, waba_id=os.environ["PARLEY_DEMO_WABA_ID"],
            display_phone_number=os.environ["PARLEY_DEMO_DISPLAY_NUMBER"], verified_name="Parley Demo",
        ), token)
    return f"sender: demo channel {number} registered"
