"""Provider lifecycle on a given day: a closing provider is warned about up to its last day
for new jobs and refused after it with alternatives; quotes and job creates say so."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.catalog import BUILTIN, find_model
from service.billing.lifecycle import ensure_takes_jobs, lifecycle_warnings
from service.billing.quotes import Quote, lifecycle_issues
from service.db.models import Job, JobEvent
from service.errors import InvalidRequest
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file

MINI = "gpt-4o-mini-2024-07-18"
LAST_DAY = date(2027, 1, 6)


def _openai() -> Any:
    info = find_model("openai", MINI)
    assert info is not None
    return info


def test_openai_is_warned_up_to_its_last_day_and_refused_after_it() -> None:
    info = _openai()
    [warning] = lifecycle_warnings(info, LAST_DAY)
    assert warning.code == "provider_closing" and warning.date == "2027-01-06"
    assert "no new fine-tuning jobs after 2027-01-06" in warning.message
    ensure_takes_jobs(info, list(BUILTIN), "supervised", LAST_DAY)
    with pytest.raises(InvalidRequest) as refused:
        ensure_takes_jobs(info, list(BUILTIN), "supervised", date(2027, 1, 7))
    assert refused.value.code == "provider_retired" and refused.value.param == "model"
    found = refused.value.extra["alternatives"]
    assert found and all("/" in name and not name.startswith("openai") for name in found)
    assert lifecycle_warnings(info, date(2027, 1, 7)) == []


def test_a_refused_open_weights_model_suggests_the_same_weights_elsewhere_first() -> None:
    llama = find_model("together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    assert llama is not None
    closed = replace(llama, jobs_end=date(2026, 1, 1))
    with pytest.raises(InvalidRequest) as refused:
        ensure_takes_jobs(closed, list(BUILTIN), "supervised", date(2026, 11, 29))
    found = refused.value.extra["alternatives"]
    assert found[0] == "fireworks/accounts/fireworks/models/llama-v3p1-8b-instruct"
    assert len(found) > 1 and not any(name.startswith("together/") for name in found)


def test_a_quote_warns_before_the_date_and_is_incompatible_after() -> None:
    before = Quote("openai", MINI)
    lifecycle_issues(_openai(), before, date(2026, 12, 1))
    assert before.compatible and [w["code"] for w in before.warnings] == ["provider_closing"]
    after = Quote("openai", MINI)
    lifecycle_issues(_openai(), after, date(2027, 1, 7))
    assert not after.compatible and [p["code"] for p in after.problems] == ["model_retired"]


def test_a_model_closing_without_a_jobs_end_is_only_warned() -> None:
    info = replace(_openai(), jobs_end=None, lifecycle_date=date(2026, 1, 1))
    assert [w.code for w in lifecycle_warnings(info, date(2027, 6, 1))] == ["model_closing"]
    ensure_takes_jobs(info, list(BUILTIN), "supervised", date(2027, 6, 1))


def _overridden(settings: Settings, jobs_end: str) -> Settings:
    overrides = {"openai": {MINI: {"jobs_end": jobs_end}}}
    return settings.model_copy(update={"price_overrides": overrides})


def test_job_create_warns_before_the_last_day_and_refuses_after(
    app: FastAPI, db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    file = make_file(db_session, settings, tenant)
    db_session.commit()
    body = {"model": MINI, "training_file": file.id}
    with TestClient(app) as client:
        app.state.settings = _overridden(settings, "2099-12-31")
        listing = client.get("/v1/providers", headers=auth(key)).json()["data"]
        openai = next(p for p in listing if p["id"] == "openai")
        mini = next(m for m in openai["models"] if m["id"] == MINI)
        assert mini["lifecycle"]["jobs_end"] == "2099-12-31"
        assert mini["inference_price"]["base_input"] == "0.15"
        assert mini["inference_price"]["input"] == "0.30"
        assert mini["inference_price"]["date"] == "2026-11-29"
        warned = client.post("/v1/fine_tuning/jobs", json=body, headers=auth(key))
        assert warned.status_code == 200, warned.text
        job = warned.json()
        assert [w["code"] for w in job["warnings"]] == ["provider_closing"]
        assert job["warnings"][0]["date"] == "2099-12-31"
        assert (
            "warnings"
            not in client.get(f"/v1/fine_tuning/jobs/{job['id']}", headers=auth(key)).json()
        )
        events = db_session.scalars(select(JobEvent).where(JobEvent.job_id == job["id"])).all()
        assert any(e.level == "warn" and "2099-12-31" in e.message for e in events)

        app.state.settings = _overridden(settings, "2020-01-01")
        refused = client.post("/v1/fine_tuning/jobs", json=body, headers=auth(key))
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["code"] == "provider_retired" and error["param"] == "model"
        assert "after 2020-01-01" in error["message"] and error["alternatives"]
        app.state.settings = settings
    db_session.expire_all()
    jobs = db_session.scalars(select(Job).where(Job.tenant_id == tenant.id)).all()
    assert [j.id for j in jobs] == [job["id"]]
