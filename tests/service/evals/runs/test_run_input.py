"""A run's bad input is a 400 naming the field (or the file's line) before anything is
spent; another tenant's eval or run is a 404; a run over budget is refused at create."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.api.app import create_app
from service.db.database import Database
from service.db.models import EvalRun, OutboxMessage, Tenant
from service.settings import Settings
from service.tenants.service import set_monthly_budget
from tests.factories import auth, make_key, make_tenant
from tests.service.evals.runs.conftest import BASE_MODEL, CONFIG, CRITERIA, TEMPLATE, completions


@pytest.fixture()
def app(settings: Settings, database: Database, connection: Any) -> FastAPI:
    """The API with operator OpenAI credentials (nothing is called: every case fails first)."""
    configured = settings.model_copy(
        update={
            "openai_api_key": SecretStr("sk-test"),
            "openai_base_url": "http://127.0.0.1:9",
            "max_active_eval_runs_per_tenant": 2,
        }
    )
    application = create_app(configured, database)

    def _session() -> Session:
        return Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )

    application.state.session_factory = _session
    return application


@pytest.fixture()
def tenant(db_session: Session) -> Tenant:
    found = make_tenant(db_session)
    db_session.commit()
    return found


@pytest.fixture()
def key(db_session: Session, tenant: Tenant) -> str:
    plaintext = make_key(db_session, tenant)
    db_session.commit()
    return plaintext


@pytest.fixture()
def eval_id(client: TestClient, key: str) -> Iterator[str]:
    response = client.post(
        "/v1/evals",
        headers=auth(key),
        json={"data_source_config": CONFIG, "testing_criteria": CRITERIA},
    )
    assert response.status_code == 200, response.text
    yield response.json()["id"]


def _create(client: TestClient, key: str, eval_id: str, data_source: Any) -> Any:
    return client.post(
        f"/v1/evals/{eval_id}/runs", headers=auth(key), json={"data_source": data_source}
    )


def _error(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def _no_run_made(db_session: Session) -> None:
    assert db_session.scalar(select(func.count()).select_from(EvalRun)) == 0
    runs = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.task.like("%eval%"))
    assert db_session.scalar(runs) == 0


def test_an_unknown_model_is_refused_naming_the_field(
    client: TestClient, key: str, eval_id: str, db_session: Session
) -> None:
    error = _error(_create(client, key, eval_id, completions("gpt-9-imaginary")))
    assert (error["param"], error["code"]) == ("data_source.model", "model_not_found")
    assert "gpt-9-imaginary" in error["message"]
    error = _error(_create(client, key, eval_id, completions("together/not-a-model")))
    assert error["param"] == "data_source.model"
    _no_run_made(db_session)


def test_a_provider_without_credentials_is_refused(
    client: TestClient, key: str, eval_id: str, db_session: Session, tenant: Tenant
) -> None:
    # the operator configured no Together key
    model = "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    error = _error(_create(client, key, eval_id, completions(model)))
    assert (error["param"], error["code"]) == ("data_source.model", "provider_credentials_required")
    assert "together" in error["message"]
    # the operator has an OpenAI key, but this tenant may not fall back on it
    tenant.operator_credentials_fallback = False
    db_session.commit()
    error = _error(_create(client, key, eval_id, completions(BASE_MODEL)))
    assert (error["param"], error["code"]) == ("data_source.model", "provider_credentials_required")
    assert "PUT /v1/provider_credentials/openai" in error["message"]
    _no_run_made(db_session)


def test_a_template_naming_a_field_the_item_schema_lacks_is_refused(
    client: TestClient, key: str, eval_id: str, db_session: Session
) -> None:
    template = {
        "type": "template",
        "template": [*TEMPLATE["template"], {"role": "user", "content": "{{item.hint}}"}],
    }
    error = _error(_create(client, key, eval_id, completions(BASE_MODEL, input_messages=template)))
    assert error["param"] == "data_source.input_messages.template[2].content"
    assert "hint" in error["message"]
    _no_run_made(db_session)


def test_rows_that_do_not_match_the_item_schema_are_refused_by_index_and_line(
    client: TestClient, key: str, eval_id: str, db_session: Session
) -> None:
    source = completions(BASE_MODEL, count=3)
    source["source"]["content"][1]["item"] = {"question": "q"}
    error = _error(_create(client, key, eval_id, source))
    assert error["param"] == "data_source.source.content[1].item"
    assert "'answer' is a required property" in error["message"]

    lines = [{"question": "q1", "answer": "a1"}, {"question": "q2"}]
    upload = client.post(
        "/v1/files",
        headers=auth(key),
        files={"file": ("items.jsonl", b"".join(json.dumps(x).encode() + b"\n" for x in lines))},
        data={"purpose": "fine-tune"},
    )
    file_id = upload.json()["id"]
    by_file = {**source, "source": {"type": "file_id", "id": file_id}}
    error = _error(_create(client, key, eval_id, by_file))
    assert (error["param"], error["line"]) == ("data_source.source.id", 2)
    assert f"File {file_id}, line 2" in error["message"]
    missing = {**source, "source": {"type": "file_id", "id": "file-nope"}}
    assert _error(_create(client, key, eval_id, missing))["param"] == "data_source.source.id"
    _no_run_made(db_session)


def test_sources_we_cannot_serve_are_refused_saying_why(
    client: TestClient, key: str, eval_id: str
) -> None:
    stored = {**completions(BASE_MODEL), "source": {"type": "stored_completions"}}
    error = _error(_create(client, key, eval_id, stored))
    assert (error["param"], error["code"]) == ("data_source.source.type", "unsupported_data_source")
    no_model = {k: v for k, v in completions(BASE_MODEL).items() if k != "model"}
    assert _error(_create(client, key, eval_id, no_model))["param"] == "data_source.model"


def test_another_tenants_eval_and_runs_are_not_found(
    client: TestClient, key: str, eval_id: str, db_session: Session
) -> None:
    source = {"type": "jsonl", "source": completions(BASE_MODEL, count=1)["source"]}
    run = _create(client, key, eval_id, source).json()
    other = make_key(db_session, make_tenant(db_session))
    db_session.commit()
    assert _create(client, other, eval_id, source).status_code == 404
    base = f"/v1/evals/{eval_id}/runs"
    for method, path in [
        ("GET", f"{base}/{run['id']}"),
        ("GET", base),
        ("POST", f"{base}/{run['id']}/cancel"),
        ("DELETE", f"{base}/{run['id']}"),
        ("GET", f"{base}/{run['id']}/output_items"),
        ("GET", f"/v1/evals/{eval_id}/compare?runs={run['id']},{run['id']}x"),
    ]:
        response = client.request(method, path, headers=auth(other))
        assert response.status_code == 404, (method, path, response.text)
    assert client.get(f"{base}/{run['id']}", headers=auth(key)).status_code == 200
    # the query parameter is runs: a run it names that is not there is named as runs
    unknown = client.get(
        f"/v1/evals/{eval_id}/compare?runs={run['id']},evalrun_x", headers=auth(key)
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "runs"
    assert "evalrun_x" in unknown.json()["error"]["message"]


def test_a_run_over_the_monthly_budget_is_refused_before_it_starts(
    client: TestClient, key: str, eval_id: str, tenant: Tenant, db_session: Session
) -> None:
    set_monthly_budget(db_session, tenant, Decimal("0.0001"))
    db_session.commit()
    # 10 items × (prompt estimate + 1,000 completion tokens) at gpt-4o-mini's $0.60/M output
    source = completions(BASE_MODEL, sampling_params={"max_completion_tokens": 1000})
    error = _error(_create(client, key, eval_id, source))
    assert (error["code"], error["param"]) == ("budget_exceeded", "data_source")
    assert "This eval run's estimated cost" in error["message"]
    assert Decimal(error["estimated_cost"]) > Decimal("0.006")
    _no_run_made(db_session)
    small = completions(BASE_MODEL, count=1, sampling_params={"max_completion_tokens": 10})
    response = _create(client, key, eval_id, small)
    assert response.status_code == 200, response.text
    assert Decimal(response.json()["estimated_cost"]["amount"]) < Decimal("0.0001")


def test_the_judges_tokens_are_their_own_part_of_a_runs_estimate(
    client: TestClient, key: str, tenant: Tenant, db_session: Session
) -> None:
    judge = {
        "type": "score_model",
        "name": "judge",
        "model": BASE_MODEL,
        "input": [
            {"role": "user", "content": "Grade {{sample.output_text}} against {{item.answer}}."}
        ],
        "sampling_params": {"max_completions_tokens": 50},
    }
    created = client.post(
        "/v1/evals",
        headers=auth(key),
        json={"data_source_config": CONFIG, "testing_criteria": [judge]},
    )
    assert created.status_code == 200, created.text
    source = completions(BASE_MODEL, count=2, sampling_params={"max_completion_tokens": 100})
    # By hand, at gpt-4o-mini's $0.15 / $0.60 per 1M (it samples and judges here):
    # sampling: 2 items x (ceil(("Answer in JSON." 15 + "What is the code of item N?" 27) / 3)
    #   = 14, + 4 per message = 22 prompt; 100 completion) = (44 x 0.15 + 200 x 0.60) / 1M
    #   = 0.0001266 -> 0.000127
    # judge: 2 calls x (ceil(("Grade " + " against " + '{"code": "CN"}' + "." = 30, plus our
    #   122-character JSON instruction) / 3) = 51, + 2 messages x 4, + the answer at its
    #   100-token bound = 159 prompt; 50 completion) = (318 x 0.15 + 100 x 0.60) / 1M
    #   = 0.0001077 -> 0.000108
    set_monthly_budget(db_session, tenant, Decimal("0.0002"))
    db_session.commit()
    error = _error(_create(client, key, created.json()["id"], source))
    assert error["code"] == "budget_exceeded"
    assert error["estimated_cost"] == "0.000235"
    assert [(p["kind"], p["model"], p["amount"]) for p in error["parts"]] == [
        ("sampling", BASE_MODEL, "0.000127"),
        ("judge", BASE_MODEL, "0.000108"),
    ]
    assert "2 judge calls x (159 prompt + 50 completion tokens)" in error["parts"][1]["detail"]
    assert f"judge {BASE_MODEL} 0.000108" in error["message"]
    _no_run_made(db_session)
    set_monthly_budget(db_session, tenant, Decimal("0.0003"))
    db_session.commit()
    response = _create(client, key, created.json()["id"], source)
    assert response.status_code == 200, response.text
    assert response.json()["estimated_cost"]["amount"] == "0.000235"


def test_a_tenant_with_too_many_unfinished_runs_is_told_to_wait(
    client: TestClient, key: str, eval_id: str
) -> None:
    source = {"type": "jsonl", "source": completions(BASE_MODEL, count=1)["source"]}
    for _ in range(2):
        assert _create(client, key, eval_id, source).status_code == 200
    error = _error(_create(client, key, eval_id, source), status=429)
    assert error["code"] == "active_eval_run_limit_reached"
    first = client.get(f"/v1/evals/{eval_id}/runs", headers=auth(key)).json()["data"][0]
    canceled = client.post(f"/v1/evals/{eval_id}/runs/{first['id']}/cancel", headers=auth(key))
    assert canceled.json()["status"] == "canceled"
    assert _create(client, key, eval_id, source).status_code == 200


def test_a_local_judge_sends_the_run_to_the_gpu_queue(
    client: TestClient, key: str, db_session: Session
) -> None:
    judge = {
        "type": "score_model",
        "name": "judge",
        "model": "local/tiny",
        "input": [{"role": "user", "content": "Rate {{sample.output_text}}"}],
    }
    created = client.post(
        "/v1/evals",
        headers=auth(key),
        json={"data_source_config": CONFIG, "testing_criteria": [judge]},
    )
    assert created.status_code == 200, created.text
    response = _create(client, key, created.json()["id"], completions(BASE_MODEL, count=1))
    assert response.status_code == 200, response.text
    task = db_session.scalar(
        select(OutboxMessage.task).where(OutboxMessage.target_id == response.json()["id"])
    )
    assert task == "tuneforge.eval_run_local"


def test_compare_needs_two_different_runs_of_the_eval(
    client: TestClient, key: str, eval_id: str
) -> None:
    source = {"type": "jsonl", "source": completions(BASE_MODEL, count=1)["source"]}
    run = _create(client, key, eval_id, source).json()["id"]
    path = f"/v1/evals/{eval_id}/compare"
    for runs in (run, f"{run},{run}", f"{run},", "a,b,c"):
        error = _error(client.get(path, params={"runs": runs}, headers=auth(key)))
        assert error["param"] == "runs", runs
    missing = client.get(path, headers=auth(key))
    assert _error(missing)["param"] == "runs"
    unknown = client.get(path, params={"runs": f"{run},evalrun_nope"}, headers=auth(key))
    assert unknown.status_code == 404
