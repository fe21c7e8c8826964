"""``python -m parley.ingest replay ...``: the operator's replay, without the HTTP API."""

from __future__ import annotations

import argparse
from datetime import datetime
from uuid import UUID

from parley.ingest import repository, service
from parley.kit.service import Service


async def replay(ingest: Service, argv: list[str]) -> str:
    """Re-publish stored webhooks by id, by time range, or by status (e.g. everything quarantined)."""
    parser = argparse.ArgumentParser(prog="python -m parley.ingest replay")
    selector = parser.add_mutually_exclusive_group(required=True)
    selector.add_argument("--id", dest="ids", action="append", type=UUID, help="a webhook id (repeatable)")
    selector.add_argument("--from", dest="received_from", type=datetime.fromisoformat,
                          help="received at or after (ISO 8601); --to bounds it")
    selector.add_argument("--status", choices=["quarantined", "parked", "received", "processed"])
    parser.add_argument("--to", dest="received_to", type=datetime.fromisoformat)
    args = parser.parse_args(argv)
    async with ingest.db.unit_of_work() as session:
        ids = args.ids or await repository.select_webhook_ids(
            session, status=args.status, received_from=args.received_from, received_to=args.received_to)
        count = await service.replay(session, ingest.store, ids)
    return f"ingest: {count} stored webhooks queued for replay"
