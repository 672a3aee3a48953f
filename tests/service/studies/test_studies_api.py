"""``/v1/fine_tuning/studies``: a study is checked and quoted before anything is spent, refused
with a 4xx naming the field (or ``budget_exceeded`` naming the total and its parts), and then
launches its candidates through the normal job create on the train split only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import Job, OutboxMessage, Study, TenantBudget
from service.errors import InvalidRequest
from service.settings import Settings
from service.studies.schemas import CreateStudyRequest
from service.studies.service import create_study
from tests.factories import auth, make_key, make_tenant
from tests.service.evals.criteria import IDEAL_EXACT
from tests.service.jobs.helpers import chat_lines, jsonl, make_file

URL = "/v1/fine_tuning/studies"
MINI = "gpt-4o-mini-2024-07-18"
LLAMA = "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
CRITERIA: list[dict[str, Any]] = [
    IDEAL_EXACT,
    {
        "type": "json_schema",
        "name": "format",
        "input": "{{sample.output_text}}",
        "schema": {"type": "object"},
    },
]


def _setup(
    session: Session, settings: Settings, examples: int = 40
) -> tuple[Any, dict[str, str], str]:
    tenant = make_tenant(session)
    key = make_key(session, tenant)
    file = make_file(session, settings, tenant, jsonl(chat_lines(examples)))
    session.commit()
    return tenant, auth(key), file.id


def _body(file_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "training_file": file_id,
        "holdout": 0.25,
        "candidates": [{"model": MINI}, {"model": LLAMA}],
        "testing_criteria": CRITERIA,
        "primary": "exact",
        "budget": "100",
        "volume": 100_000,
    }
    body.update(changes)
    return body


def _counts(session: Session, tenant_id: str) -> tuple[int, int]:
    session.expire_all()
    jobs = session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id))
    studies = session.scalar(
        select(func.count()).select_from(Study).where(Study.tenant_id == tenant_id)
    )
    return int(jobs or 0), int(studies or 0)


def test_create_quotes_every_candidate_and_evaluation_and_queues_the_study(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant, headers, file_id = _setup(db_session, settings)
    response = client.post(URL, json=_body(file_id), headers=headers)
    assert response.status_code == 200, response.text
    study = response.json()
    assert study["object"] == "fine_tuning.study" and study["status"] == "queued"
    assert study["train_file"] != study["test_file"] != file_id
    assert [c["status"] for c in study["candidates"]] == ["pending", "pending"]
    # default baselines: each candidate's base model zero-shot and with k = 5
    assert [(b["model"], b["few_shot"]) for b in study["baselines"]] == [
        (MINI, 0),
        (MINI, 5),
        ("together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", 0),
        ("together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", 5),
    ]
    quote = study["quote"]
    kinds = [(p["kind"], p["provider"]) for p in quote["parts"]]
    assert kinds.count(("training", "openai")) == 1 and kinds.count(("training", "together")) == 1
    assert len([k for k in kinds if k[0] == "evaluation"]) == 2 + 4
    amounts = [Decimal(p["amount"]) for p in quote["parts"]]
    assert all(a > 0 for a in amounts)
    assert Decimal(quote["total"]["amount"]) == sum(amounts)
    assert quote["test_items"] > 0 and quote["train_examples"] + quote["test_items"] == 40
    # a 5-shot baseline costs more to evaluate than the zero-shot one on the same model
    evals = {p["model"]: Decimal(p["amount"]) for p in quote["parts"] if p["kind"] == "evaluation"}
    assert evals[f"{MINI} (5-shot)"] > evals[f"{MINI} (0-shot)"]
    assert [w["code"] for w in study["warnings"]] == ["provider_closing"]
    assert study["primary"] == "exact" and study["gates"]["format_compliance"] == 0.95
    assert _counts(db_session, tenant.id) == (0, 1)  # nothing launched in the request
    tasks = db_session.scalars(
        select(OutboxMessage.task).where(OutboxMessage.target_id == study["id"])
    ).all()
    assert tasks == ["tuneforge.study_step"]
    assert client.get(f"{URL}/{study['id']}", headers=headers).json()["id"] == study["id"]
    listed = client.get(URL, headers=headers).json()
    assert [s["id"] for s in listed["data"]] == [study["id"]]


def test_a_study_over_its_budget_is_refused_before_any_job_exists(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant, headers, file_id = _setup(db_session, settings)
    response = client.post(URL, json=_body(file_id, budget="0.000001"), headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "budget_exceeded" and error["param"] == "budget"
    assert error["total"] in error["message"] and "0.000001" in error["message"]
    assert {p["kind"] for p in error["parts"]} == {"training", "evaluation"}
    assert "together/meta-llama" in error["message"]
    assert _counts(db_session, tenant.id) == (0, 0)


def test_the_judges_tokens_are_their_own_part_of_the_quote(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant, headers, file_id = _setup(db_session, settings)
    items = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": c}]}
        for c in ("hello there", "yes")
    ]
    test_file = make_file(db_session, settings, tenant, jsonl(items))
    db_session.commit()
    judge = {
        "type": "label_model",
        "name": "same",
        "model": MINI,
        "input": [
            {"role": "user", "content": "Is {{sample.output_text}} the same as {{item.ideal}}?"}
        ],
        "labels": ["yes", "no"],
        "passing_labels": ["yes"],
    }
    body = _body(
        file_id,
        holdout=None,
        test_file=test_file.id,
        candidates=[{"model": MINI}],
        baselines=[{"model": MINI}],
        testing_criteria=[judge],
        primary="same",
    )
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 200, response.text
    quote = response.json()["quote"]
    judged = [p for p in quote["parts"] if p["kind"] == "judge"]
    # By hand: each answer as long as the longest ideal, ceil(len("hello there") 11 / 3) = 4
    # tokens; a call's prompt is ("Is " + " the same as " + ideal + "?" = 17 + len(ideal), plus
    # our 65-character label instruction) / 3 rounded up, + 2 messages x 4, + the 4-token
    # answer: ceil(93 / 3) + 12 = 43 and ceil(85 / 3) + 12 = 41; the candidate and the baseline
    # are each judged on both items: 4 calls, 2 x (43 + 41) = 168 prompt tokens and 4 x 1,024
    # completion tokens (the label grader sets no max) at gpt-4o-mini's $0.15 / $0.60 per 1M:
    # (168 x 0.15 + 4,096 x 0.60) / 1M = 0.0024828
    assert [(p["provider"], p["model"], p["amount"]) for p in judged] == [
        ("openai", MINI, "0.002483")
    ]
    assert judged[0]["detail"].startswith("4 judge calls x (42 prompt + 1024 completion tokens)")
    amounts = [Decimal(p["amount"]) for p in quote["parts"]]
    assert Decimal(quote["total"]["amount"]) == sum(amounts)
    unknown = {**judge, "model": "together/no-such-judge"}
    refused = client.post(URL, json={**body, "testing_criteria": [unknown]}, headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "testing_criteria[0].model"


FIREWORKS_LLAMA = "fireworks/accounts/fireworks/models/llama-v3p1-8b-instruct"


def test_a_candidate_also_on_another_provider_is_its_same_weights_there_quoted_apart(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    _, headers, file_id = _setup(db_session, settings)
    listed = {"model": LLAMA, "hyperparameters": {"n_epochs": 2}, "also_on": ["fireworks"]}
    response = client.post(URL, json=_body(file_id, candidates=[listed]), headers=headers)
    assert response.status_code == 200, response.text
    study = response.json()
    label = f"{LLAMA} (candidates[0])"
    assert [(c["model"], c["provider"], c["label"], c["as_on"]) for c in study["candidates"]] == [
        (LLAMA, "together", label, None),
        (FIREWORKS_LLAMA, "fireworks", f"{label} as on fireworks", "fireworks"),
    ]
    parts = {(p["kind"], p["provider"]) for p in study["quote"]["parts"]}
    assert {("training", "fireworks"), ("evaluation", "fireworks")} <= parts
    assert (FIREWORKS_LLAMA, 0) in [(b["model"], b["few_shot"]) for b in study["baselines"]]
    stored = db_session.get(Study, study["id"])
    assert stored is not None
    twin = stored.candidates[1]["request"]
    assert (twin["model"], twin["hyperparameters"]) == (FIREWORKS_LLAMA, {"n_epochs": 2})


@pytest.mark.parametrize(
    ("candidate", "code", "named"),
    [
        # closed weights: OpenAI's tune serves nowhere else; Together's models are suggested
        ({"model": MINI, "also_on": ["together"]}, "no_equivalent_model", LLAMA),
        # open weights tuneforge knows on Together only
        (
            {"model": "together/Qwen/Qwen2.5-7B-Instruct", "also_on": ["fireworks"]},
            "no_equivalent_model",
            "Qwen/Qwen2.5-7B-Instruct",
        ),
        ({"model": LLAMA, "also_on": ["together"]}, "invalid_request", "already on together"),
        ({"model": LLAMA, "also_on": ["nowhere"]}, "invalid_request", "unknown provider"),
    ],
)
def test_an_unknown_equivalence_is_a_400_naming_the_field(
    client: TestClient,
    db_session: Session,
    settings: Settings,
    candidate: dict[str, Any],
    code: str,
    named: str,
) -> None:
    tenant, headers, file_id = _setup(db_session, settings)
    body = _body(file_id, candidates=[{"model": LLAMA}, candidate])
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("candidates[1].also_on[0]", code)
    assert named in error["message"]
    assert _counts(db_session, tenant.id) == (0, 0)


def test_a_provider_named_twice_in_also_on_is_refused_at_its_second_place(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    _, headers, file_id = _setup(db_session, settings)
    twice = {"model": LLAMA, "also_on": ["fireworks", "fireworks"]}
    response = client.post(URL, json=_body(file_id, candidates=[twice]), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "candidates[0].also_on[1]"


def test_a_study_over_the_tenants_monthly_budget_is_refused(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant, headers, file_id = _setup(db_session, settings)
    db_session.add(TenantBudget(tenant_id=tenant.id, monthly_limit=Decimal("0.000001")))
    db_session.commit()
    response = client.post(URL, json=_body(file_id), headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "budget_exceeded" and "monthly budget" in error["message"]
    assert error["budget"]["monthly_limit"] == "0.000001" and error["parts"]
    assert _counts(db_session, tenant.id) == (0, 0)


def test_a_queued_studys_quote_is_committed_so_two_creates_cannot_overspend(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    """A study not yet launched holds its whole quote in the budget's ``committed``: two
    studies that each fit the tenant's budget but not together, the second is refused."""
    tenant, headers, file_id = _setup(db_session, settings)
    first = client.post(URL, json=_body(file_id), headers=headers)
    assert first.status_code == 200, first.text
    total = Decimal(first.json()["quote"]["total"]["amount"])
    db_session.add(TenantBudget(tenant_id=tenant.id, monthly_limit=total * 3 / 2))
    db_session.commit()
    assert Decimal(client.get("/v1/budget", headers=headers).json()["committed"]) == total
    second = client.post(URL, json=_body(file_id), headers=headers)
    assert second.status_code == 400, second.text
    error = second.json()["error"]
    assert error["code"] == "budget_exceeded" and "monthly budget" in error["message"]
    assert Decimal(error["budget"]["committed"]) == total
    assert _counts(db_session, tenant.id) == (0, 1)


