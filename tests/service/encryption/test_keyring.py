"""Where encryption keys come from: a generated, persisted, private key per data dir outside
production; production refuses to start without keys; malformed keys are refused by name."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

from service.encryption.keyring import (
    KEY_FILE,
    UndecryptableSecret,
    development_key,
    keyring_for,
)
from service.settings import Settings


def _settings(data_dir: Path, **values: object) -> Settings:
    return Settings(data_dir=data_dir, _env_file=None, **values)  # type: ignore[arg-type]


def test_development_key_is_generated_once_private_and_shared(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keys: list[str] = []
    threads = [
        threading.Thread(target=lambda: keys.append(development_key(data_dir))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1  # every racing process reads the one winner
    Fernet(keys[0])  # a real key, never a well-known placeholder
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE]
    token = keyring_for(_settings(data_dir)).encrypt("whsec_x")
    assert keyring_for(_settings(data_dir)).decrypt(token) == "whsec_x"
    with pytest.raises(UndecryptableSecret):
        keyring_for(_settings(tmp_path / "elsewhere")).decrypt(token)


def test_production_refuses_to_start_without_keys_and_names_a_bad_one(tmp_path: Path) -> None:
    production = {
        "environment": "production",
        "secret_key": SecretStr("s" * 40),
        "metrics_token": SecretStr("m" * 40),
    }
    with pytest.raises(ValidationError, match="TUNEFORGE_ENCRYPTION_KEYS must be set"):
        _settings(tmp_path, **production)
    good = Fernet.generate_key().decode()
    with pytest.raises(ValidationError, match="key 2 is not a Fernet key"):
        _settings(tmp_path, encryption_keys=SecretStr(f"{good},not-a-key"))
    settings = _settings(tmp_path, **production, encryption_keys=SecretStr(good))
    assert keyring_for(settings).decrypt(Fernet(good.encode()).encrypt(b"k").decode()) == "k"
    assert not (tmp_path / KEY_FILE).exists()


def test_the_first_key_encrypts_and_every_key_decrypts(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = keyring_for(_settings(tmp_path, encryption_keys=SecretStr(old)))
    token = before.encrypt("secret")
    both = keyring_for(_settings(tmp_path, encryption_keys=SecretStr(f"{new},{old}")))
    assert both.decrypt(token) == "secret" and not both.is_newest(token)
    rotated = both.rotate(token)
    assert both.is_newest(rotated)
    only_new = keyring_for(_settings(tmp_path, encryption_keys=SecretStr(new)))
    assert only_new.decrypt(rotated) == "secret"
    with pytest.raises(UndecryptableSecret):
        only_new.decrypt(token)
