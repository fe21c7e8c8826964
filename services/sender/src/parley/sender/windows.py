"""The customer service window: 24 h after a customer's last message to a number, free-form messages may go.

The sender learns it from ``message.received`` (the latest inbound per tenant, number and wa_id).
Outside the window only templates go; anything else is refused before Meta would refuse it (131047).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.messages import MessageReceived
from parley.sender.models import CustomerContact

WINDOW = timedelta(hours=24)
OUTSIDE_WINDOW = 131047  # Meta's code for the same refusal
ALWAYS_ALLOWED = frozenset({"template"})

Conversation = tuple[UUID, str, str]  # tenant_id, phone_number_id, wa_id


async def record_inbound(session: AsyncSession, envelopes: list[Envelope]) -> None:
    """Customers wrote: each window with that number opens (Meta's message time; out-of-order safe).

    One upsert for the batch (one tenant's events, as the kit's batch handlers get them); a customer who
    wrote several times in it counts once, with their latest message.
    """
    latest: dict[tuple[UUID, str, str], datetime] = {}
    for envelope in envelopes:
        if envelope.tenantid is None:
            continue
        received = MessageReceived.model_validate(envelope.data)
        key = (envelope.tenantid, received.wa_id, received.phone_number_id)
        if key not in latest or received.timestamp > latest[key]:
            latest[key] = received.timestamp
    if not latest:
        return
    statement = insert(CustomerContact).values([
        {"tenant_id": tenant_id, "wa_id": wa_id, "phone_number_id": number, "last_inbound_at": at}
        for (tenant_id, wa_id, number), at in sorted(latest.items())])  # sorted: a fixed lock order
    await session.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id", "wa_id", "phone_number_id"],
        set_={"last_inbound_at": func.greatest(CustomerContact.last_inbound_at, statement.excluded.last_inbound_at)}))


async def open_windows(session: AsyncSession, conversations: Iterable[Conversation],
                       now: datetime) -> set[Conversation]:
    """Which of these (tenant, number, customer) have a customer message within the last 24 h."""
    wanted = set(conversations)
    if not wanted:
        return set()
    rows = (await session.execute(
        select(CustomerContact.tenant_id, CustomerContact.phone_number_id, CustomerContact.wa_id)
        .where(tuple_(CustomerContact.tenant_id, CustomerContact.phone_number_id, CustomerContact.wa_id)
               .in_(list(wanted)), CustomerContact.last_inbound_at > now - WINDOW))).all()
    return {(tenant_id, number, wa_id) for tenant_id, number, wa_id in rows}


def needs_window(message_type: str) -> bool:
    return message_type not in ALWAYS_ALLOWED


def refusal(wa_id: str) -> str:
    return (f"customer {wa_id} has not written to this number in the last 24 hours: outside the customer "
            f"service window only an approved template can be sent")
