"""Meta's field checks of a send request (everything here answers code 100)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from parley.sandbox.errors import invalid

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
MESSAGE_TYPES = ("text", "template", "interactive", "reaction", "location", "contacts", *MEDIA_TYPES)
CAPTION_TYPES = {"image", "video", "document"}
INTERACTIVE_OTHER = {"cta_url", "flow", "product", "product_list", "location_request_message", "address_message"}
_NUMBER_CHARS = re.compile(r"[\s\-().]")


@dataclass(frozen=True)
class SendRequest:
    """A validated ``POST /messages`` body that sends a message."""

    to_input: str
    wa_id: str
    type: str
    content: Any
    context_message_id: str | None
    biz_opaque_callback_data: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class ReadRequest:
    """A validated mark-as-read (optionally with a typing indicator)."""

    message_id: str
    typing_indicator: bool


def normalize_wa_id(raw: Any) -> str:
    """The digits of a phone number as Meta's ``wa_id``; raises 100 when it cannot be one."""
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise invalid("to must be the recipient's phone number")
    digits = _NUMBER_CHARS.sub("", str(raw)).removeprefix("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise invalid(f"to: {raw!r} is not a valid phone number")
    return digits


def parse_request(body: Any) -> SendRequest | ReadRequest:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    if body.get("messaging_product") != "whatsapp":
        raise invalid("messaging_product is required and must be whatsapp")
    if body.get("status") is not None:
        return _parse_read(body)
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise invalid(f"recipient_type {recipient_type!r} is not supported by the sandbox")
    if "to" not in body:
        raise invalid("to is required")
    wa_id = normalize_wa_id(body["to"])
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        raise invalid(f"type {kind!r} is not a supported message type")
    content = body.get(kind)
    if not isinstance(content, list if kind == "contacts" else dict):
        raise invalid(f"the {kind} object is required for a message of type {kind}")
    CHECKS[kind](content)
    context = body.get("context")
    if context is not None and (not isinstance(context, dict) or not isinstance(context.get("message_id"), str)):
        raise invalid("context.message_id must be the wamid replied to")
    tracker = body.get("biz_opaque_callback_data")
    if tracker is not None and (not isinstance(tracker, str) or len(tracker) > 512):
        raise invalid("biz_opaque_callback_data must be a string of at most 512 characters")
    return SendRequest(str(body["to"]), wa_id, kind, content, context["message_id"] if context else None,
                       tracker, body)


def _parse_read(body: dict[str, Any]) -> ReadRequest:
    if body.get("status") != "read":
        raise invalid("status must be read")
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise invalid("message_id is required to mark a message as read")
    indicator = body.get("typing_indicator")
    if indicator is not None and (not isinstance(indicator, dict) or indicator.get("type") != "text"):
        raise invalid("typing_indicator.type must be text")
    return ReadRequest(message_id, indicator is not None)


def _text_field(obj: dict[str, Any], key: str, limit: int, where: str, *, required: bool = True) -> None:
    value = obj.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{where}.{key} is required")
    if len(value) > limit:
        raise invalid(f"{where}.{key} is longer than {limit} characters")


def _check_text(text: dict[str, Any]) -> None:
    _text_field(text, "body", 4096, "text")
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise invalid("text.preview_url must be a boolean")


def _check_media(kind: str):
    def check(media: dict[str, Any]) -> None:
        if ("id" in media) == ("link" in media):
            raise invalid(f"{kind} needs exactly one of id or link")
        if "link" in media and not re.match(r"https?://\S+$", str(media["link"])):
            raise invalid(f"{kind}.link must be an http(s) URL")
        if "id" in media and not isinstance(media["id"], str | int):
            raise invalid(f"{kind}.id must be a media id")
        if "caption" in media:
            if kind not in CAPTION_TYPES:
                raise invalid(f"{kind} messages take no caption")
            _text_field(media, "caption", 1024, kind)
    return check


def _check_template(template: dict[str, Any]) -> None:
    _text_field(template, "name", 512, "template")
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str):
        raise invalid("template.language.code is required")


