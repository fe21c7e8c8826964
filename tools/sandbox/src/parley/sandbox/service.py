"""The Graph API's use cases: send, mark read, media, number details, with Meta's checks."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from typing import Any

import httpx

from parley.sandbox.errors import GraphError, invalid, status_error, unknown_object
from parley.sandbox.limits import PairRateLimiter, ThroughputLimiter
from parley.sandbox.notifications import new_numeric_id, new_wamid, pricing, status_item
from parley.sandbox.settings import (
    DEMO_DISPLAY_NUMBER,
    DEMO_PHONE_NUMBER_ID,
    DEMO_VERIFIED_NAME,
    DEMO_WABA_ID,
    SandboxSettings,
)
from parley.sandbox.store import BusinessNumber, Clock, Conversation, Media, SandboxStore, SendRecord, SystemClock
from parley.sandbox.templates import DEFAULT_TEMPLATES, check_template_send
from parley.sandbox.validation import MEDIA_TYPES, ReadRequest, SendRequest, parse_request
from parley.sandbox.webhooks import Sender, WebhookEvent, WebhookOutbox

#: Meta's upload size limits by the MIME type's family.
MEDIA_LIMITS = {"image": 5 * 2**20, "video": 16 * 2**20, "audio": 16 * 2**20}
DOCUMENT_LIMIT = 100 * 2**20


class Sandbox:
    """Everything the sandbox does; the HTTP layers only parse and render."""

    def __init__(self, settings: SandboxSettings, clock: Clock | None = None, *,
                 webhook_client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        media_dir = settings.state_dir / "media" if settings.state_dir else None
        self.store = SandboxStore(duplicate_window_seconds=settings.duplicate_window_seconds, media_dir=media_dir)
        self.throughput = ThroughputLimiter()
        self.pairs = PairRateLimiter()
        self.outbox = WebhookOutbox(settings, self.clock, client=webhook_client)
        self.seed_registry()

    def seed_registry(self) -> None:
        self.store.numbers.clear()
        self.store.templates.clear()
        if not self.settings.seed_demo:
            return
        self.store.numbers[DEMO_PHONE_NUMBER_ID] = BusinessNumber(
            DEMO_PHONE_NUMBER_ID, DEMO_DISPLAY_NUMBER, DEMO_WABA_ID, DEMO_VERIFIED_NAME)
        for template in DEFAULT_TEMPLATES:
            self.store.add_template(template)

    def reset(self, *, registry: bool = False) -> None:
        """Forget all activity; with ``registry``, also numbers and templates registered since the start."""
        self.store.clear()
        self.throughput.reset()
        self.pairs.reset()
        self.outbox.configure(url=self.settings.webhook_url, app_secret=self.settings.app_secret.get_secret_value(),
                              chaos=self.settings.chaos)
        self.outbox.clear()
        if registry:
            self.seed_registry()

    # --- access -------------------------------------------------------------------------------------

    def token_valid(self, number: BusinessNumber | None, token: str | None) -> bool:
        if not token:
            return False
        if number is not None and number.access_token is not None:
            return secrets.compare_digest(token, number.access_token)
        return any(secrets.compare_digest(token, known) for known in self.settings.access_tokens)

    def authorize(self, object_id: str, token: str | None, method: str) -> BusinessNumber | Media:
        """The number or media object behind a Graph id, once the token may use it (190 first, like Graph)."""
        number = self.store.numbers.get(object_id)
        media = self.store.media.get(object_id) if number is None else None
        owner = number or (self.store.numbers.get(media.phone_number_id) if media else None)
        if owner is None:
            if not (self.token_valid(None, token) or any(self.token_valid(n, token)
                                                         for n in self.store.numbers.values())):
                raise GraphError(190, "The access token could not be decrypted or has expired.")
            raise unknown_object(object_id, method)
        if not self.token_valid(owner, token):
            raise GraphError(190, "The access token could not be decrypted or has expired.")
        return number or media  # type: ignore[return-value]

    # --- sending ------------------------------------------------------------------------------------

    def post_messages(self, number: BusinessNumber, body: Any) -> dict[str, Any]:
        """``POST /{phone_number_id}/messages``: a message, a mark-as-read or a typing indicator."""
        try:
            request = parse_request(body)
            if isinstance(request, ReadRequest):
                return self._mark_read(number, request)
            return self._send(number, request)
        except GraphError as error:
            self.store.record_rejection(number.phone_number_id, error.code)
            raise

    def _send(self, number: BusinessNumber, request: SendRequest) -> dict[str, Any]:
        faults = self.store.faults.get(number.phone_number_id)
        if faults:
            raise GraphError(faults.popleft(), "Injected by the sandbox (POST /sandbox/numbers/{id}/faults).")
        customer = self.store.customer(request.wa_id)
        if not customer.on_whatsapp:
            raise GraphError(131026, "Message Undeliverable: the recipient is not a WhatsApp user.")
        now = self.clock.time()
        window_open = customer.window_open(number.phone_number_id, now)
        category, rendered = "service", None
        if request.type == "template":
            template = self._template(request.content)
            rendered = check_template_send(template, request.content.get("components"))
            category = template.category.lower()
        elif not window_open:
            raise GraphError(131047, "Message failed to send because more than 24 hours have passed since the "
                                     "customer last replied to this number.")
        if request.type in MEDIA_TYPES and "id" in request.content \
                and str(request.content["id"]) not in self.store.media:
            raise invalid(f"{request.type}.id {request.content['id']} is not an uploaded media id")
        self._admit(number, request.wa_id)
        record = SendRecord(new_wamid(request.wa_id), number.phone_number_id, request.wa_id, request.to_input,
                            request.type, now, self.clock.monotonic(), request.biz_opaque_callback_data, category,
                            request.payload, rendered)
        self.store.record_send(record)
        self._schedule_statuses(number, record, free=category == "service" or (category == "utility"
                                                                               and window_open))
        message: dict[str, Any] = {"id": record.wamid}
        if request.type == "template":
            message["message_status"] = "accepted"
        return {"messaging_product": "whatsapp", "contacts": [{"input": request.to_input, "wa_id": request.wa_id}],
                "messages": [message]}

    def _template(self, content: dict[str, Any]):
        name, language = content["name"], content["language"]["code"]
        template = self.store.templates.get((name, language))
        if template is None:
            known = self.store.template_languages(name)
            where = f"available in {', '.join(known)}" if known else "not registered"
            raise GraphError(132001, f"template name ({name}) does not exist in {language} ({where})")
        return template

    def _admit(self, number: BusinessNumber, wa_id: str) -> None:
        now = self.clock.monotonic()
        limit = number.throughput or self.settings.throughput_per_second
        burst, interval = self.settings.pair_burst, self.settings.pair_interval_seconds
        pair = (number.phone_number_id, wa_id)
        if not self.throughput.would_admit(number.phone_number_id, limit, now):
            raise GraphError(130429, f"Rate limit hit: more than {limit} messages per second from this number.")
        if not self.pairs.would_admit(pair, burst, interval, now):
            wait = self.pairs.retry_after(pair, burst, interval, now)
            raise GraphError(131056, f"Message failed to send because there were too many messages sent from this "
                                     f"phone number to the same phone number in a short period of time "
                                     f"(retry in {wait:.1f} s).")
        self.throughput.admit(number.phone_number_id, now)
        self.pairs.admit(pair, interval, now)

    def _schedule_statuses(self, number: BusinessNumber, record: SendRecord, *, free: bool) -> None:
        sender = Sender(number.waba_id, number.phone_number_id, number.display_phone_number)
        customer = self.store.customer(record.recipient)
        settings = self.settings
        if number.phone_number_id in customer.blocked:
            failed = status_item(record.wamid, "failed", int(record.accepted_at), record.recipient,
                                 biz_opaque_callback_data=record.client_reference,
                                 errors=[status_error(131026, "Message Undeliverable.")])
            self.outbox.enqueue(WebhookEvent("status", sender, failed), settings.status_sent_delay_ms / 1000)
            return
        conversation = self._conversation(record)
        timeline = [("sent", settings.status_sent_delay_ms), ("delivered", settings.status_delivered_delay_ms)]
        if customer.reads_messages and settings.status_read_delay_ms >= 0:
            timeline.append(("read", settings.status_read_delay_ms))
        for status, delay_ms in timeline:
            billed = status != "read"  # Meta's read statuses carry no conversation or pricing
            described = {"id": conversation.id, "origin": {"type": record.category}}
            if status == "sent":
                described["expiration_timestamp"] = str(int(conversation.expires_at))
            item = status_item(record.wamid, status, int(record.accepted_at + delay_ms / 1000), record.recipient,
                               conversation=described if billed else None,
                               pricing=pricing(record.category, free=free) if billed else None,
                               biz_opaque_callback_data=record.client_reference)
            self.outbox.enqueue(WebhookEvent("status", sender, item), delay_ms / 1000)

    def _conversation(self, record: SendRecord) -> Conversation:
        key = (record.phone_number_id, record.recipient, record.category)
        conversation = self.store.conversations.get(key)
        if conversation is None or conversation.expires_at <= record.accepted_at:
            conversation = Conversation(secrets.token_hex(16), record.accepted_at + 24 * 3600)
            self.store.conversations[key] = conversation
        return conversation

    def _mark_read(self, number: BusinessNumber, request: ReadRequest) -> dict[str, Any]:
        inbound = self.store.inbound.get(request.message_id)
        if inbound is None or inbound["phone_number_id"] != number.phone_number_id:
            raise invalid(f"message_id {request.message_id} is not a message this number received")
        self.store.read_receipts.append({"phone_number_id": number.phone_number_id, "message_id": request.message_id,
                                         "wa_id": inbound["wa_id"], "typing_indicator": request.typing_indicator,
                                         "timestamp": self.clock.time()})
        return {"success": True}

    # --- numbers and media --------------------------------------------------------------------------

    def number_details(self, number: BusinessNumber, fields: str | None) -> dict[str, Any]:
        limit = number.throughput or self.settings.throughput_per_second
        details = {
            "verified_name": number.verified_name,
            "code_verification_status": "VERIFIED",
            "display_phone_number": display_format(number.display_phone_number),
            "quality_rating": number.quality_rating,
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD" if limit <= 80 else "HIGH"},
            "messaging_limit_tier": "TIER_1K",
            "name_status": "APPROVED",
            "id": number.phone_number_id,
        }
        if fields:
            wanted = {f.strip() for f in fields.split(",")} | {"id"}
            details = {k: v for k, v in details.items() if k in wanted}
        return details

    def upload_media(self, number: BusinessNumber, data: bytes, mime_type: str | None, filename: str | None,
                     messaging_product: str | None) -> dict[str, str]:
        if messaging_product != "whatsapp":
            raise invalid("messaging_product is required and must be whatsapp")
        if not data or not mime_type or "/" not in mime_type:
            raise invalid("file (with its MIME type) is required")
        limit = MEDIA_LIMITS.get(mime_type.split("/")[0], DOCUMENT_LIMIT)
        if len(data) > limit:
            raise GraphError(131053, f"{mime_type} files are limited to {limit} bytes")
        media = self.add_media(number.phone_number_id, data, mime_type, filename)
        return {"id": media.id}

    def add_media(self, phone_number_id: str, data: bytes, mime_type: str, filename: str | None) -> Media:
        media = Media(new_numeric_id(), phone_number_id, mime_type, hashlib.sha256(data).hexdigest(), len(data),
                      filename, self.clock.time())
        self.store.put_media(media, data)
        return media

    def media_info(self, media: Media, base_url: str) -> dict[str, Any]:
        base = (self.settings.public_url or base_url).rstrip("/")
        return {"messaging_product": "whatsapp", "url": f"{base}/sandbox/media/{media.id}/download",
                "mime_type": media.mime_type, "sha256": media.sha256, "file_size": media.file_size, "id": media.id}

    def update_number(self, number: BusinessNumber, changes: dict[str, Any]) -> BusinessNumber:
        updated = replace(number, **changes)
        self.store.numbers[number.phone_number_id] = updated
        return updated


def display_format(digits: str) -> str:
    """``15550100001`` → ``+1 555-010-0001`` (NANP), otherwise ``+<digits>``, as Graph shows numbers."""
    if len(digits) == 11 and digits.startswith("1"):
        return f"+1 {digits[1:4]}-{digits[4:7]}-{digits[7:]}"
    return f"+{digits}"
