"""The intake writes webhook.received envelopes by hand (hot path): they must be what the contracts produce."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest

from parley.contracts import Envelope
from parley.contracts.events.webhooks import WebhookReceived
from parley.contracts.registry import partition_key as registry_key
from parley.ingest.intake import Arrival, batch_arguments, envelope_json, partition_key

SOURCE = "/parley/ingest"


def _reference(arrival: Arrival) -> tuple[dict, str]:
    """What ``EventStore.record_many`` stored for this arrival before the intake bypassed it."""
    payload = WebhookReceived(
        webhook_id=arrival.webhook_id, kind=arrival.kind, hook=arrival.hook_name, received_at=arrival.received_at,
        content_sha256=arrival.sha256, size_bytes=len(arrival.body), phone_number_ids=arrival.phone_number_ids,
        payload=arrival.payload if arrival.inline else None)
    envelope = Envelope.wrap(payload, source=SOURCE, tenant_id=arrival.tenant_id,
                             subject=f"webhook/{arrival.webhook_id}", traceparent=arrival.traceparent,
                             time=arrival.received_at)
    envelope = envelope.model_copy(update={"id": arrival.event_id})
    return envelope.model_dump(mode="json"), registry_key(envelope, payload)


async def _arrivals() -> list[Arrival]:
    whatsapp = Arrival("whatsapp", b'{"entry":[]}', {"x-hub-signature-256": "sha256=00"}, {"entry": []},
                       ["106540352242922", "2"], False,
                       traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    no_number = Arrival("whatsapp", b"not json", {}, None, [], False)
    generic = Arrival("generic", '{"caf\u00e9": 1.5}'.encode(), {"content-type": "application/json"},
                      {"caf\u00e9": 1.5, "list": [1, None, "\u00e3"]}, [], True, tenant_id=uuid.uuid4(),
                      hook_id=uuid.uuid4(), hook_name="purchases")
    on_the_second = Arrival("generic", b"[1]", {}, [1], [], False, tenant_id=uuid.uuid4(), hook_id=uuid.uuid4(),
                            hook_name="h")
    on_the_second.received_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return [whatsapp, no_number, generic, on_the_second]


@pytest.mark.parametrize("index", range(4))
def test_hand_built_envelope_and_key_equal_what_the_contracts_produce(index: int) -> None:
    arrival = asyncio.run(_arrivals())[index]
    expected_envelope, expected_key = _reference(arrival)
    assert json.loads(envelope_json(arrival, SOURCE)) == expected_envelope
    assert Envelope.model_validate_json(envelope_json(arrival, SOURCE)).payload()  # consumers can read it back
    assert partition_key(arrival) == expected_key


def test_batch_arguments_line_up_rows_and_events() -> None:
    batch = asyncio.run(_arrivals())
    (ids, kinds, _, bodies, headers, shas, sizes, tenants, hooks, event_type, topic, event_ids, aggregate_ids,
     keys, envelopes) = batch_arguments(batch, SOURCE)
    assert ids == [a.webhook_id for a in batch] and aggregate_ids == [str(a.webhook_id) for a in batch]
    assert bodies == [a.body for a in batch], "raw bytes, byte-exact"
    assert [json.loads(h) for h in headers] == [a.headers for a in batch]
    assert sizes == [len(a.body) for a in batch] and kinds == ["whatsapp", "whatsapp", "generic", "generic"]
    assert (event_type, topic) == ("webhook.received", "webhook.received")
    assert len(set(event_ids) | set(ids)) == 2 * len(batch), "event ids and webhook ids are all distinct"
    assert [json.loads(e)["data"]["webhook_id"] for e in envelopes] == [str(i) for i in ids]
    assert len({len(shas), len(tenants), len(hooks), len(keys)}) == 1


def test_without_an_exporter_the_event_still_continues_the_callers_trace() -> None:
    from parley.ingest.fastpath import _child_of

    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    continued = _child_of({"traceparent": caller}).split("-")
    assert continued[1] == "0af7651916cd43dd8448eb211c80319c" and continued[2] != "b7ad6b7169203331"
    fresh = [_child_of({"traceparent": "garbage"}).split("-"), _child_of({}).split("-")]
    assert all(len(p[1]) == 32 and len(p[2]) == 16 and p[0] == "00" for p in fresh)
    assert fresh[0][1] != fresh[1][1], "a new trace per webhook when the caller sends none"