@pytest.mark.parametrize(
    ("changes", "param", "code"),
    [
        ({"candidates": []}, "candidates", None),
        (
            {"candidates": [{"model": "mistral/open-mistral-7b"}]},
            "candidates[0].model",
            "provider_retired",
        ),
        (
            {"candidates": [{"model": MINI}, {"model": "gpt-nope"}]},
            "candidates[1].model",
            "model_not_found",
        ),
        (
            {"candidates": [{"model": MINI, "provider_options": {"bogus": 1}}]},
            "candidates[0].provider_options.bogus",
            "invalid_provider_options",
        ),
        (  # as job create refuses it at launch: a preference method on a chat file
            {"candidates": [{"model": MINI, "method": {"type": "dpo"}}]},
            "candidates[0].training_file",
            "invalid_file",
        ),
        (
            {"candidates": [{"model": MINI, "method": {"type": "supervised", "dpo": {}}}]},
            "candidates[0].method.dpo",
            None,
        ),
        (
            {"testing_criteria": [{**CRITERIA[0], "reference": "{{item.label}}"}], "primary": None},
            "testing_criteria[0].reference",
            "invalid_template",
        ),
        ({"baselines": []}, "baselines", None),
        ({"baselines": [{"model": MINI, "few_shot": 64}]}, "baselines[0].few_shot", None),
        ({"baselines": [{"model": "together/nope"}]}, "baselines[0].model", "model_not_found"),
        ({"primary": "nope"}, "primary", None),
        ({"holdout": 0.5, "test_file": "file-x"}, None, None),
        ({"budget": "-1"}, "budget", None),
        ({"extra": 1}, "extra", None),
    ],
)
def test_bad_input_is_a_400_naming_the_field_before_anything_is_spent(
    client: TestClient,
    db_session: Session,
    settings: Settings,
    changes: dict[str, Any],
    param: str | None,
    code: str | None,
) -> None:
    tenant, headers, file_id = _setup(db_session, settings)
    body = {k: v for k, v in _body(file_id, **changes).items() if v is not None}
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if param is not None:
        assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    assert _counts(db_session, tenant.id) == (0, 0)


