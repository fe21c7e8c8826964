"""The sandbox's state, in memory: numbers, templates, media, customers, and every accepted send.

Everything is mutated from the event loop only (no awaits inside a mutation), so no locks.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from parley.sandbox.limits import max_in_any_window
from parley.sandbox.templates import Template


class Clock(Protocol):
    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class BusinessNumber:
    phone_number_id: str
    display_phone_number: str
    waba_id: str
    verified_name: str = "Parley Sandbox"
    access_token: str | None = None
    throughput: int | None = None
    quality_rating: str = "GREEN"

    def describe(self, default_throughput: int) -> dict[str, Any]:
        return {"phone_number_id": self.phone_number_id, "display_phone_number": self.display_phone_number,
                "waba_id": self.waba_id, "verified_name": self.verified_name,
                "throughput": self.throughput or default_throughput, "quality_rating": self.quality_rating,
                "has_own_access_token": self.access_token is not None}


@dataclass
class Customer:
    """A simulated WhatsApp user."""

    wa_id: str
    profile_name: str = "Sandbox Customer"
    on_whatsapp: bool = True
    reads_messages: bool = True
    blocked: set[str] = field(default_factory=set)
    last_message_at: dict[str, float] = field(default_factory=dict)

    def window_open(self, phone_number_id: str, now: float) -> bool:
        """The 24-hour customer service window with this business number."""
        last = self.last_message_at.get(phone_number_id)
        return last is not None and now - last < 24 * 3600

    def describe(self, now: float) -> dict[str, Any]:
        return {"wa_id": self.wa_id, "profile_name": self.profile_name, "on_whatsapp": self.on_whatsapp,
                "reads_messages": self.reads_messages, "blocked": sorted(self.blocked),
                "open_windows": sorted(n for n in self.last_message_at if self.window_open(n, now))}


@dataclass
class Media:
    id: str
    phone_number_id: str
    mime_type: str
    sha256: str
    file_size: int
    filename: str | None
    created_at: float


@dataclass
class SendRecord:
    """An accepted ``POST /messages`` that sends a message."""

    wamid: str
    phone_number_id: str
    recipient: str
    to_input: str
    type: str
    accepted_at: float
    accepted_monotonic: float
    client_reference: str | None
    category: str
    payload: dict[str, Any]
    rendered: str | None = None
    duplicate_of: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"wamid": self.wamid, "timestamp": self.accepted_at, "phone_number_id": self.phone_number_id,
                "recipient": self.recipient, "to": self.to_input, "type": self.type,
                "biz_opaque_callback_data": self.client_reference, "category": self.category,
                "rendered": self.rendered, "duplicate_of": self.duplicate_of, "payload": self.payload}


@dataclass
class Conversation:
    id: str
    expires_at: float


class DuplicateDetector:
    """Finds sends that repeat an earlier one (see ``find``)."""

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._by_reference: dict[tuple[str, str, str], str] = {}
        self._by_payload: dict[tuple[str, str, str], tuple[str, float]] = {}

    def find(self, record: SendRecord) -> str | None:
        """The wamid this send duplicates, if any, and remember it.

        A send duplicates an earlier one to the same recipient from the same number when both carry the
        same client reference (``biz_opaque_callback_data``), at any distance in time; or, when it carries
        none, when its message content is identical and the earlier one was accepted within the window.
        """
        if record.client_reference is not None:
            key = (record.phone_number_id, record.recipient, record.client_reference)
            original = self._by_reference.get(key)
            self._by_reference.setdefault(key, record.wamid)
            return original
        content = {k: v for k, v in record.payload.items() if k not in {"to", "messaging_product"}}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        key = (record.phone_number_id, record.recipient, digest)
        previous = self._by_payload.get(key)
        self._by_payload[key] = (record.wamid, record.accepted_monotonic)
        if previous and record.accepted_monotonic - previous[1] <= self.window_seconds:
            return previous[0]
        return None


class SandboxStore:
    def __init__(self, *, duplicate_window_seconds: float, media_dir: Path | None = None) -> None:
        self.duplicate_window_seconds = duplicate_window_seconds
        self.media_dir = media_dir
        if media_dir is not None:
            media_dir.mkdir(parents=True, exist_ok=True)
        self.numbers: dict[str, BusinessNumber] = {}
        self.templates: dict[tuple[str, str], Template] = {}
        self.clear()

    def clear(self) -> None:
        """Forget everything that happened (numbers and templates stay registered)."""
        self.media: dict[str, Media] = {}
        self._media_bytes: dict[str, bytes] = {}
        self.customers: dict[str, Customer] = {}
        self.sends: list[SendRecord] = []
        self.sends_by_wamid: dict[str, SendRecord] = {}
        self.inbound: dict[str, dict[str, Any]] = {}
        self.read_receipts: list[dict[str, Any]] = []
        self.faults: dict[str, deque[int]] = defaultdict(deque)
        self.conversations: dict[tuple[str, str, str], Conversation] = {}
        self.rejections: dict[str, Counter[int]] = defaultdict(Counter)
        self.duplicates = DuplicateDetector(self.duplicate_window_seconds)

    # --- registry -----------------------------------------------------------------------------------

    def add_template(self, template: Template) -> None:
        self.templates[(template.name, template.language)] = template

    def template_languages(self, name: str) -> list[str]:
        return sorted(language for (known, language) in self.templates if known == name)

    def customer(self, wa_id: str) -> Customer:
        """The simulated user with this wa_id; every number is a WhatsApp user until told otherwise."""
        return self.customers.setdefault(wa_id, Customer(wa_id))

    # --- media --------------------------------------------------------------------------------------

    def put_media(self, media: Media, data: bytes) -> None:
        self.media[media.id] = media
        if self.media_dir is None:
            self._media_bytes[media.id] = data
        else:
            (self.media_dir / media.id).write_bytes(data)

    def media_bytes(self, media_id: str) -> bytes:
        if self.media_dir is None:
            return self._media_bytes[media_id]
        return (self.media_dir / media_id).read_bytes()

    def delete_media(self, media_id: str) -> None:
        self.media.pop(media_id, None)
        self._media_bytes.pop(media_id, None)
        if self.media_dir is not None:
            (self.media_dir / media_id).unlink(missing_ok=True)

    # --- sends --------------------------------------------------------------------------------------

    def record_send(self, record: SendRecord) -> None:
        record.duplicate_of = self.duplicates.find(record)
        self.sends.append(record)
        self.sends_by_wamid[record.wamid] = record

    def record_rejection(self, phone_number_id: str, code: int) -> None:
        self.rejections[phone_number_id][code] += 1

    def stats(self, *, per_second: bool = False) -> dict[str, Any]:
        by_number: dict[str, list[SendRecord]] = defaultdict(list)
        for record in self.sends:
            by_number[record.phone_number_id].append(record)
        numbers = {}
        for phone_number_id in sorted(set(by_number) | set(self.rejections)):
            records = by_number.get(phone_number_id, [])
            seconds = Counter(int(r.accepted_at) for r in records)
            summary: dict[str, Any] = {
                "total": len(records),
                "max_in_any_1s_window": max_in_any_window(sorted(r.accepted_monotonic for r in records)),
                "max_per_calendar_second": max(seconds.values(), default=0),
                "duplicates": sum(1 for r in records if r.duplicate_of is not None),
                "first_accepted_at": records[0].accepted_at if records else None,
                "last_accepted_at": records[-1].accepted_at if records else None,
                "rejected": {str(code): n for code, n in sorted(self.rejections[phone_number_id].items())},
            }
            if per_second:
                summary["per_second"] = {str(second): n for second, n in sorted(seconds.items())}
            numbers[phone_number_id] = summary
        return {
            "numbers": numbers,
            "total": len(self.sends),
            "duplicates": sum(1 for r in self.sends if r.duplicate_of is not None),
            "duplicate_rule": "same (phone_number_id, recipient, biz_opaque_callback_data) at any time; without "
                              "biz_opaque_callback_data, identical message content to the same recipient from the "
                              f"same number within {self.duplicate_window_seconds:g} s",
        }
