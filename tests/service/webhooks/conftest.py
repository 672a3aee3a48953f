"""Settings for the webhook tests (the database comes from the shared ``db_session``)."""

from __future__ import annotations

import pytest

from service.settings import Settings


@pytest.fixture()
def webhook_settings(settings: Settings) -> Settings:
    """Loopback receivers allowed and a fast schedule. The timeout is the production default's
    order of magnitude: at 0.5 s a loopback receiver on a loaded box sometimes answered too late
    and a test expecting its status code saw a timeout (the timeout test sets its own)."""
    return settings.model_copy(
        update={
            "webhook_allow_http": True,
            "webhook_allow_private": True,
            "webhook_timeout_s": 5.0,
            "webhook_retry_schedule_s": [5, 300, 1800],
            "webhook_disable_after_s": 5 * 24 * 3600,
            "webhook_secret_grace_s": 3600,
        }
    )


@pytest.fixture()
def strict_settings(webhook_settings: Settings) -> Settings:
    return webhook_settings.model_copy(
        update={
            "webhook_allow_http": False,
            "webhook_allow_private": False,
            "webhook_allow_any_port": False,
        }
    )
