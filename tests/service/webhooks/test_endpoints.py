from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.encryption.keyring import keyring_for
from service.errors import InvalidRequest, NotFound
from service.settings import Settings
from service.webhooks.endpoints import (
    create_endpoint,
    delete_endpoint,
    endpoint_secrets,
    get_endpoint,
    list_endpoints,
    reveal_tenant_secret,
    rotate_endpoint_secret,
    rotate_tenant_secret,
    tenant_secret,
    update_endpoint,
    validate_webhook_url,
)
from service.webhooks.events import TERMINAL_EVENTS
from tests.factories import make_tenant
from tests.service.webhooks.helpers import resolving_to

PUBLIC = resolving_to("93.184.216.34")


def test_create_shows_a_secret_and_defaults_to_terminal_events(
    db_session: Session, strict_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    created = create_endpoint(
        db_session,
        tenant.id,
        url="https://hooks.example.com/tf",
        settings=strict_settings,
        description="prod",
        resolver=PUBLIC,
    )
    assert created.secret.startswith("whsec_")
    assert created.endpoint.events == list(TERMINAL_EVENTS)
    assert created.endpoint.enabled
    assert list_endpoints(db_session, tenant.id) == [created.endpoint]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://hooks.example.com/tf", "must use https"),
        ("https://u:p@hooks.example.com/tf", "credentials"),
        ("https://10.0.0.1/tf", "private"),
        ("https://169.254.169.254/", "link-local"),
        ("https://[::ffff:10.0.0.1]/", "private"),
        ("https://rebind.example.com/", "resolves to a loopback"),
    ],
)
def test_hostile_urls_are_refused_at_registration(
    db_session: Session, strict_settings: Settings, url: str, fragment: str
) -> None:
    tenant = make_tenant(db_session)
    with pytest.raises(InvalidRequest) as caught:
        create_endpoint(
            db_session,
            tenant.id,
            url=url,
            settings=strict_settings,
            resolver=resolving_to("127.0.0.1"),
        )
    assert fragment in caught.value.message and caught.value.param == "url"
    with pytest.raises(InvalidRequest):
        validate_webhook_url(url, strict_settings, resolving_to("127.0.0.1"))


