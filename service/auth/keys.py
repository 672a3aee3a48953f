"""API keys: shown once at creation, stored only as a SHA-256 digest (keys carry 238 bits of
randomness, so a fast hash is safe and keeps every request's lookup to one indexed read)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "tf_"


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    digest: str


def generate_key() -> NewKey:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(30)
    return NewKey(plaintext=plaintext, prefix=plaintext[:10], digest=hash_key(plaintext))


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()
