"""``/v1/openapi.json``: the gateway's own document merged with the forwarded parts of the services' documents.

Each service's ``/openapi.json`` is fetched, cached, and refetched every ``openapi_refresh_seconds``; when a
service is down the last copy is served. Only paths under the prefixes the gateway forwards to that service
are taken. Every forwarded operation gets the standard error responses and the bearer requirement.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from parley.gateway.access import FORWARDED
from parley.gateway.upstreams import Upstreams
from parley.kit.telemetry import get_logger

log = get_logger(__name__)
router = APIRouter()

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
ERROR_STATUSES = ("401", "403", "404", "409", "413", "422", "429", "502", "503")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: (f"#/components/schemas/{renames.get(value.rsplit('/', 1)[-1], value.rsplit('/', 1)[-1])}"
                      if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/")
                      else _rename_refs(value, renames)) for key, value in node.items()}
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def _with_gateway_responses(operation: dict[str, Any]) -> dict[str, Any]:
    responses = operation.setdefault("responses", {})
    for status in ERROR_STATUSES:
        responses[status] = {"description": "Error in the standard shape",
                             "content": {"application/json": {"schema": ERROR_REF}}}
    operation["security"] = [{"bearerAuth": []}]
    return operation


def merge(own: dict[str, Any], upstream_docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``own`` plus each service's paths under the prefixes it owns, schema names kept apart on conflict."""
    merged = copy.deepcopy(own)
    schemas = merged.setdefault("components", {}).setdefault("schemas", {})
    merged["components"].setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http", "scheme": "bearer", "description": "An access token, or an API key (pk_...)"}
    for service, doc in sorted(upstream_docs.items()):
        prefixes = [rule.prefix for rule in FORWARDED if rule.service == service]
        theirs = doc.get("components", {}).get("schemas", {})
        renames = {name: re.sub(r"[^A-Za-z0-9]", "", service.title()) + name for name, schema in theirs.items()
                   if name in schemas and schemas[name] != schema}
        for name, schema in theirs.items():
            schemas.setdefault(renames.get(name, name), _rename_refs(schema, renames))
        for path, item in doc.get("paths", {}).items():
            if not any(path == p or path.startswith(p + "/") for p in prefixes) or path in merged["paths"]:
                continue
            item = _rename_refs(item, renames)
            for method in HTTP_METHODS:
                if method in item:
                    _with_gateway_responses(item[method])
            merged["paths"][path] = item
    return merged


class UpstreamDocuments:
    """The services' OpenAPI documents, refetched when older than ``refresh_seconds``."""

    def __init__(self, upstreams: Upstreams, *, refresh_seconds: float) -> None:
        self.upstreams = upstreams
        self.refresh_seconds = refresh_seconds
        self.documents: dict[str, dict[str, Any]] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def current(self) -> dict[str, dict[str, Any]]:
        async with self._lock:
            if time.monotonic() - self._fetched_at >= self.refresh_seconds or not self.documents:
                services = sorted({rule.service for rule in FORWARDED if rule.service in self.upstreams.base_urls})
                await asyncio.gather(*(self._fetch(service) for service in services))
                self._fetched_at = time.monotonic()
        return self.documents

    async def _fetch(self, service: str) -> None:
        url = f"{self.upstreams.base_urls[service]}/openapi.json"
        try:
            response = await self.upstreams.client.get(url, timeout=3.0)
            response.raise_for_status()
            self.documents[service] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("cannot fetch a service's OpenAPI; serving the last copy", service=service, error=str(exc))


@router.get("/v1/openapi.json", tags=["meta"], summary="OpenAPI of the public API, the services' routes included")
async def public_openapi(request: Request) -> JSONResponse:
    documents: UpstreamDocuments = request.app.state.openapi_documents
    return JSONResponse(merge(request.app.openapi(), await documents.current()))