def _check_reaction(reaction: dict[str, Any]) -> None:
    _text_field(reaction, "message_id", 256, "reaction")
    if not isinstance(reaction.get("emoji", ""), str):
        raise invalid("reaction.emoji must be a string (empty to remove the reaction)")


def _check_location(location: dict[str, Any]) -> None:
    for key, bound in (("latitude", 90), ("longitude", 180)):
        value = location.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise invalid(f"location.{key} is required")
        try:
            number = float(value)
        except ValueError:
            raise invalid(f"location.{key} must be a number") from None
        if not -bound <= number <= bound:
            raise invalid(f"location.{key} is out of range")


def _check_contacts(contacts: list[Any]) -> None:
    if not contacts:
        raise invalid("contacts must hold at least one contact")
    for contact in contacts:
        name = contact.get("name") if isinstance(contact, dict) else None
        if not isinstance(name, dict) or not isinstance(name.get("formatted_name"), str):
            raise invalid("each contact needs name.formatted_name")


def _check_interactive(interactive: dict[str, Any]) -> None:
    kind = interactive.get("type")
    if kind == "button":
        _check_buttons(interactive)
    elif kind == "list":
        _check_list(interactive)
    elif kind in INTERACTIVE_OTHER:
        if not isinstance(interactive.get("action"), dict) and kind != "product_list":
            raise invalid(f"interactive.action is required for {kind}")
    else:
        raise invalid(f"interactive.type {kind!r} is not supported")
    for part in ("header", "footer"):
        if part in interactive and not isinstance(interactive[part], dict):
            raise invalid(f"interactive.{part} must be an object")
    if "footer" in interactive:
        _text_field(interactive["footer"], "text", 60, "interactive.footer")
    if interactive.get("header", {}).get("type") == "text":
        _text_field(interactive["header"], "text", 60, "interactive.header")


def _interactive_body(interactive: dict[str, Any], limit: int) -> dict[str, Any]:
    body, action = interactive.get("body"), interactive.get("action")
    if not isinstance(body, dict):
        raise invalid("interactive.body is required")
    _text_field(body, "text", limit, "interactive.body")
    if not isinstance(action, dict):
        raise invalid("interactive.action is required")
    return action


def _check_buttons(interactive: dict[str, Any]) -> None:
    buttons = _interactive_body(interactive, 1024).get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise invalid("interactive.action.buttons must hold 1 to 3 reply buttons")
    ids, titles = set(), set()
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(button, dict) or button.get("type") != "reply" or not isinstance(reply, dict):
            raise invalid("each button must be {type: reply, reply: {id, title}}")
        _text_field(reply, "id", 256, "button.reply")
        _text_field(reply, "title", 20, "button.reply")
        ids.add(reply["id"])
        titles.add(reply["title"])
    if len(ids) != len(buttons) or len(titles) != len(buttons):
        raise invalid("button ids and titles must be unique")


def _check_list(interactive: dict[str, Any]) -> None:
    action = _interactive_body(interactive, 4096)
    _text_field(action, "button", 20, "interactive.action")
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise invalid("interactive.action.sections must hold 1 to 10 sections")
    rows = 0
    for section in sections:
        if not isinstance(section, dict) or not isinstance(section.get("rows"), list) or not section["rows"]:
            raise invalid("each section needs rows")
        _text_field(section, "title", 24, "section", required=len(sections) > 1)
        for row in section["rows"]:
            if not isinstance(row, dict):
                raise invalid("each row must be an object")
            _text_field(row, "id", 200, "row")
            _text_field(row, "title", 24, "row")
            _text_field(row, "description", 72, "row", required=False)
            rows += 1
    if rows > 10:
        raise invalid("a list holds at most 10 rows in total")


CHECKS: dict[str, Any] = {
    "text": _check_text,
    "template": _check_template,
    "interactive": _check_interactive,
    "reaction": _check_reaction,
    "location": _check_location,
    "contacts": _check_contacts,
    **{kind: _check_media(kind) for kind in MEDIA_TYPES},
}
