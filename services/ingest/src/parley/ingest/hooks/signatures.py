"""How a hook's sender proves a body is authentic: Standard Webhooks headers, or an HMAC-SHA256 header."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from parley.kit.errors import Forbidden, Unauthorized

Scheme = Literal["standard-webhooks", "hmac-sha256"]
STANDARD_WEBHOOKS: Scheme = "standard-webhooks"
HMAC_SHA256: Scheme = "hmac-sha256"
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
DEFAULT_HMAC_HEADER = "X-Signature"


class SignatureMissing(Unauthorized):
    code = "signature_missing"


class SignatureInvalid(Forbidden):
    code = "signature_invalid"


@dataclass(frozen=True)
class SignatureScheme:
    scheme: Scheme
    header: str | None = None
    encoding: Literal["hex", "base64"] | None = None
    prefix: str | None = None


def new_secret(scheme: Scheme) -> str:
    """Standard Webhooks secrets are ``whsec_<base64 key>``; HMAC secrets are used as given (their UTF-8 bytes)."""
    if scheme == STANDARD_WEBHOOKS:
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(32)


def secret_problem(scheme: Scheme, secret: str) -> str | None:
    """Why a tenant-supplied secret cannot be used, or ``None``."""
    if scheme != STANDARD_WEBHOOKS:
        return None
    try:
        Webhook(secret)
    except Exception:  # noqa: BLE001 - the library raises several kinds for a bad secret
        return "a Standard Webhooks secret must be `whsec_` followed by base64"
    return None


def verify(scheme: SignatureScheme, secrets_: Sequence[str], body: bytes, headers: Mapping[str, str]) -> None:
    """Return when any secret signed this body; raise ``SignatureMissing`` (401) or ``SignatureInvalid`` (403)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if scheme.scheme == STANDARD_WEBHOOKS:
        _verify_standard(secrets_, body, lowered)
    else:
        _verify_hmac(scheme, secrets_, body, lowered)


def _verify_standard(secrets_: Sequence[str], body: bytes, headers: dict[str, str]) -> None:
    missing = [name for name in STANDARD_HEADERS if not headers.get(name)]
    if missing:
        raise SignatureMissing(f"Standard Webhooks headers are required: {', '.join(missing)} missing")
    reason = "no signature matches the body"
    for secret in secrets_:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return
        except WebhookVerificationError as exc:
            reason = str(exc)
        except UnicodeDecodeError:
            reason = "the body is not UTF-8, which Standard Webhooks signatures require"
        except (ValueError, binascii.Error):
            reason = "the webhook-signature header is malformed (expected `v1,<base64>`)"
    raise SignatureInvalid(f"the signature does not match the body: {reason}")


def _verify_hmac(scheme: SignatureScheme, secrets_: Sequence[str], body: bytes, headers: dict[str, str]) -> None:
    header = scheme.header or DEFAULT_HMAC_HEADER
    received = headers.get(header.lower(), "").strip()
    if not received:
        raise SignatureMissing(f"the {header} header is required")
    if scheme.prefix and received.lower().startswith(scheme.prefix.lower()):
        received = received[len(scheme.prefix):]
    digest = _decode_digest(received.strip(), scheme.encoding or "hex")
    if digest is not None and any(
        hmac.compare_digest(hmac.new(secret.encode(), body, hashlib.sha256).digest(), digest) for secret in secrets_
    ):
        return
    raise SignatureInvalid("the signature does not match the body")


def _decode_digest(value: str, encoding: str) -> bytes | None:
    try:
        return bytes.fromhex(value) if encoding == "hex" else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def hmac_signature(secret: str, body: bytes, scheme: SignatureScheme) -> str:
    """The header value a sender computes for the HMAC scheme (for tests and client examples)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    encoded = digest.hex() if (scheme.encoding or "hex") == "hex" else base64.b64encode(digest).decode()
    return (scheme.prefix or "") + encoded
