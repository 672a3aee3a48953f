"""The admin session cookie: a signed, expiring token naming the admin API key that logged in,
and the per-session CSRF token that every form posts back.

The cookie is ``base64url(json).base64url(hmac_sha256(secret_key, json))``. It holds no secret
of its own: the API key itself never leaves the login form, only its id. Every request re-reads
the key, so revoking it (or making it a non-operator key) ends its sessions at once, and so
does logout, which moves the key's session generation past the one the cookie names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from service.settings import DEV_SECRET_KEY

SESSION_COOKIE = "tuneforge_admin"
LOGIN_CSRF_COOKIE = "tuneforge_admin_login"
FLASH_COOKIE = "tuneforge_admin_flash"
COOKIE_PATH = "/admin"


@dataclass(frozen=True)
class AdminSession:
    key_id: str
    tenant_id: str
    csrf_token: str
    issued_at: int
    generation: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 over a JSON payload, with a purpose string so that a token minted for one
    cookie can never be replayed as another."""

    def __init__(self, secret_key: str, purpose: str) -> None:
        if secret_key == DEV_SECRET_KEY:  # public: anyone could sign with it
            raise ValueError("the dashboard never signs with the placeholder secret key")
        self._key = hashlib.sha256(f"tuneforge-admin:{purpose}:{secret_key}".encode()).digest()

    def _mac(self, body: bytes) -> str:
        return _b64(hmac.new(self._key, body, hashlib.sha256).digest())

    def sign(self, payload: dict[str, str | int]) -> str:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(body)}.{self._mac(body)}"

    def unsign(self, token: str) -> dict[str, str | int] | None:
        encoded, _, mac = token.partition(".")
        try:
            body = _unb64(encoded)
        except ValueError:
            return None
        if not mac or not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def issue_session(
    secret_key: str,
    key_id: str,
    tenant_id: str,
    now: float | None = None,
    *,
    generation: int = 0,
) -> str:
    """A session of ``key_id`` under the key's current session ``generation`` (logout moves the
    key's generation on, which ends the session on the server)."""
    issued = int(now if now is not None else time.time())
    return Signer(secret_key, "session").sign(
        {"k": key_id, "t": tenant_id, "c": new_csrf_token(), "i": issued, "g": generation}
    )


def read_session(
    secret_key: str, token: str | None, max_age_s: int, now: float | None = None
) -> AdminSession | None:
    """The session in ``token``, or None if it is absent, forged, malformed or expired."""
    if not token:
        return None
    payload = Signer(secret_key, "session").unsign(token)
    if payload is None:
        return None
    key_id, tenant_id, csrf, issued = (payload.get(f) for f in ("k", "t", "c", "i"))
    if not (isinstance(key_id, str) and isinstance(tenant_id, str) and isinstance(csrf, str)):
        return None
    generation = payload.get("g")
    if not isinstance(issued, int) or not isinstance(generation, int):
        return None
    current = now if now is not None else time.time()
    if not issued <= current + 60 or current - issued > max_age_s:
        return None
    return AdminSession(
        key_id=key_id,
        tenant_id=tenant_id,
        csrf_token=csrf,
        issued_at=issued,
        generation=generation,
    )


def issue_flash(secret_key: str, message: str, level: str) -> str:
    return Signer(secret_key, "flash").sign({"m": message[:500], "l": level})


def read_flash(secret_key: str, token: str | None) -> tuple[str, str] | None:
    """(message, level) from a flash cookie, or None."""
    if not token:
        return None
    payload = Signer(secret_key, "flash").unsign(token)
    if payload is None:
        return None
    message, level = payload.get("m"), payload.get("l")
    if not isinstance(message, str) or level not in ("ok", "error"):
        return None
    return message, str(level)


def issue_login_csrf(secret_key: str) -> tuple[str, str]:
    """(cookie value, form token) for the login form, which has no session yet: the form's
    token must match the signed cookie (double submit)."""
    token = new_csrf_token()
    return Signer(secret_key, "login").sign({"c": token}), token


def login_csrf_valid(secret_key: str, cookie: str | None, presented: str | None) -> bool:
    if not cookie:
        return False
    payload = Signer(secret_key, "login").unsign(cookie)
    expected = payload.get("c") if payload else None
    return isinstance(expected, str) and tokens_match(presented, expected)
