"""The keyring a migration encrypts with: the one ``service.db.migrations`` hands over, or the
environment's (``alembic upgrade`` run by hand)."""

from __future__ import annotations

from alembic import context
from service.encryption.keyring import Keyring, keyring_for
from service.settings import get_settings

KEYRING_ATTRIBUTE = "tuneforge_keyring"


def migration_keyring() -> Keyring:
    given = context.config.attributes.get(KEYRING_ATTRIBUTE)
    if isinstance(given, Keyring):
        return given
    return keyring_for(get_settings())
