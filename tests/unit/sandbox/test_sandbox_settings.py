"""Settings come from SANDBOX_* variables, including the token list and the chaos knobs."""

from __future__ import annotations

import os

import pytest

from parley.sandbox.settings import SandboxSettings


def test_environment_configures_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PORT", "9999")
    monkeypatch.setenv("SANDBOX_ACCESS_TOKENS", "token-a, token-b")
    monkeypatch.setenv("SANDBOX_THROUGHPUT_PER_SECOND", "20")
    monkeypatch.setenv("SANDBOX_PAIR_BURST", "10")
    monkeypatch.setenv("SANDBOX_CHAOS_DUPLICATE_PROBABILITY", "0.25")
    monkeypatch.setenv("SANDBOX_CHAOS_DELAY_MS", "100")
    settings = SandboxSettings()
    assert (settings.port, settings.access_tokens) == (9999, ["token-a", "token-b"])
    assert (settings.throughput_per_second, settings.pair_burst) == (20, 10)
    assert (settings.chaos.duplicate_probability, settings.chaos.delay_ms) == (0.25, 100)


def test_defaults_match_meta_and_the_dev_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SANDBOX_")]:
        monkeypatch.delenv(name)
    settings = SandboxSettings()
    assert settings.port == 8089
    assert settings.app_secret.get_secret_value() == "dev-only-app-secret"
    assert settings.access_tokens == ["dev-only-sandbox-token"]
    assert (settings.throughput_per_second, settings.pair_burst, settings.pair_interval_seconds) == (80, 45, 6.0)
    assert settings.chaos.duplicate_probability == settings.chaos.reorder_probability == 0.0
