"""``tuneforge secrets rotate``: every secret stored encrypted, re-encrypted with the newest
key, in one transaction, so that the older keys can then be dropped from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.credentials.repository import CredentialRepository
from service.encryption.keyring import Keyring
from service.webhooks.repository import WebhookRepository


@dataclass(frozen=True)
class RotationReport:
    provider_credentials: int
    webhook_secrets: int
    already_current: int


def rotate_secrets(session: Session, keyring: Keyring) -> RotationReport:
    """Raises ``UndecryptableSecret`` (and so changes nothing) if a stored secret opens with
    none of the keys: the key it needs was dropped before its rows were rotated."""
    rotated_credentials = rotated_webhooks = current = 0

    def rotated(token: str) -> str:
        nonlocal current
        if keyring.is_newest(token):
            current += 1
            return token
        return keyring.rotate(token)

    for credential in CredentialRepository(session).all_for_update():
        new = rotated(credential.api_key_encrypted)
        if new != credential.api_key_encrypted:
            credential.api_key_encrypted = new
            rotated_credentials += 1
    for holder in WebhookRepository(session).secret_holders_for_update():
        secret = rotated(holder.secret)
        previous = rotated(holder.previous_secret) if holder.previous_secret else None
        if secret != holder.secret or previous != holder.previous_secret:
            holder.secret, holder.previous_secret = secret, previous
            rotated_webhooks += 1
    session.flush()
    return RotationReport(rotated_credentials, rotated_webhooks, current)