def test_bad_events_are_refused_naming_the_field(
    db_session: Session, strict_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    for events in (["fine_tuning.job.exploded"], []):
        with pytest.raises(InvalidRequest) as caught:
            create_endpoint(
                db_session,
                tenant.id,
                url="https://hooks.example.com/",
                settings=strict_settings,
                events=events,
                resolver=PUBLIC,
            )
        assert caught.value.param == "events"


def test_other_tenants_endpoints_are_not_found(
    db_session: Session, strict_settings: Settings
) -> None:
    owner, stranger = make_tenant(db_session), make_tenant(db_session)
    endpoint = create_endpoint(
        db_session,
        owner.id,
        url="https://hooks.example.com/",
        settings=strict_settings,
        resolver=PUBLIC,
    ).endpoint
    with pytest.raises(NotFound):
        get_endpoint(db_session, stranger.id, endpoint.id)
    with pytest.raises(NotFound):
        update_endpoint(db_session, stranger.id, endpoint.id, settings=strict_settings)
    with pytest.raises(NotFound):
        delete_endpoint(db_session, stranger.id, endpoint.id)
    with pytest.raises(NotFound):
        rotate_endpoint_secret(db_session, stranger.id, endpoint.id, settings=strict_settings)
    assert list_endpoints(db_session, stranger.id) == []


def test_update_and_reenable_clear_the_failure_state(
    db_session: Session, strict_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    endpoint = create_endpoint(
        db_session,
        tenant.id,
        url="https://hooks.example.com/",
        settings=strict_settings,
        resolver=PUBLIC,
    ).endpoint
    endpoint.enabled, endpoint.disabled_reason = False, "410 Gone"
    endpoint.failing_since = datetime.now(UTC)
    updated = update_endpoint(
        db_session,
        tenant.id,
        endpoint.id,
        settings=strict_settings,
        url="https://other.example.com/x",
        events=["fine_tuning.job.running"],
        enabled=True,
        resolver=PUBLIC,
    )
    assert updated.url == "https://other.example.com/x"
    assert updated.events == ["fine_tuning.job.running"]
    assert updated.enabled and updated.disabled_reason is None and updated.failing_since is None
    delete_endpoint(db_session, tenant.id, endpoint.id)
    assert list_endpoints(db_session, tenant.id) == []


def test_rotation_keeps_the_old_secret_for_the_grace_period(
    db_session: Session, strict_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    created = create_endpoint(
        db_session,
        tenant.id,
        url="https://hooks.example.com/",
        settings=strict_settings,
        resolver=PUBLIC,
    )
    now = datetime.now(UTC)
    rotated = rotate_endpoint_secret(
        db_session, tenant.id, created.endpoint.id, settings=strict_settings, now=now
    )
    assert rotated.secret != created.secret
    keyring = keyring_for(strict_settings)
    assert endpoint_secrets(rotated.endpoint, now, keyring) == [rotated.secret, created.secret]
    later = now + timedelta(seconds=strict_settings.webhook_secret_grace_s + 1)
    assert endpoint_secrets(rotated.endpoint, later, keyring) == [rotated.secret]


def test_tenant_secret_is_created_once_and_rotates(
    db_session: Session, strict_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    first = reveal_tenant_secret(db_session, tenant.id, strict_settings).secret
    assert first.startswith("whsec_")
    assert reveal_tenant_secret(db_session, tenant.id, strict_settings).secret == first
    rotated = rotate_tenant_secret(db_session, tenant.id, settings=strict_settings)
    assert rotated.secret != first
    row = tenant_secret(db_session, tenant.id, keyring_for(strict_settings))
    assert endpoint_secrets(row, datetime.now(UTC), keyring_for(strict_settings)) == [
        rotated.secret,
        first,
    ]


def test_signing_secrets_are_stored_encrypted(
    db_session: Session, strict_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    created = create_endpoint(
        db_session,
        tenant.id,
        url="https://hooks.example.com/",
        settings=strict_settings,
        resolver=PUBLIC,
    )
    revealed = reveal_tenant_secret(db_session, tenant.id, strict_settings)
    rotate_endpoint_secret(db_session, tenant.id, created.endpoint.id, settings=strict_settings)
    db_session.flush()
    stored = db_session.execute(
        text("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = :id"),
        {"id": created.endpoint.id},
    ).one()
    tenant_row = db_session.execute(
        text("SELECT secret FROM tenant_webhook_secrets WHERE tenant_id = :id"),
        {"id": tenant.id},
    ).one()
    keyring = keyring_for(strict_settings)
    for value in (*stored, *tenant_row):
        assert not value.startswith("whsec_") and value.startswith("gAAAAA")
    assert keyring.decrypt(stored.previous_secret) == created.secret
    assert keyring.decrypt(tenant_row.secret) == revealed.secret


def test_a_tenant_has_at_most_the_configured_number_of_endpoints(
    db_session: Session, strict_settings: Settings
) -> None:
    settings = strict_settings.model_copy(update={"webhook_max_endpoints": 3})
    tenant, other = make_tenant(db_session), make_tenant(db_session)
    for n in range(3):
        create_endpoint(
            db_session,
            tenant.id,
            url=f"https://h.example.com/{n}",
            settings=settings,
            resolver=PUBLIC,
        )
    with pytest.raises(InvalidRequest) as refused:
        create_endpoint(
            db_session,
            tenant.id,
            url="https://h.example.com/4",
            settings=settings,
            resolver=PUBLIC,
        )
    assert refused.value.code == "endpoint_limit_reached"
    # another tenant's quota is its own
    create_endpoint(
        db_session, other.id, url="https://h.example.com/1", settings=settings, resolver=PUBLIC
    )


def test_an_update_rechecks_the_stored_url_against_todays_policy(
    db_session: Session, webhook_settings: Settings, strict_settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    created = create_endpoint(
        db_session, tenant.id, url="http://127.0.0.1:9/hook", settings=webhook_settings
    )
    with pytest.raises(InvalidRequest) as refused:
        update_endpoint(
            db_session, tenant.id, created.endpoint.id, settings=strict_settings, description="x"
        )
    assert refused.value.param == "url"
    with pytest.raises(InvalidRequest):
        update_endpoint(
            db_session,
            tenant.id,
            created.endpoint.id,
            settings=strict_settings,
            url="https://hooks.example.com:8080/x",
            resolver=PUBLIC,
        )
