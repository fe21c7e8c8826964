"""Private notes are cursor-paginated both ways, like the timeline."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.conversation.conftest import Inbox, digits

pytestmark = pytest.mark.integration


async def _page(inbox: Inbox, url: str, **params: Any) -> tuple[list[str], dict[str, Any]]:
    response = await inbox.client.get(url, params=params)
    assert response.status_code == 200, response.text
    return [n["body"] for n in response.json()["data"]], response.json()["pagination"]


async def _conversation_with_notes(inbox: Inbox, count: int) -> str:
    customer = digits()
    await inbox.receive(customer, "hello")
    conversation_id = (await inbox.conversation_of(customer))["id"]
    for i in range(count):
        created = await inbox.client.post(f"/v1/conversations/{conversation_id}/notes", json={"body": f"note {i}"})
        assert created.status_code == 201, created.text
    return f"/v1/conversations/{conversation_id}/notes"


async def test_notes_page_forward_from_the_oldest_and_back(inbox: Inbox) -> None:
    url = await _conversation_with_notes(inbox, 7)
    first, info = await _page(inbox, url, limit=3)
    assert first == ["note 0", "note 1", "note 2"]
    assert info["has_more"] is True and info["prev_cursor"] is None
    second, info = await _page(inbox, url, limit=3, cursor=info["next_cursor"], direction="newer")
    assert second == ["note 3", "note 4", "note 5"]
    last, info = await _page(inbox, url, limit=3, cursor=info["next_cursor"], direction="newer")
    assert last == ["note 6"] and info["has_more"] is False and info["next_cursor"] is None
    back, info = await _page(inbox, url, limit=3, cursor=info["prev_cursor"], direction="older")
    assert back == ["note 3", "note 4", "note 5"], "prev_cursor walks back the other way"
    everything, _ = await _page(inbox, url)
    assert everything == [f"note {i}" for i in range(7)], "the default page holds 50, oldest first"


async def test_notes_page_back_from_the_latest(inbox: Inbox) -> None:
    url = await _conversation_with_notes(inbox, 5)
    latest, info = await _page(inbox, url, limit=2, direction="older")
    assert latest == ["note 3", "note 4"], "the latest notes, still in time order"
    earlier, info = await _page(inbox, url, limit=2, cursor=info["next_cursor"], direction="older")
    assert earlier == ["note 1", "note 2"]
    oldest, info = await _page(inbox, url, limit=2, cursor=info["next_cursor"], direction="older")
    assert oldest == ["note 0"] and info["has_more"] is False
    forward, _ = await _page(inbox, url, limit=2, cursor=info["prev_cursor"], direction="newer")
    assert forward == ["note 1", "note 2"]


async def test_notes_refuse_a_bad_cursor_and_other_tenants(inbox: Inbox) -> None:
    url = await _conversation_with_notes(inbox, 1)
    bad = await inbox.client.get(url, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"
    assert bad.json()["success"] is False
    too_many = await inbox.client.get(url, params={"limit": 201})
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "validation_error"
    inbox.principal = type(inbox.principal)(uuid.uuid4(), uuid.uuid4(), "owner")
    foreign = await inbox.client.get(url)
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "not_found"
