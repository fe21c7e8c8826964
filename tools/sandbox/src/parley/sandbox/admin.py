"""The sandbox's own API under ``/sandbox``: registry, simulated customers, introspection, chaos."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from parley.sandbox import customers
from parley.sandbox.customers import SandboxError
from parley.sandbox.errors import GraphError
from parley.sandbox.graph import CurrentSandbox
from parley.sandbox.schemas import (
    CustomerUpdate,
    FaultInjection,
    NumberChoice,
    NumberRegistration,
    NumberUpdate,
    OptOut,
    WebhookTarget,
)
from parley.sandbox.settings import ChaosSettings
from parley.sandbox.store import BusinessNumber
from parley.sandbox.templates import parse_template

JsonObject = Annotated[dict[str, Any], Body()]
router = APIRouter(prefix="/sandbox", tags=["sandbox"])
probes = APIRouter(tags=["probes"])


@probes.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@probes.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    running = getattr(request.app.state, "dispatcher_running", False)
    return JSONResponse({"status": "ready" if running else "starting"}, status_code=200 if running else 503)


# --- registry ---------------------------------------------------------------------------------------

@router.post("/numbers", status_code=201, summary="Register (or replace) a business phone number")
async def register_number(registration: NumberRegistration, sandbox: CurrentSandbox) -> dict[str, Any]:
    number = BusinessNumber(**registration.model_dump())
    sandbox.store.numbers[number.phone_number_id] = number
    return number.describe(sandbox.settings.throughput_per_second)


@router.get("/numbers")
async def list_numbers(sandbox: CurrentSandbox) -> dict[str, Any]:
    default = sandbox.settings.throughput_per_second
    return {"numbers": [n.describe(default) for n in sandbox.store.numbers.values()]}


def _registered(sandbox: Any, phone_number_id: str) -> BusinessNumber:
    number = sandbox.store.numbers.get(phone_number_id)
    if number is None:
        raise SandboxError("unknown_number", f"phone number {phone_number_id} is not registered", 404)
    return number


@router.patch("/numbers/{phone_number_id}", summary="Change throughput, quality rating, token...")
async def update_number(phone_number_id: str, changes: NumberUpdate, sandbox: CurrentSandbox) -> dict[str, Any]:
    number = sandbox.update_number(_registered(sandbox, phone_number_id), changes.model_dump(exclude_unset=True))
    return number.describe(sandbox.settings.throughput_per_second)


@router.post("/numbers/{phone_number_id}/faults", summary="Make the next sends from the number fail with a code")
async def inject_faults(phone_number_id: str, fault: FaultInjection, sandbox: CurrentSandbox) -> dict[str, Any]:
    _registered(sandbox, phone_number_id)
    queue = sandbox.store.faults[phone_number_id]
    queue.extend([fault.code] * fault.times)
    return {"phone_number_id": phone_number_id, "pending_faults": list(queue)}


@router.post("/templates", status_code=201, summary="Register an approved template (Meta's creation shape)")
async def register_template(sandbox: CurrentSandbox, payload: JsonObject) -> dict[str, Any]:
    try:
        template = parse_template(payload)
    except GraphError as error:
        raise SandboxError("invalid_template", error.details) from None
    sandbox.store.add_template(template)
    return template.describe()


@router.get("/templates")
async def list_templates(sandbox: CurrentSandbox) -> dict[str, Any]:
    return {"templates": [t.describe() for t in sandbox.store.templates.values()]}


# --- simulated customers ----------------------------------------------------------------------------

@router.post("/customers/{wa_id}/messages", summary="The customer sends a message (any inbound type) → webhook")
async def customer_sends(wa_id: str, sandbox: CurrentSandbox, body: JsonObject) -> dict[str, Any]:
    return customers.send_inbound(sandbox, wa_id, body)


@router.post("/customers/{wa_id}/opt-out", summary="The customer sends STOP")
async def customer_opts_out(wa_id: str, choice: OptOut, sandbox: CurrentSandbox) -> dict[str, Any]:
    return customers.opt_out(sandbox, wa_id, choice.phone_number_id, choice.text)


@router.post("/customers/{wa_id}/block", summary="The customer blocks the business: sends fail with 131026")
async def customer_blocks(wa_id: str, sandbox: CurrentSandbox, choice: NumberChoice | None = None) -> dict[str, Any]:
    user = customers.set_blocked(sandbox, wa_id, (choice or NumberChoice()).phone_number_id, True)
    return user.describe(sandbox.clock.time())


@router.delete("/customers/{wa_id}/block", summary="The customer unblocks the business")
async def customer_unblocks(wa_id: str, sandbox: CurrentSandbox, phone_number_id: str | None = None) -> dict[str, Any]:
    return customers.set_blocked(sandbox, wa_id, phone_number_id, False).describe(sandbox.clock.time())


@router.put("/customers/{wa_id}", summary="Name the customer, take them off WhatsApp, stop them reading")
async def update_customer(wa_id: str, changes: CustomerUpdate, sandbox: CurrentSandbox) -> dict[str, Any]:
    user = customers.update(sandbox, wa_id, changes.model_dump(exclude_none=True))
    return user.describe(sandbox.clock.time())


@router.get("/customers/{wa_id}", summary="The customer's state, what they received and sent")
async def get_customer(wa_id: str, sandbox: CurrentSandbox) -> dict[str, Any]:
    return customers.describe(sandbox, customers.customer(sandbox, wa_id))


# --- introspection ----------------------------------------------------------------------------------

@router.get("/sends", summary="Every accepted send, oldest first")
async def list_sends(sandbox: CurrentSandbox, phone_number_id: str | None = None, recipient: str | None = None,
                     offset: int = 0, limit: int | None = None, payloads: bool = True) -> dict[str, Any]:
    chosen = [r for r in sandbox.store.sends
              if (phone_number_id is None or r.phone_number_id == phone_number_id)
              and (recipient is None or r.recipient == recipient)]
    page = chosen[offset:None if limit is None else offset + limit]
    described = [r.describe() for r in page]
    if not payloads:
        for item in described:
            item.pop("payload")
    return {"total": len(chosen), "sends": described}


@router.get("/read-receipts", summary="Mark-as-read and typing-indicator calls")
async def list_read_receipts(sandbox: CurrentSandbox) -> dict[str, Any]:
    return {"read_receipts": sandbox.store.read_receipts}


@router.get("/stats", summary="Per number: totals, max per 1 s window, duplicates, rejections; webhook delivery")
async def stats(sandbox: CurrentSandbox, per_second: bool = False) -> dict[str, Any]:
    return {"sends": sandbox.store.stats(per_second=per_second), "webhooks": sandbox.outbox.stats()}


@router.get("/webhooks", summary="Recent webhook POSTs and their attempts")
async def list_webhooks(sandbox: CurrentSandbox, state: str | None = None, payloads: bool = False) -> dict[str, Any]:
    return {"deliveries": sandbox.outbox.recent(state=state, payloads=payloads)}


@router.put("/webhook", summary="Point notifications elsewhere (and optionally sign with another secret)")
async def set_webhook(target: WebhookTarget, sandbox: CurrentSandbox) -> dict[str, Any]:
    sandbox.outbox.configure(url=target.url, app_secret=target.app_secret)
    return {"url": sandbox.outbox.url}


@router.put("/chaos", summary="Duplicates, reordering and delays of webhooks")
async def set_chaos(chaos: ChaosSettings, sandbox: CurrentSandbox) -> dict[str, Any]:
    sandbox.outbox.configure(url=sandbox.outbox.url, chaos=chaos)
    return chaos.model_dump()


@router.post("/reset", summary="Forget all activity; registry=true also restores numbers and templates")
async def reset(sandbox: CurrentSandbox, registry: bool = False) -> dict[str, Any]:
    sandbox.reset(registry=registry)
    return {"reset": True, "registry": registry}

