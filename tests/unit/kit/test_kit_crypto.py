"""Envelope encryption: AES-256-GCM under data keys wrapped by master keys (the DB-backed parts are in
tests/integration/ingest/test_inbound_hooks.py)."""

from __future__ import annotations

import uuid

import pytest
from pydantic_settings import SettingsConfigDict

from parley.kit import crypto
from parley.kit.crypto import CryptoError, EncryptionSettings, Keyring, KeyringError, load_keyring
from parley.kit.settings import ServiceSettings


class VaultSettings(ServiceSettings, EncryptionSettings):
    model_config = SettingsConfigDict(env_prefix="VAULT_", extra="ignore", populate_by_name=True)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PARLEY_ENV", "parley_env", "PARLEY_MASTER_KEYS", "parley_master_keys", "VAULT_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_sealed_data_opens_only_with_its_key_and_context() -> None:
    key = b"k" * 32
    sealed = crypto._seal(key, b"whsec_secret", b"hooks.secret:1")
    assert sealed[0] == crypto.FORMAT_VERSION and b"whsec_secret" not in sealed
    assert crypto._open(key, sealed, b"hooks.secret:1") == b"whsec_secret"
    with pytest.raises(CryptoError):
        crypto._open(key, sealed, b"hooks.secret:2")  # another row's context
    with pytest.raises(CryptoError):
        crypto._open(b"x" * 32, sealed, b"hooks.secret:1")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(CryptoError):
        crypto._open(key, tampered, b"hooks.secret:1")


def test_same_plaintext_encrypts_differently_each_time() -> None:
    assert crypto._seal(b"k" * 32, b"same", b"") != crypto._seal(b"k" * 32, b"same", b"")


def test_keyring_wraps_with_the_first_key_and_unwraps_with_any() -> None:
    old, new = Keyring.generate_entry("k1"), Keyring.generate_entry("k2")
    tenant, data_key = uuid.uuid4(), b"d" * 32
    kid, wrapped = Keyring.parse(old).wrap(tenant, data_key)
    rotated = Keyring.parse(f"{new},{old}")
    assert kid == "k1" and rotated.current.kid == "k2"
    assert rotated.unwrap(tenant, kid, wrapped) == data_key
    with pytest.raises(CryptoError, match="unknown master key"):
        Keyring.parse(new).unwrap(tenant, kid, wrapped)
    with pytest.raises(CryptoError):
        rotated.unwrap(uuid.uuid4(), kid, wrapped)  # a wrapped key moved to another tenant does not open


@pytest.mark.parametrize(("setting", "problem"), [
    ("", "at least one"),
    ("nokid", "kid:<base64"),
    ("k1:not base64!", "not valid base64"),
    ("k1:c2hvcnQ=", "32 bytes"),
    ("k1:" + "A" * 43 + "=,k1:" + "A" * 43 + "=", "unique"),
])
def test_malformed_master_keys_are_refused_with_the_reason(setting: str, problem: str) -> None:
    with pytest.raises(KeyringError, match=problem):
        Keyring.parse(setting)


def test_master_key_repr_never_shows_the_key() -> None:
    keyring = Keyring.parse(Keyring.generate_entry("prod-2026"))
    assert repr(keyring.current) == "MasterKey(kid='prod-2026')"


def test_dev_master_key_works_in_development_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_keyring().current.kid == "dev-only"
    assert VaultSettings().master_keys.get_secret_value() == crypto.DEV_MASTER_KEYS
    monkeypatch.setenv("PARLEY_ENV", "production")
    monkeypatch.setenv("VAULT_DATABASE_URL", "postgresql+asyncpg://vault:real@db/parley")
    with pytest.raises(KeyringError, match="PARLEY_MASTER_KEYS"):
        load_keyring()
    with pytest.raises(ValueError, match="master_keys"):
        VaultSettings()


def test_real_master_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ENV", "production")
    monkeypatch.setenv("VAULT_DATABASE_URL", "postgresql+asyncpg://vault:real@db/parley")
    entries = f"{Keyring.generate_entry('2026-11')},{Keyring.generate_entry('2026-05')}"
    monkeypatch.setenv("PARLEY_MASTER_KEYS", entries)
    settings = VaultSettings()
    assert load_keyring(settings).current.kid == "2026-11"
    assert list(load_keyring().keys) == ["2026-11", "2026-05"]
