"""The keys that encrypt secrets at rest, and where they come from.

``TUNEFORGE_ENCRYPTION_KEYS`` lists Fernet keys newest first: the first encrypts, every one
decrypts, so a new key is added in front, ``tuneforge secrets rotate`` re-encrypts every
stored secret with it, and the old key can then be dropped. Outside production an unset
setting means a key generated once and kept in ``data_dir/encryption.key`` (0600), never a
well-known placeholder; production refuses to start without the setting."""

from __future__ import annotations

import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from service.private_paths import read_or_create_secret
from service.settings import Settings

KEY_FILE = "encryption.key"


class UndecryptableSecret(Exception):
    """A stored secret none of the configured keys opens (a key was dropped too early)."""


class Keyring:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._newest = Fernet(keys[0])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise UndecryptableSecret(
                "a stored secret cannot be decrypted with the configured encryption keys"
            ) from exc

    def rotate(self, token: str) -> str:
        """The same secret encrypted with the newest key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise UndecryptableSecret(
                "a stored secret cannot be decrypted with the configured encryption keys"
            ) from exc

    def is_newest(self, token: str) -> bool:
        """Whether the newest key alone opens ``token`` (no rotation needed)."""
        try:
            self._newest.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True


_lock = threading.Lock()
_keyrings: dict[tuple[str, ...], Keyring] = {}


def keyring_for(settings: Settings) -> Keyring:
    keys = configured_keys(settings)
    with _lock:
        found = _keyrings.get(tuple(keys))
        if found is None:
            found = _keyrings[tuple(keys)] = Keyring([key.encode("ascii") for key in keys])
        return found


def configured_keys(settings: Settings) -> list[str]:
    if settings.encryption_keys is not None:
        raw = settings.encryption_keys.get_secret_value()
        return [key.strip() for key in raw.split(",") if key.strip()]
    if settings.environment == "production":  # Settings refuses this already; never guess
        raise RuntimeError("TUNEFORGE_ENCRYPTION_KEYS is required in production")
    return [development_key(settings.data_dir)]


def development_key(data_dir: Path) -> str:
    """The data dir's own key, created on first use (see ``read_or_create_secret``)."""
    return read_or_create_secret(data_dir / KEY_FILE, Fernet.generate_key)
