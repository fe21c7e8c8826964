"""Meta's X-Hub-Signature-256 over the raw bytes, against any of several app secrets (rotation)."""

from parley.ingest.service import signature_matches
from tests.support import meta

BODY = b'{"object":"whatsapp_business_account","text":"caf\\u00e9"}'


def test_any_configured_secret_verifies() -> None:
    assert signature_matches(BODY, meta.sign(BODY, "old-secret"), ["new-secret", "old-secret"])
    assert signature_matches(BODY, meta.sign(BODY, "new-secret"), ["new-secret", "old-secret"])


def test_wrong_secret_tampered_body_and_malformed_headers_fail() -> None:
    assert not signature_matches(BODY, meta.sign(BODY, "someone-else"), ["new-secret"])
    assert not signature_matches(BODY + b" ", meta.sign(BODY, "new-secret"), ["new-secret"])
    assert not signature_matches(BODY, meta.sign(BODY, "new-secret").replace("sha256=", "sha1="), ["new-secret"])
    assert not signature_matches(BODY, "sha256=", ["new-secret"])


def test_the_signature_is_over_bytes_as_received_not_re_serialised_json() -> None:
    reencoded = '{"object":"whatsapp_business_account","text":"café"}'.encode()
    assert not signature_matches(reencoded, meta.sign(BODY, "s"), ["s"])


def test_uppercase_hex_is_accepted() -> None:
    assert signature_matches(BODY, meta.sign(BODY, "s").upper().replace("SHA256=", "sha256="), ["s"])
