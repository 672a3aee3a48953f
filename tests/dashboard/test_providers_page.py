"""The dashboard's providers page without a browser: price sources cite public pages with a
date, and ``local`` is listed with its models when a local models folder is configured."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.auth.roles import KeyRole
from service.settings import Settings
from service.tenants.service import create_api_key
from tests.factories import make_tenant


def _logged_in(client: TestClient, key: str) -> None:
    form = client.get("/admin/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert match is not None
    response = client.post(
        "/admin/login",
        data={"api_key": key, "csrf_token": match.group(1), "next": "/admin"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_providers_page_lists_local_models_and_public_price_sources(
    app: FastAPI, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    (models / "tiny-llama").mkdir(parents=True)
    (models / "tiny-llama" / "config.json").write_text('{"max_position_embeddings": 2048}')
    app.state.settings = settings.model_copy(update={"local_models_dir": models})
    key = create_api_key(db_session, make_tenant(db_session), role=KeyRole.OPERATOR).plaintext
    db_session.commit()
    with TestClient(app) as client:
        _logged_in(client, key)
        page = client.get("/admin/providers")
    assert page.status_code == 200, page.text
    assert 'id="p-local"' in page.text and "tiny-llama" in page.text
    assert "PROVIDERS.md" not in page.text
    assert "openai.com/api/pricing" in page.text and "fireworks.ai/pricing" in page.text


def test_local_is_listed_before_its_first_model_arrives(
    app: FastAPI, db_session: Session, settings: Settings, tmp_path: Path
) -> None:
    app.state.settings = settings.model_copy(update={"local_models_dir": tmp_path})
    key = create_api_key(db_session, make_tenant(db_session), role=KeyRole.OPERATOR).plaintext
    db_session.commit()
    with TestClient(app) as client:
        _logged_in(client, key)
        page = client.get("/admin/providers")
    assert page.status_code == 200, page.text
    assert 'id="p-local"' in page.text and str(tmp_path) in page.text
