"""Bad input, generated: schemathesis drives every operation of the gateway's OpenAPI document (its own and the
services' forwarded ones) with valid and invalid requests, authenticated as a tenant owner, and the gateway must
answer no 5xx and nothing its document does not describe. Examples per operation are bounded to keep it short.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from parley.devstack.stack import Platform

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 6
#: Run last: it revokes the token every other operation is called with.
LAST = ("/v1/auth/logout",)


def _owner(gateway: str) -> dict[str, str]:
    response = httpx.post(f"{gateway}/v1/auth/signup", json={
        "tenant_name": "Fuzz", "email": f"fuzz-{uuid.uuid4().hex[:10]}@example.com", "password": "fuzz-password"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _public(operation: Any) -> bool:
    return operation.path.startswith(("/v1/", "/.well-known/"))


def test_generated_requests_get_no_server_error_and_only_documented_responses(running_platform: Platform) -> None:
    gateway = running_platform.url("gateway")
    document = httpx.get(f"{gateway}/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    operations = sorted((op.ok() for op in schema.get_all_operations()), key=lambda op: op.path in LAST)
    auth, failures, exercised = _owner(gateway), [], []

    for operation in filter(_public, operations):
        exercised.append(f"{operation.method.upper()} {operation.path}")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def call(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=gateway, headers=auth, timeout=30,
                                       checks=[not_a_server_error, response_schema_conformance])

            try:
                call()
            except Unsatisfiable:  # nothing to make invalid: the operation takes no input
                assert mode == GenerationMode.NEGATIVE, operation.path
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - one run reports every operation
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"[:3000])

    assert any(name.startswith("GET /v1/conversations") for name in exercised), exercised  # forwarded ones too
    assert not failures, "\n\n".join(failures)
