"""Programmatic Alembic: ``tuneforge migrate`` and the tests run the same migrations."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from service.encryption.keyring import keyring_for
from service.encryption.migration import KEYRING_ATTRIBUTE
from service.private_paths import private_dir
from service.settings import Settings

ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


def alembic_config(database_url: str, settings: Settings | None = None) -> Config:
    config = Config()
    if settings is not None:  # migrations that encrypt rows use the service's own keys
        config.attributes[KEYRING_ATTRIBUTE] = keyring_for(settings)
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    # ConfigParser interpolation: a literal % in a URL (encoded password) must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def prepare_storage(settings: Settings) -> None:
    for folder in (settings.data_dir, settings.files_dir, settings.artifacts_dir):
        private_dir(folder)


def upgrade(settings: Settings, revision: str = "head") -> None:
    prepare_storage(settings)
    command.upgrade(alembic_config(settings.database_url, settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings.database_url, settings), revision)
