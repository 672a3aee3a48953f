"""Fixtures for the webhook tests: the shared migrated ``db_session`` plus a tenant and job."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from service.db.models import Base, TenantWebhookSecret
from service.settings import Settings


@pytest.fixture()
def webhook_session(db_session: Session) -> Session:
    # Until the migration for tenant_webhook_secrets lands, create it inside the test's
    # rolled-back transaction (a no-op once the migrated schema has it).
    Base.metadata.tables[TenantWebhookSecret.__tablename__].create(
        db_session.connection(), checkfirst=True
    )
    return db_session


@pytest.fixture()
def webhook_settings(settings: Settings) -> Settings:
    """Loopback receivers allowed, short timeout and a fast schedule."""
    return settings.model_copy(
        update={
            "webhook_allow_http": True,
            "webhook_allow_private": True,
            "webhook_timeout_s": 0.5,
            "webhook_retry_schedule_s": [5, 300, 1800],
            "webhook_disable_after_s": 5 * 24 * 3600,
            "webhook_secret_grace_s": 3600,
        }
    )


@pytest.fixture()
def strict_settings(webhook_settings: Settings) -> Settings:
    return webhook_settings.model_copy(
        update={"webhook_allow_http": False, "webhook_allow_private": False}
    )
