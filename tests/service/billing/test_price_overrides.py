"""``TUNEFORGE_PRICE_OVERRIDES`` reaches every place that prices or checks a model."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.billing.catalog import service_catalog
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file

MODEL = "gpt-4o-mini-2024-07-18"
OVERRIDES: dict[str, Any] = {
    "openai": {
        MODEL: {
            "price_per_million": "4.25",
            "price_source": "invoice 2026-11",
            "price_date": "2026-11-20",
        },
        "gpt-4o-2024-08-06": {"lifecycle": "retired", "lifecycle_date": "2026-11-01"},
    }
}


def test_overrides_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEFORGE_PRICE_OVERRIDES", json.dumps(OVERRIDES))
    assert Settings().price_overrides["openai"][MODEL]["price_per_million"] == "4.25"


def test_override_prices_estimates_and_catalog(
    app: FastAPI, db_session: Session, settings: Settings
) -> None:
    overridden = settings.model_copy(update={"price_overrides": OVERRIDES})
    prices = {m.model: m for m in service_catalog(overridden) if m.provider == "openai"}
    assert str(prices[MODEL].price) == "4.25"
    assert prices["gpt-4o-2024-08-06"].lifecycle == "retired"

    app.state.settings = overridden
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    file = make_file(db_session, settings, tenant)
    db_session.commit()
    with TestClient(app) as client:
        listing = client.get("/v1/providers", headers=auth(key)).json()
        openai = next(p for p in listing["data"] if p["id"] == "openai")
        model = next(m for m in openai["models"] if m["id"] == MODEL)
        assert model["price"]["amount"] == "4.25"
        assert model["price"]["source"] == "invoice 2026-11"

        retired = client.post(
            "/v1/fine_tuning/jobs",
            json={"model": "gpt-4o-2024-08-06", "training_file": file.id},
            headers=auth(key),
        )
        assert retired.status_code == 400, retired.text
        assert retired.json()["error"]["code"] == "provider_retired"

        def estimate() -> Decimal:
            job = client.post(
                "/v1/fine_tuning/jobs",
                json={"model": MODEL, "training_file": file.id, "hyperparameters": {"n_epochs": 1}},
                headers=auth(key),
            ).json()
            return Decimal(job["estimated_cost"]["amount"])

        at_override = estimate()
        app.state.settings = settings
        at_builtin = estimate()
    assert at_builtin > 0
    assert at_override / at_builtin == pytest.approx(Decimal("4.25") / prices_builtin(settings))


def prices_builtin(settings: Settings) -> Decimal:
    info = next(m for m in service_catalog(settings) if m.model == MODEL)
    assert info.price is not None
    return info.price
