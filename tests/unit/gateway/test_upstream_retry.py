"""A pooled connection the service closed just as the gateway reused it: a read is sent again, a write is not."""

from __future__ import annotations

import httpx
import pytest

from parley.gateway.upstreams import Upstreams, UpstreamUnavailable


def _upstreams(calls: list[str]) -> Upstreams:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:  # the first attempt went out on a connection the server had just closed
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(200, json={"data": []})

    upstreams = Upstreams({"conversation": "http://conversation.test"}, timeout_seconds=5)
    upstreams.client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return upstreams


async def test_a_read_on_a_connection_closed_under_it_is_sent_again() -> None:
    calls: list[str] = []
    response = await _upstreams(calls).request("GET", "conversation", "/v1/conversations", query="",
                                               authorization="Bearer t")
    assert response.status_code == 200 and calls == ["GET", "GET"]


async def test_a_write_is_not_sent_twice_the_client_gets_a_502_and_may_retry_with_its_idempotency_key() -> None:
    calls: list[str] = []
    with pytest.raises(UpstreamUnavailable) as refused:
        await _upstreams(calls).request("POST", "conversation", "/v1/conversations/x/notes", query="",
                                        authorization="Bearer t", body=b"{}", content_type="application/json")
    assert calls == ["POST"] and refused.value.details == {"service": "conversation",
                                                           "reason": "RemoteProtocolError"}
