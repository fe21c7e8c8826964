"""Revocation checks: which tokens a revocation refuses, and at most one Valkey round trip per cache window."""

from __future__ import annotations

import time
from typing import Any

import pytest

from parley.kit.errors import Forbidden, Unauthorized
from parley.kit.revocation import Revocation, RevocationCheck, Revocations


class FakeValkey:
    """The few commands revocations use, in memory, counting round trips."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.published: list[tuple[str, str]] = []
        self.round_trips = 0

    async def set(self, key: str, value: str, ex: int | None = None, nx: bool = False) -> bool:
        if nx and key in self.values:
            return False
        self.values[key] = value
        return True

    async def delete(self, key: str) -> None:
        self.values.pop(key, None)

    async def publish(self, channel: str, message: str) -> None:
        self.published.append((channel, message))

    async def mget(self, keys: list[str]) -> list[str | None]:
        self.round_trips += 1
        return [self.values.get(key) for key in keys]


def claims(**overrides: Any) -> dict[str, Any]:
    return {"jti": "t-1", "sid": "s-1", "sub": "u-1", "tid": "tenant-1", "iat": int(time.time()) - 5, **overrides}


async def test_a_revoked_session_refuses_its_tokens_and_only_them() -> None:
    valkey = FakeValkey()
    check = RevocationCheck(valkey, cache_seconds=60)  # type: ignore[arg-type]
    await Revocations(valkey).revoke_session("s-1", 900)  # type: ignore[arg-type]

    with pytest.raises(Unauthorized) as refused:
        await check.check(claims())
    assert refused.value.code == "token_revoked"
    await check.check(claims(sid="s-2", jti="t-2"))  # another session of the same user goes on


async def test_a_suspended_tenant_is_forbidden_until_reactivated() -> None:
    valkey = FakeValkey()
    revocations, check = Revocations(valkey), RevocationCheck(valkey, cache_seconds=0)  # type: ignore[arg-type]
    await revocations.suspend_tenant("tenant-1")

    with pytest.raises(Forbidden) as refused:
        await check.check(claims(iat=int(time.time()) + 60))  # whenever the token was issued
    assert refused.value.code == "tenant_suspended"

    await revocations.reactivate_tenant("tenant-1")
    await check.check(claims())
    assert [Revocation.decode(m) for _, m in valkey.published] == [
        Revocation("tid", "tenant-1"), Revocation("tid", "tenant-1", active=False)]


async def test_a_user_revocation_spares_tokens_issued_after_it() -> None:
    valkey = FakeValkey()
    check = RevocationCheck(valkey, cache_seconds=0)  # type: ignore[arg-type]
    await Revocations(valkey).revoke_user("u-1", 900)  # type: ignore[arg-type]

    with pytest.raises(Unauthorized):
        await check.check(claims())
    await check.check(claims(iat=int(time.time()) + 2))  # a re-enabled user's next login


async def test_one_round_trip_per_cache_window_and_forget_skips_the_wait() -> None:
    valkey = FakeValkey()
    check = RevocationCheck(valkey, cache_seconds=60)  # type: ignore[arg-type]
    for _ in range(5):
        await check.check(claims())
    assert valkey.round_trips == 1

    await Revocations(valkey).revoke_session("s-1", 900)  # type: ignore[arg-type]
    await check.check(claims())  # still the cached answer, within the window
    check.forget("sid", "s-1")
    with pytest.raises(Unauthorized):
        await check.check(claims())
    assert valkey.round_trips == 2


async def test_valkey_down_refuses_rather_than_accepts() -> None:
    class Down(FakeValkey):
        async def mget(self, keys: list[str]) -> list[str | None]:
            raise ConnectionError("refused")

    check = RevocationCheck(Down(), cache_seconds=1)  # type: ignore[arg-type]
    with pytest.raises(Exception) as refused:
        await check.check(claims())
    assert getattr(refused.value, "status_code", None) == 503
