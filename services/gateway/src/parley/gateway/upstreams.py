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
#: An idle pooled connection is dropped after this long: well before the services close theirs
#: (``HTTP_KEEP_ALIVE_SECONDS``, 65 s; uvicorn's own default is 5 s). A connection the server closes
#: just as the gateway reuses it fails that request ("server disconnected"), someone else's request.
IDLE_CONNECTION_SECONDS = 4.0
#: Methods that change nothing: sent again once when the connection they went out on turned out closed.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UpstreamUnavailable(DomainError):
    code = "upstream_unavailable"
    status_code = 502


class Upstreams:
    """Base URLs of the services behind the gateway and the one client that talks to them."""

    def __init__(self, base_urls: Mapping[str, str], *, timeout_seconds: float) -> None:
        self.base_urls = dict(base_urls)
        # Created eagerly (it binds to no loop until used) so no request can arrive before it exists.
        self.client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False,
                                        limits=httpx.Limits(keepalive_expiry=IDLE_CONNECTION_SECONDS))

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

    def _build(self, method: str, service: str, path: str, *, query: str, authorization: str | None,
               body: bytes, content_type: str | None, idempotency_key: str | None) -> httpx.Request:
        base_url = self.base_urls.get(service)
        if base_url is None:
            raise UpstreamUnavailable(f"the {service} service is not configured", details={"service": service})
        # identity: the body streams through byte for byte, so it must not arrive compressed
        headers = {"accept": "application/json", "accept-encoding": "identity"}
        if authorization:
            headers["authorization"] = authorization
        if content_type:
            headers["content-type"] = content_type
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        url = f"{base_url}{path}" + (f"?{query}" if query else "")
        return self.client.build_request(method, url, headers=headers, content=body or None)

    async def _send(self, service: str, request: httpx.Request, *, stream: bool) -> httpx.Response:
        with tracer().start_as_current_span(f"{request.method} {service}", kind=SpanKind.CLIENT) as span:
            span.set_attribute("http.request.method", request.method)
            span.set_attribute("url.full", str(request.url))
            propagate.inject(request.headers)
            try:
                try:
                    response = await self.client.send(request, stream=stream)
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):  # a pooled connection closed
                    # under us, nothing answered: a request that changes nothing is simply sent again
                    if request.method not in SAFE_METHODS:
                        raise
                    response = await self.client.send(request, stream=stream)
            except httpx.TransportError as exc:
                raise UpstreamUnavailable(f"the {service} service is unreachable",
                                          details={"service": service, "reason": type(exc).__name__}) from None
            span.set_attribute("http.response.status_code", response.status_code)
        return response

    async def request(self, method: str, service: str, path: str, *, query: str, authorization: str | None,
                      body: bytes = b"", content_type: str | None = None,
                      idempotency_key: str | None = None) -> httpx.Response:
        """``method path`` on ``service`` with the caller's credentials, body and the current trace context."""
        built = self._build(method, service, path, query=query, authorization=authorization, body=body,
                            content_type=content_type, idempotency_key=idempotency_key)
        return await self._send(service, built, stream=False)

    async def open(self, method: str, service: str, path: str, *, query: str, authorization: str | None,
                   body: bytes = b"", content_type: str | None = None) -> httpx.Response:
        """Like ``request`` but the body is left unread, to stream; the caller closes the response."""
        built = self._build(method, service, path, query=query, authorization=authorization, body=body,
                            content_type=content_type, idempotency_key=None)
        return await self._send(service, built, stream=True)
