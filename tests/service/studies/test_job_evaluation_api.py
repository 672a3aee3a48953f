"""``POST /v1/fine_tuning/jobs`` with ``evaluation`` (ours): checked and quoted as a whole before
anything is spent — a 4xx naming the field, or ``budget_exceeded`` naming the parts when the
training and the evaluation together exceed what is left of the tenant's monthly budget — then
the job trains on the train part of a frozen split and carries its pending evaluation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import Job, OutboxMessage, Study, Tenant, TenantBudget
from service.jobs.api.objects import FineTuningJob
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import chat_lines, jsonl, make_file

URL = "/v1/fine_tuning/jobs"
MINI = "gpt-4o-mini-2024-07-18"
EXACT: dict[str, Any] = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.ideal}}",
    "operation": "eq",
}


def _setup(session: Session, settings: Settings) -> tuple[str, dict[str, str], str]:
    tenant = make_tenant(session)
    key = make_key(session, tenant)
    file = make_file(session, settings, tenant, jsonl(chat_lines(40)))
    session.commit()
    return tenant.id, auth(key), file.id


def _body(file_id: str, **evaluation: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"testing_criteria": [EXACT], "holdout": 0.25, **evaluation}
    return {
        "model": MINI,
        "training_file": file_id,
        "evaluation": {k: v for k, v in spec.items() if v is not None},
    }


def _counts(session: Session, tenant_id: str) -> tuple[int, int]:
    session.expire_all()
    jobs = session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id))
    studies = session.scalar(
        select(func.count()).select_from(Study).where(Study.tenant_id == tenant_id)
    )
    return int(jobs or 0), int(studies or 0)


def test_a_job_with_evaluation_trains_on_the_train_part_and_carries_its_quoted_evaluation(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant_id, headers, file_id = _setup(db_session, settings)
    response = client.post(URL, json=_body(file_id), headers=headers)
    assert response.status_code == 200, response.text
    job = response.json()
    FineTuningJob.model_validate(job)
    evaluation = job["evaluation"]
    assert evaluation["status"] == "pending" and evaluation["eval_id"] is None
    # the job trains on the train part only; the test part never leaves tuneforge
    assert job["training_file"] == evaluation["train_file"] != file_id
    assert evaluation["test_file"] not in (file_id, job["training_file"])
    assert 0 < evaluation["test_items"] < 40
    # default baselines: the base model zero-shot and with 5 examples of the train split
    assert [(b["model"], b["few_shot"]) for b in evaluation["baselines"]] == [(MINI, 0), (MINI, 5)]
    parts = evaluation["quote"]["parts"]
    assert [(p["kind"], p["model"]) for p in parts] == [
        ("training", MINI),
        ("evaluation", MINI),
        ("evaluation", f"{MINI} (0-shot)"),
        ("evaluation", f"{MINI} (5-shot)"),
    ]
    assert Decimal(evaluation["quote"]["total"]["amount"]) == sum(
        Decimal(p["amount"]) for p in parts
    )
    assert evaluation["testing_criteria"] == ["exact"] and evaluation["primary"] == "exact"
    assert client.get(f"{URL}/{job['id']}", headers=headers).json()["evaluation"] == evaluation
    assert _counts(db_session, tenant_id) == (1, 1)
    study = db_session.scalars(select(Study).where(Study.tenant_id == tenant_id)).one()
    tasks = set(
        db_session.scalars(
            select(OutboxMessage.task).where(OutboxMessage.target_id.in_([job["id"], study.id]))
        )
    )
    assert "tuneforge.study_step" in tasks and len(tasks) == 2
    # the attached evaluation is read through its job, not as a study of its own
    assert client.get("/v1/fine_tuning/studies", headers=headers).json()["data"] == []
    assert client.get(f"/v1/fine_tuning/studies/{study.id}", headers=headers).status_code == 404
    listed = client.get(URL, headers=headers).json()["data"]
    assert [j["evaluation"]["status"] for j in listed] == ["pending"]


def test_a_job_without_evaluation_has_no_evaluation_field(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    _, headers, file_id = _setup(db_session, settings)
    response = client.post(URL, json={"model": MINI, "training_file": file_id}, headers=headers)
    assert response.status_code == 200, response.text
    assert "evaluation" not in response.json()
    assert response.json()["training_file"] == file_id


def test_the_evaluation_counts_against_the_tenants_budget_before_anything_is_spent(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    """A monthly budget that holds the training alone refuses the job with its evaluation."""
    tenant_id, headers, file_id = _setup(db_session, settings)
    tenant = db_session.get(Tenant, tenant_id)
    assert tenant is not None
    test_file = make_file(db_session, settings, tenant, jsonl(chat_lines(8))).id
    alone = client.post(URL, json={"model": MINI, "training_file": file_id}, headers=headers)
    training = Decimal(alone.json()["estimated_cost"]["amount"])
    client.post(f"{URL}/{alone.json()['id']}/cancel", headers=headers)
    db_session.add(TenantBudget(tenant_id=tenant_id, monthly_limit=training))
    db_session.commit()
    body = _body(file_id, holdout=None, test_file=test_file)
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "budget_exceeded" and "monthly budget" in error["message"]
    assert "job and its evaluation" in error["message"]
    assert [p["kind"] for p in error["parts"]] == ["training", *["evaluation"] * 3]
    assert Decimal(error["total"]) > training
    assert f"evaluation openai/{MINI} (5-shot)" in error["message"]
    assert _counts(db_session, tenant_id) == (1, 0)  # only the cancelled job without evaluation
    # the training alone still fits
    del body["evaluation"]
    assert client.post(URL, json=body, headers=headers).status_code == 200


def test_a_pending_evaluations_quote_is_committed_so_two_creates_cannot_overspend(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    """Between create and run, the evaluation's quote is held in the budget's ``committed``
    beside the job's training estimate: a budget that holds one job with its evaluation and a
    half, and the training of the second besides, refuses the second."""
    tenant_id, headers, file_id = _setup(db_session, settings)
    first = client.post(URL, json=_body(file_id), headers=headers)
    assert first.status_code == 200, first.text
    quote = first.json()["evaluation"]["quote"]
    total = Decimal(quote["total"]["amount"])
    evaluation = sum(
        (Decimal(p["amount"]) for p in quote["parts"] if p["kind"] == "evaluation"), Decimal(0)
    )
    assert 0 < evaluation < total
    # without the evaluation held, what is left (limit - training) would fit the second whole
    limit = 2 * total - evaluation / 2
    db_session.add(TenantBudget(tenant_id=tenant_id, monthly_limit=limit))
    db_session.commit()
    budget = client.get("/v1/budget", headers=headers).json()
    assert Decimal(budget["committed"]) == total
    second = client.post(URL, json=_body(file_id), headers=headers)
    assert second.status_code == 400, second.text
    error = second.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert Decimal(error["budget"]["committed"]) == total
    assert _counts(db_session, tenant_id) == (1, 1)


@pytest.mark.parametrize(
    ("evaluation", "param"),
    [
        ({"bogus": 1}, "evaluation.bogus"),
        ({"holdout": 0}, "evaluation.holdout"),
        ({"holdout": 1}, "evaluation.holdout"),
        ({"holdout": 0.2, "test_file": "file-nope"}, "evaluation.test_file"),
        ({"holdout": None, "test_file": "file-nope"}, "evaluation.test_file"),
        ({"testing_criteria": []}, "evaluation.testing_criteria"),
        (
            {"testing_criteria": [{**EXACT, "reference": "{{item.label}}"}]},
            "evaluation.testing_criteria[0].reference",
        ),
        ({"baselines": []}, "evaluation.baselines"),
        ({"baselines": [{"model": MINI, "few_shot": 40}]}, "evaluation.baselines[0].few_shot"),
        ({"baselines": [{"model": MINI, "few_shot": 65}]}, "evaluation.baselines[0].few_shot"),
        ({"baselines": [{"model": "gpt-nope"}]}, "evaluation.baselines[0].model"),
        ({"primary": "nope"}, "evaluation.primary"),
    ],
)
def test_bad_evaluation_input_is_a_4xx_naming_the_field_before_anything_is_spent(
    client: TestClient,
    db_session: Session,
    settings: Settings,
    evaluation: dict[str, Any],
    param: str,
) -> None:
    tenant_id, headers, file_id = _setup(db_session, settings)
    response = client.post(URL, json=_body(file_id, **evaluation), headers=headers)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    assert _counts(db_session, tenant_id) == (0, 0)


def test_the_jobs_own_bad_fields_keep_their_names(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant_id, headers, file_id = _setup(db_session, settings)
    for changes, param in (
        ({"model": "gpt-nope"}, "model"),
        ({"training_file": "file-nope"}, "training_file"),
        ({"provider_options": {"bogus": 1}}, "provider_options.bogus"),
    ):
        response = client.post(URL, json={**_body(file_id), **changes}, headers=headers)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"]["param"] == param, response.json()
    assert _counts(db_session, tenant_id) == (0, 0)
