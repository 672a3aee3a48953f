"""A tenant may have at most ``max_active_jobs_per_tenant`` unfinished jobs; the next create is
429 ``active_job_limit_reached`` until one finishes; other tenants are not counted."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from providers.base import JobStatus
from service.db.models import Job
from service.errors import RateLimited
from service.settings import Settings
from service.tenants.quotas import check_active_eval_runs
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file

URL = "/v1/fine_tuning/jobs"


def test_unfinished_jobs_are_capped_per_tenant(
    app: FastAPI, db_session: Session, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"max_active_jobs_per_tenant": 2})
    tenant, other = make_tenant(db_session), make_tenant(db_session)
    headers, other_headers = auth(make_key(db_session, tenant)), auth(make_key(db_session, other))
    file, other_file = (
        make_file(db_session, settings, tenant),
        make_file(db_session, settings, other),
    )
    db_session.commit()
    body = {"model": "gpt-4o-mini-2024-07-18", "training_file": file.id}
    with TestClient(app) as client:
        created = [client.post(URL, json=body, headers=headers) for _ in range(2)]
        assert [r.status_code for r in created] == [200, 200], created[-1].text
        refused = client.post(URL, json=body, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "active_job_limit_reached"

        other_body = {"model": "gpt-4o-mini-2024-07-18", "training_file": other_file.id}
        assert client.post(URL, json=other_body, headers=other_headers).status_code == 200

        finished = db_session.get(Job, created[0].json()["id"])
        assert finished is not None
        finished.status = JobStatus.CANCELLED
        db_session.commit()
        assert client.post(URL, json=body, headers=headers).status_code == 200


def test_eval_runs_have_their_own_quota(settings: Settings) -> None:
    limited = settings.model_copy(update={"max_active_eval_runs_per_tenant": 3})
    check_active_eval_runs(limited, 2)
    try:
        check_active_eval_runs(limited, 3)
    except RateLimited as exc:
        assert exc.code == "active_eval_run_limit_reached" and exc.status_code == 429
    else:
        raise AssertionError("a fourth eval run was allowed")
