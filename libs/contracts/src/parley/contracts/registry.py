"""Which event types exist, in which version, on which topic, under which partition key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from parley.contracts.events import (
    accounts,
    channels,
    consent,
    contacts,
    conversations,
    messages,
    pipeline,
    tenants,
    users,
    webhooks,
)
from parley.contracts.events.base import customer_key

if TYPE_CHECKING:
    from parley.contracts.envelope import Envelope


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    description: str
    partitions: int = 6
    retention_days: int = 7

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


@dataclass(frozen=True)
class EventSpec:
    type: str
    version: int
    model: type[BaseModel]
    topic: str
    partition_key: Callable[[Envelope, BaseModel], str]
    description: str


def _by_customer(field: str) -> Callable[[Envelope, BaseModel], str]:
    return lambda envelope, payload: customer_key(envelope.tenantid, getattr(payload, field))


def _by_field(field: str) -> Callable[[Envelope, BaseModel], str]:
    return lambda envelope, payload: str(getattr(payload, field))


def _by_first_number(envelope: Envelope, payload: BaseModel) -> str:
    numbers = getattr(payload, "phone_number_ids", None)
    return numbers[0] if numbers else str(payload.webhook_id)


def _by_hook_customer(envelope: Envelope, payload: BaseModel) -> str:
    phone = getattr(payload, "phone", None)
    return customer_key(envelope.tenantid, phone) if phone else str(payload.hook_id)


TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        TopicSpec("webhook.received", "phone_number_id of the first entry (webhook_id if none)",
                  "Every authentic webhook ingest stored, WhatsApp or generic", retention_days=7),
        TopicSpec("message.received", "tenant_id:wa_id", "Inbound customer messages, routed to a tenant"),
        TopicSpec("message.requested", "tenant_id:wa_id", "Requests to send a WhatsApp message"),
        TopicSpec("message.status", "tenant_id:wa_id", "Outbound message outcomes and Meta delivery statuses"),
        TopicSpec("channel.changed", "phone_number_id", "WhatsApp numbers registered, updated, removed",
                  partitions=3, retention_days=30),
        TopicSpec("conversation.changed", "tenant_id:wa_id", "Conversation and timeline changes"),
        TopicSpec("contact.changed", "tenant_id:wa_id", "Contacts created, changed, opted out and blocked"),
        TopicSpec("pipeline.changed", "tenant_id", "Kanban stages and lead cards created, moved, updated, deleted",
                  partitions=3),
        TopicSpec("tenant.changed", "tenant_id", "Tenants created and suspended", partitions=3, retention_days=30),
        TopicSpec("user.changed", "tenant_id", "Users invited, created, changed and removed", partitions=3,
                  retention_days=30),
        TopicSpec("waba.updated", "waba_id", "Template, number quality and account notifications from Meta",
                  partitions=3, retention_days=30),
    )
}

_SPECS: tuple[EventSpec, ...] = (
    EventSpec("webhook.received", 1, webhooks.WebhookReceived, "webhook.received", _by_first_number,
              "An authentic webhook was durably stored by ingest"),
    EventSpec("webhook.mapped", 1, webhooks.HookEventMapped, "webhook.received", _by_hook_customer,
              "A tenant's inbound hook payload became a named business event"),
    EventSpec("template.status-updated", 1, accounts.TemplateStatusUpdated, "waba.updated", _by_field("waba_id"),
              "A message template was approved, rejected, paused or disabled"),
    EventSpec("template.quality-updated", 1, accounts.TemplateQualityUpdated, "waba.updated", _by_field("waba_id"),
              "A message template's quality score changed"),
    EventSpec("phone-number.quality-updated", 1, accounts.PhoneNumberQualityUpdated, "waba.updated",
              _by_field("waba_id"), "A number was flagged or its messaging limit changed"),
    EventSpec("account.updated", 1, accounts.AccountUpdated, "waba.updated", _by_field("waba_id"),
              "Meta reported an account event (restriction, ban, verification...)"),
    EventSpec("whatsapp.errors-reported", 1, accounts.ErrorsReported, "waba.updated", _by_field("waba_id"),
              "Meta reported errors not tied to one message"),
    EventSpec("whatsapp.field-received", 1, accounts.FieldReceived, "waba.updated", _by_field("waba_id"),
              "Any other webhook field, raw, with its name"),
    EventSpec("message.received", 1, messages.MessageReceived, "message.received", _by_customer("wa_id"),
              "A customer sent a message to a business number"),
    EventSpec("message.requested", 1, messages.MessageRequested, "message.requested", _by_customer("to"),
              "Someone asked Parley to send a message"),
    EventSpec("message.status", 1, messages.MessageStatus, "message.status", _by_customer("recipient_id"),
              "A sent message was accepted, sent, delivered, read or failed"),
    EventSpec("channel.registered", 1, channels.ChannelRegistered, "channel.changed",
              _by_field("phone_number_id"), "A WhatsApp number was connected to a tenant"),
    EventSpec("channel.updated", 1, channels.ChannelUpdated, "channel.changed",
              _by_field("phone_number_id"), "A WhatsApp number's details or health changed"),
    EventSpec("channel.deregistered", 1, channels.ChannelDeregistered, "channel.changed",
              _by_field("phone_number_id"), "A WhatsApp number was disconnected"),
    EventSpec("conversation.opened", 1, conversations.ConversationOpened, "conversation.changed",
              _by_customer("wa_id"), "A conversation was opened with a customer"),
    EventSpec("conversation.updated", 1, conversations.ConversationUpdated, "conversation.changed",
              _by_customer("wa_id"), "A conversation's status, assignment or window changed"),
    EventSpec("conversation.message-added", 1, conversations.ConversationMessageAdded, "conversation.changed",
              _by_customer("wa_id"), "A message joined a conversation's timeline"),
    EventSpec("conversation.message-updated", 1, conversations.ConversationMessageUpdated, "conversation.changed",
              _by_customer("wa_id"), "A timeline message's status moved forward or its reaction changed"),
    EventSpec("conversation.note-added", 1, conversations.ConversationNoteAdded, "conversation.changed",
              _by_customer("wa_id"), "An agent left a private note on a conversation"),
    EventSpec("contact.created", 1, contacts.ContactCreated, "contact.changed", _by_customer("wa_id"),
              "A customer wrote for the first time"),
    EventSpec("contact.updated", 1, contacts.ContactUpdated, "contact.changed", _by_customer("wa_id"),
              "A contact's profile name, attributes or labels changed"),
    EventSpec("contact.number-changed", 1, contacts.ContactNumberChanged, "contact.changed", _by_customer("wa_id"),
              "A customer moved to a new WhatsApp number; their history moved with them"),
    EventSpec("contact.opted-out", 1, consent.ContactOptedOut, "contact.changed", _by_customer("wa_id"),
              "A customer opted out of messages (keyword or recorded by an agent)"),
    EventSpec("contact.opted-in", 1, consent.ContactOptedIn, "contact.changed", _by_customer("wa_id"),
              "A customer who had opted out may be messaged again"),
    EventSpec("contact.blocked", 1, consent.ContactBlocked, "contact.changed", _by_customer("wa_id"),
              "A number was put on the tenant's blocklist"),
    EventSpec("contact.unblocked", 1, consent.ContactUnblocked, "contact.changed", _by_customer("wa_id"),
              "A number was taken off the tenant's blocklist"),
    EventSpec("pipeline.stage-created", 1, pipeline.PipelineStageCreated, "pipeline.changed",
              _by_field("tenant_id"), "A stage was added to the tenant's pipeline"),
    EventSpec("pipeline.stage-updated", 1, pipeline.PipelineStageUpdated, "pipeline.changed",
              _by_field("tenant_id"), "A pipeline stage was renamed or moved"),
    EventSpec("pipeline.stage-deleted", 1, pipeline.PipelineStageDeleted, "pipeline.changed",
              _by_field("tenant_id"), "A pipeline stage was removed (its leads moved elsewhere first)"),
    EventSpec("pipeline.lead-created", 1, pipeline.PipelineLeadCreated, "pipeline.changed",
              _by_field("tenant_id"), "A contact got a lead card on the pipeline"),
    EventSpec("pipeline.lead-moved", 1, pipeline.PipelineLeadMoved, "pipeline.changed",
              _by_field("tenant_id"), "A lead card moved to a stage and position"),
    EventSpec("pipeline.lead-updated", 1, pipeline.PipelineLeadUpdated, "pipeline.changed",
              _by_field("tenant_id"), "A lead card's value, owner, title or custom fields changed"),
    EventSpec("tenant.created", 1, tenants.TenantCreated, "tenant.changed", _by_field("tenant_id"),
              "A tenant signed up"),
    EventSpec("tenant.status-changed", 1, tenants.TenantStatusChanged, "tenant.changed", _by_field("tenant_id"),
              "A tenant was suspended or reactivated"),
    EventSpec("tenant.plan-changed", 1, tenants.TenantPlanChanged, "tenant.changed", _by_field("tenant_id"),
              "A tenant's plan, limits or features changed"),
    EventSpec("user.created", 1, users.UserCreated, "user.changed", _by_field("tenant_id"),
              "A user joined a tenant (sign-up owner, accepted invitation)"),
    EventSpec("user.updated", 1, users.UserUpdated, "user.changed", _by_field("tenant_id"),
              "A user's role, status or name changed"),
    EventSpec("user.removed", 1, users.UserRemoved, "user.changed", _by_field("tenant_id"),
              "A user was removed from a tenant"),
)

EVENT_TYPES: dict[tuple[str, int], EventSpec] = {(s.type, s.version): s for s in _SPECS}
_BY_MODEL: dict[type[BaseModel], EventSpec] = {s.model: s for s in _SPECS}


class UnknownEventType(LookupError):
    """The (type, version) pair is not part of the contracts: a poison message for any consumer."""


def spec_for(event_type: str, version: int) -> EventSpec:
    try:
        return EVENT_TYPES[(event_type, version)]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r} version {version}") from None


def spec_for_model(model: type[BaseModel]) -> EventSpec:
    return _BY_MODEL[model]


def payload_model(event_type: str, version: int) -> type[BaseModel]:
    return spec_for(event_type, version).model


def partition_key(envelope: Envelope, payload: BaseModel | None = None) -> str:
    """The Kafka key of an envelope, derived from its typed payload as documented per topic.

    Pass the payload when you have it, to skip validating ``data`` again.
    """
    spec = spec_for(envelope.type, envelope.schemaversion)
    return spec.partition_key(envelope, payload if payload is not None else envelope.payload())
