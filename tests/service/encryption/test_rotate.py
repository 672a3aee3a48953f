"""``tuneforge secrets rotate`` re-encrypts every stored secret with the newest key; after it
the old key can be dropped and every secret still opens."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.credentials.service import CredentialFields, credentials_for, store_credentials
from service.encryption.keyring import keyring_for
from service.encryption.rotate import rotate_secrets
from service.settings import Settings
from service.webhooks.endpoints import create_endpoint, reveal_tenant_secret
from tests.factories import make_tenant


def _stored(session: Session) -> list[str]:
    rows = session.execute(
        text(
            "SELECT api_key_encrypted FROM provider_credentials "
            "UNION ALL SELECT secret FROM webhook_endpoints "
            "UNION ALL SELECT secret FROM tenant_webhook_secrets"
        )
    )
    return [row[0] for row in rows]


def test_rotation_moves_every_secret_to_the_newest_key(
    db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = settings.model_copy(update={"encryption_keys": SecretStr(old)})
    tenant = make_tenant(db_session)
    store_credentials(
        db_session, before, tenant.id, "together", CredentialFields(api_key="tenant-key-1234")
    )
    endpoint = create_endpoint(
        db_session, tenant.id, url="http://127.0.0.1:9/hook", settings=before
    )
    tenant_secret = reveal_tenant_secret(db_session, tenant.id, before).secret
    db_session.flush()
    ciphertexts = _stored(db_session)
    assert len(ciphertexts) == 3

    both = settings.model_copy(update={"encryption_keys": SecretStr(f"{new},{old}")})
    report = rotate_secrets(db_session, keyring_for(both))
    assert (report.provider_credentials, report.webhook_secrets) == (1, 2)
    db_session.expire_all()
    rotated = _stored(db_session)
    assert set(rotated).isdisjoint(ciphertexts)

    after = settings.model_copy(update={"encryption_keys": SecretStr(new)})
    assert credentials_for(db_session, after, tenant.id, "together").api_key == "tenant-key-1234"
    assert reveal_tenant_secret(db_session, tenant.id, after).secret == tenant_secret
    opened = {keyring_for(after).decrypt(token) for token in rotated}
    assert opened == {"tenant-key-1234", endpoint.secret, tenant_secret}

    again = rotate_secrets(db_session, keyring_for(both))
    assert (again.provider_credentials, again.webhook_secrets, again.already_current) == (0, 0, 3)