def test_openai_candidates_are_refused_after_2027_01_06(
    db_session: Session, settings: Settings
) -> None:
    tenant, _, file_id = _setup(db_session, settings)
    body = CreateStudyRequest.model_validate(_body(file_id))
    with pytest.raises(InvalidRequest) as refused:
        create_study(db_session, settings, tenant.id, body, today=date(2027, 1, 7))
    assert refused.value.param == "candidates[0].model"
    assert refused.value.code == "provider_retired" and refused.value.extra["alternatives"]
    study = create_study(db_session, settings, tenant.id, body, today=date(2027, 1, 6))
    assert study.warnings[0]["code"] == "provider_closing"


def test_another_tenants_study_is_a_404(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    _, headers, file_id = _setup(db_session, settings)
    study = client.post(URL, json=_body(file_id), headers=headers).json()
    _, other, _ = _setup(db_session, settings)
    assert client.get(f"{URL}/{study['id']}", headers=other).status_code == 404
    assert client.post(f"{URL}/{study['id']}/cancel", headers=other).status_code == 404
    assert client.get(URL, headers=other).json()["data"] == []


def test_a_local_candidate_is_quoted_by_the_hour_and_served_at_measured_tokens_per_second(
    db_session: Session, settings: Settings, tmp_path: Any
) -> None:
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "config.json").write_text('{"max_position_embeddings": 2048}')
    local = settings.model_copy(
        update={"local_models_dir": models, "local_inference_tokens_per_second": 500.0}
    )
    tenant, _, file_id = _setup(db_session, settings)
    body = CreateStudyRequest.model_validate(
        _body(file_id, candidates=[{"model": "local/tiny"}, {"model": LLAMA}])
    )
    study = create_study(db_session, local, tenant.id, body)
    parts = {(p["kind"], p["provider"], p["model"]): p for p in study.quote["parts"]}
    training = parts[("training", "local", "tiny")]
    assert training["amount"] is not None and "hours_x_hourly_rate" in training["detail"]
    # $2/h over 500 tokens/s is $1.111… per 1M tokens, for the base and the tuned model alike
    assert parts[("evaluation", "local", "tiny")]["amount"] is not None
    assert parts[("evaluation", "local", "tiny (5-shot)")]["amount"] is not None
    assert [b["model"] for b in study.spec["baselines"]][:2] == ["local/tiny", "local/tiny"]
    unpriced = create_study(
        db_session, settings.model_copy(update={"local_models_dir": models}), tenant.id, body
    )
    assert {w["code"] for w in unpriced.warnings} == {"price_unknown"}
