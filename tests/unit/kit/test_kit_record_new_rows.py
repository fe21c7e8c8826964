"""``EventStore.record_new`` builds its rows without re-validating: they must equal what ``record_many`` stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from parley.contracts import Envelope
from parley.contracts.events.channels import ChannelUpdated
from parley.contracts.events.messages import MessageStatus
from parley.kit import eventstore
from parley.kit.db import service_metadata
from parley.kit.eventstore import Append, EventStore, define_kit_tables

STORE = EventStore(define_kit_tables(service_metadata("unit")), source="/parley/unit")


def _status() -> MessageStatus:
    return MessageStatus(status="delivered", wamid="wamid.HBgL", phone_number_id="106540352242922",
                         recipient_id="16505551234", timestamp=datetime(2026, 11, 22, 7, 0, tzinfo=UTC),
                         origin="meta")


@pytest.mark.parametrize(("payload", "tenant_id", "traceparent", "moment"), [
    (_status(), uuid.uuid4(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
     datetime(2026, 11, 22, 7, 1, 2, 345678, tzinfo=UTC)),
    (ChannelUpdated(phone_number_id="106540352242922", verified_name="Caf\u00e9"), None, None,
     datetime(2026, 11, 22, 7, 1, 2, tzinfo=UTC)),  # no microseconds: pydantic writes none either
])
def test_a_prevalidated_row_equals_the_validated_one(monkeypatch: pytest.MonkeyPatch, payload: BaseModel,
                                                     tenant_id: uuid.UUID | None, traceparent: str | None,
                                                     moment: datetime) -> None:
    monkeypatch.setattr(eventstore, "utcnow", lambda: moment)
    append = Append(payload, "message-status", "wamid.HBgL:delivered", 0, tenant_id, traceparent=traceparent)
    envelope, row = STORE._prevalidated(append)
    [expected_envelope], [expected_row] = STORE._wrap_all([append])

    validated = Envelope.wrap(payload, source="/parley/unit", tenant_id=tenant_id, subject=envelope.subject,
                              traceparent=envelope.traceparent, time=moment)
    assert row["envelope"] == validated.model_copy(update={"id": envelope.id}).model_dump(mode="json")
    assert Envelope.model_validate(row["envelope"]) == envelope
    assert {k: v for k, v in row.items() if k not in ("event_id", "envelope")} == \
        {k: v for k, v in expected_row.items() if k not in ("event_id", "envelope")}
    assert expected_envelope.subject == envelope.subject == "message-status/wamid.HBgL:delivered"
