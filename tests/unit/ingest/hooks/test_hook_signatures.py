"""Hook signatures: Standard Webhooks (the reference library signs) and HMAC-SHA256 in a configurable header."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from parley.ingest.hooks import signatures
from parley.ingest.hooks.signatures import SignatureInvalid, SignatureMissing, SignatureScheme, verify

STANDARD = SignatureScheme("standard-webhooks")
BODY = b'{"type":"purchase.approved","data":{"buyer":{"phone":"+5511987654321"}}}'


def standard_headers(secret: str, body: bytes, *, at: datetime | None = None, msg_id: str = "msg_1") -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


def test_standard_webhooks_round_trip_with_the_reference_library() -> None:
    secret = signatures.new_secret("standard-webhooks")
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    verify(STANDARD, [secret], BODY, standard_headers(secret, BODY))
    header_case = {k.title(): v for k, v in standard_headers(secret, BODY).items()}
    verify(STANDARD, [secret], BODY, header_case)


def test_standard_webhooks_refuse_a_tampered_body_or_another_secret() -> None:
    secret = signatures.new_secret("standard-webhooks")
    headers = standard_headers(secret, BODY)
    with pytest.raises(SignatureInvalid, match="No matching signature"):
        verify(STANDARD, [secret], BODY.replace(b"5511", b"5521"), headers)
    with pytest.raises(SignatureInvalid):
        verify(STANDARD, [signatures.new_secret("standard-webhooks")], BODY, headers)


def test_standard_webhooks_refuse_stale_timestamps_and_malformed_signatures() -> None:
    secret = signatures.new_secret("standard-webhooks")
    stale = standard_headers(secret, BODY, at=datetime.now(UTC) - timedelta(minutes=6))
    with pytest.raises(SignatureInvalid, match="too old"):
        verify(STANDARD, [secret], BODY, stale)
    with pytest.raises(SignatureInvalid, match="malformed"):
        verify(STANDARD, [secret], BODY, standard_headers(secret, BODY) | {"webhook-signature": "garbage"})
    with pytest.raises(SignatureInvalid, match="UTF-8"):
        verify(STANDARD, [secret], b"\xff", standard_headers(secret, b"x"))


def test_standard_webhooks_without_their_headers_is_missing_not_invalid() -> None:
    secret = signatures.new_secret("standard-webhooks")
    with pytest.raises(SignatureMissing, match="webhook-signature"):
        verify(STANDARD, [secret], BODY, {"webhook-id": "m", "webhook-timestamp": str(int(time.time()))})


def test_any_current_secret_verifies_during_rotation() -> None:
    old, new = signatures.new_secret("standard-webhooks"), signatures.new_secret("standard-webhooks")
    verify(STANDARD, [new, old], BODY, standard_headers(old, BODY))
    verify(STANDARD, [new, old], BODY, standard_headers(new, BODY))


@pytest.mark.parametrize("scheme", [
    SignatureScheme("hmac-sha256", "X-Signature", "hex", None),
    SignatureScheme("hmac-sha256", "X-Hub-Signature-256", "hex", "sha256="),
    SignatureScheme("hmac-sha256", "X-Grapfy-Signature", "base64", None),
])
def test_hmac_in_the_configured_header_encoding_and_prefix(scheme: SignatureScheme) -> None:
    secret = signatures.new_secret("hmac-sha256")
    digest = hmac.new(secret.encode(), BODY, hashlib.sha256).digest()
    value = (scheme.prefix or "") + (digest.hex() if scheme.encoding == "hex" else base64.b64encode(digest).decode())
    assert signatures.hmac_signature(secret, BODY, scheme) == value
    verify(scheme, [secret], BODY, {scheme.header.lower(): value})  # type: ignore[union-attr]
    if scheme.encoding == "hex":
        verify(scheme, [secret], BODY, {scheme.header: value.upper().replace("SHA256=", "sha256=")})  # type: ignore[dict-item]
    with pytest.raises(SignatureInvalid):
        verify(scheme, [secret], BODY + b" ", {scheme.header: value})  # type: ignore[dict-item]
    with pytest.raises(SignatureInvalid):
        verify(scheme, ["another-secret-entirely"], BODY, {scheme.header: value})  # type: ignore[dict-item]
    with pytest.raises(SignatureInvalid):
        verify(scheme, [secret], BODY, {scheme.header: "not-a-digest"})  # type: ignore[dict-item]
    with pytest.raises(SignatureMissing, match=scheme.header):  # type: ignore[arg-type]
        verify(scheme, [secret], BODY, {"content-type": "application/json"})


def test_tenant_supplied_standard_webhooks_secrets_must_be_whsec_base64() -> None:
    assert signatures.secret_problem("standard-webhooks", "whsec_" + base64.b64encode(b"k" * 24).decode()) is None
    assert signatures.secret_problem("standard-webhooks", "whsec_") is not None
    assert signatures.secret_problem("hmac-sha256", "any text the sender uses") is None
