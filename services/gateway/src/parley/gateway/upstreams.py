"""The other services as the gateway sees them: one shared HTTP client, readiness, forwarding."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import httpx
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from parley.kit.errors import DomainError
from parley.kit.service import Service
from parley.kit.telemetry import tracer

READINESS_TIMEOUT_SECONDS = 2.0


class UpstreamUnavailable(DomainError):
    code = "upstream_unavailable"
    status_code = 502


class Upstreams:
    """Base URLs of the services behind the gateway and the one client that talks to them."""

    def __init__(self, base_urls: Mapping[str, str], *, timeout_seconds: float) -> None:
        self.base_urls = dict(base_urls)
        # Created eagerly (it binds to no loop until used) so no request can arrive before it exists.
        self.client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)

    async def close(self, _: Service) -> None:
        await self.client.aclose()

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """One check per service: its ``/readyz`` answers 200."""
        return {name: self._readiness_check(url) for name, url in self.base_urls.items()}

    def _readiness_check(self, base_url: str) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            response = await self.client.get(f"{base_url}/readyz", timeout=READINESS_TIMEOUT_SECONDS)
            if response.status_code != 200:
                raise RuntimeError(f"/readyz answered {response.status_code}")

        return check

    async def request(self, method: str, service: str, path: str, *, query: str, authorization: str | None,
                      body: bytes = b"", content_type: str | None = None) -> httpx.Response:
        """``method path`` on ``service`` with the caller's credentials, body and the current trace context."""
        base_url = self.base_urls.get(service)
        if base_url is None:
            raise UpstreamUnavailable(f"the {service} service is not configured",
                                      details={"service": service})
        headers = {"accept": "application/json"}
        if authorization:
            headers["authorization"] = authorization
        if content_type:
            headers["content-type"] = content_type
        url = f"{base_url}{path}" + (f"?{query}" if query else "")
        with tracer().start_as_current_span(f"{method} {service}", kind=SpanKind.CLIENT) as span:
            span.set_attribute("http.request.method", method)
            span.set_attribute("url.full", url)
            propagate.inject(headers)
            try:
                response = await self.client.request(method, url, headers=headers, content=body or None)
            except httpx.TransportError as exc:
                reason = type(exc).__name__
                raise UpstreamUnavailable(f"the {service} service is unreachable",
                                          details={"service": service, "reason": reason}) from None
            span.set_attribute("http.response.status_code", response.status_code)
        return response
