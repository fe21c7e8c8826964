"""Media of a conversation, fetched from Meta with the number's token and streamed through.

A customer's image, voice note or document arrives as a media id (``message.received``: id, MIME type,
sha256). Meta's download URL needs the number's access token and expires within minutes, so a client
cannot use it: it asks ``GET /v1/channels/{phone_number_id}/media/{media_id}`` and the sender resolves
the id with Meta (``GET /{media_id}?phone_number_id=``: Meta answers only for that number's media) and
streams the bytes back. Nothing is stored and the token never leaves the sender.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from parley.kit.errors import DomainError
from parley.sender.graph import GraphClient, json_object
from parley.sender.service import GraphUnavailable

#: Shown in place by a browser; anything else (documents, HTML a customer sent...) is offered as a download.
INLINE = ("image/", "audio/", "video/")


class MediaNotFound(DomainError):
    code = "media_not_found"
    status_code = 404


class ChannelNeedsToken(DomainError):
    code = "channel_needs_token"
    status_code = 409


class GraphRefused(DomainError):
    code = "graph_error"
    status_code = 502


@dataclass(frozen=True)
class Download:
    response: httpx.Response  # open, streaming: ``chunks`` closes it
    mime_type: str
    sha256: str | None


async def open_download(graph: GraphClient, phone_number_id: str, media_id: str, access_token: str) -> Download:
    """Resolve the media id with Meta and start the download; raises a ``DomainError`` saying what went wrong."""
    try:
        status, info = await graph.media_info(media_id, access_token, phone_number_id)
    except httpx.HTTPError as exc:
        raise GraphUnavailable(f"the Graph API could not be reached for media {media_id} ({type(exc).__name__})") \
            from None
    if status != 200 or not isinstance(info.get("url"), str):
        _refused(status, info, media_id)
    try:
        response = await graph.open_download(info["url"], access_token)
    except httpx.HTTPError as exc:
        raise GraphUnavailable(f"media {media_id} could not be downloaded from Meta ({type(exc).__name__})") from None
    if response.status_code != 200:
        await response.aread()
        await response.aclose()
        _refused(response.status_code, json_object(response), media_id)
    mime_type = info.get("mime_type") or response.headers.get("content-type") or "application/octet-stream"
    return Download(response, str(mime_type), info.get("sha256"))


def headers(download: Download) -> dict[str, str]:
    found = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff",
             "Content-Disposition": "inline" if download.mime_type.startswith(INLINE) else "attachment"}
    length = download.response.headers.get("content-length")
    if length and length.isdigit():
        found["Content-Length"] = length
    if download.sha256:
        found["ETag"] = f'"{download.sha256}"'
    return found


async def chunks(download: Download) -> AsyncIterator[bytes]:
    try:
        async for chunk in download.response.aiter_bytes():
            yield chunk
    finally:
        await download.response.aclose()


def _refused(status: int, body: dict[str, Any], media_id: str) -> None:
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code, details = error.get("code"), {"meta_code": error.get("code"), "http_status": status}
    if code == 190 or status == 401:
        raise ChannelNeedsToken("Meta refused the number's access token (code 190): replace it with "
                                "PUT /v1/channels/{phone_number_id}/access-token", details=details)
    if status in (400, 404):
        raise MediaNotFound(f"media {media_id} is not known to Meta for this number (Meta keeps media 30 days)",
                            details=details)
    raise GraphRefused(f"Meta did not hand over media {media_id}: {error.get('message') or f'HTTP {status}'}",
                       details=details)

