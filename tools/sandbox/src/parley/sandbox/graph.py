"""The Graph API surface: ``/{version}/{phone_number_id}/messages``, media, number details."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Receive, Scope, Send

from parley.sandbox.errors import GraphError, invalid, unknown_object
from parley.sandbox.service import Sandbox
from parley.sandbox.store import BusinessNumber, Media

router = APIRouter(tags=["graph api"])
VERSION = re.compile(r"^v\d+\.\d+$")
SEND_PATH = re.compile(r"^/([^/]+)/([^/]+)/messages$")


async def get_sandbox(request: Request) -> Sandbox:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop on every request.
    return request.app.state.sandbox


CurrentSandbox = Annotated[Sandbox, Depends(get_sandbox)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query_params.get("access_token")


def _check_version(version: str) -> None:
    if not VERSION.match(version):
        raise GraphError(2500, f"Unknown path components: /{version}")


def _number(sandbox: Sandbox, request: Request, version: str, phone_number_id: str, method: str) -> BusinessNumber:
    _check_version(version)
    found = sandbox.authorize(phone_number_id, bearer_token(request), method)
    if not isinstance(found, BusinessNumber):
        raise invalid(f"{phone_number_id} is not a business phone number")
    return found


@router.post("/{version}/{phone_number_id}/messages", summary="Send a message, mark one read, show typing")
async def post_messages(version: str, phone_number_id: str, request: Request, sandbox: CurrentSandbox) -> JSONResponse:
    number = _number(sandbox, request, version, phone_number_id, "post")
    try:
        body: Any = json.loads(await request.body())
    except ValueError:
        raise invalid("the request body must be JSON") from None
    return JSONResponse(sandbox.post_messages(number, body))


class SendFastPath:
    """Answers ``POST /{version}/{phone_number_id}/messages`` with the route's own code, before FastAPI's routing
    and dependency resolution: those were most of the sandbox's CPU per send, and benchmarks send 400/s."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = SEND_PATH.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None or match[1] == "sandbox":
            await self.app(scope, receive, send)
            return
        try:
            response: Response = await post_messages(match[1], match[2], Request(scope, receive), self.sandbox)
        except GraphError as error:
            response = error.response()
        await response(scope, receive, send)


@router.post("/{version}/{phone_number_id}/media", summary="Upload media (multipart: file, type, messaging_product)")
async def upload_media(version: str, phone_number_id: str, request: Request, sandbox: CurrentSandbox) -> JSONResponse:
    number = _number(sandbox, request, version, phone_number_id, "post")
    try:
        form = await request.form()
    except Exception:  # starlette raises several types for a malformed body
        raise invalid("the upload must be multipart/form-data") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise invalid("file is required")
    data = await upload.read()
    declared = form.get("type")
    mime_type = declared if isinstance(declared, str) and declared else upload.content_type
    product = form.get("messaging_product")
    return JSONResponse(sandbox.upload_media(number, data, mime_type, upload.filename,
                                             product if isinstance(product, str) else None))


@router.get("/{version}/{object_id}", summary="A phone number's details, or a media object's URL")
async def get_object(version: str, object_id: str, request: Request, sandbox: CurrentSandbox,
                     fields: str | None = None, phone_number_id: str | None = None) -> JSONResponse:
    _check_version(version)
    media = sandbox.store.media.get(object_id)
    if phone_number_id is not None and media is not None and media.phone_number_id != phone_number_id:
        # Meta: with phone_number_id the request is processed for that number only, and this is not its media.
        sandbox.authorize(phone_number_id, bearer_token(request), "get")
        raise unknown_object(object_id, "get")
    found = sandbox.authorize(object_id, bearer_token(request), "get")
    if isinstance(found, Media):
        return JSONResponse(sandbox.media_info(found, str(request.base_url)))
    return JSONResponse(sandbox.number_details(found, fields))


@router.delete("/{version}/{media_id}", summary="Delete uploaded media")
async def delete_media(version: str, media_id: str, request: Request, sandbox: CurrentSandbox) -> JSONResponse:
    _check_version(version)
    found = sandbox.authorize(media_id, bearer_token(request), "delete")
    if not isinstance(found, Media):
        raise invalid(f"{media_id} is not a media object")
    sandbox.store.delete_media(media_id)
    return JSONResponse({"success": True})


@router.get("/sandbox/media/{media_id}/download", summary="The bytes behind a media URL (needs the token)")
async def download_media(media_id: str, request: Request, sandbox: CurrentSandbox) -> Response:
    found = sandbox.authorize(media_id, bearer_token(request), "get")
    if not isinstance(found, Media):
        raise invalid(f"{media_id} is not a media object")
    return Response(sandbox.store.media_bytes(media_id), media_type=found.mime_type)
