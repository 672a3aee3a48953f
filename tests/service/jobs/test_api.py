"""The jobs API through HTTP: checks before anything is queued, reads, lists, cancel."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import Job, JobEvent, OutboxMessage
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import chat_lines, jsonl, make_file

URL = "/v1/fine_tuning/jobs"


def _setup(session: Session, settings: Settings) -> tuple[dict[str, str], str]:
    tenant = make_tenant(session)
    key = make_key(session, tenant)
    file = make_file(session, settings, tenant)
    session.commit()
    return auth(key), file.id


def test_create_returns_an_openai_job_and_queues_its_launch(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    headers, file_id = _setup(db_session, settings)
    body: dict[str, Any] = {
        "model": "gpt-4o-mini-2024-07-18",
        "training_file": file_id,
        "hyperparameters": {"n_epochs": 2},
        "suffix": "demo",
        "metadata": {"team": "search"},
    }
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["object"] == "fine_tuning.job" and job["id"].startswith("ftjob-")
    assert job["status"] == "validating_files"
    assert job["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    }
    assert job["provider"] == "openai" and job["provider_job_id"] is None
    assert job["validation"]["training_file"]["valid"] is True
    assert job["estimated_cost"] is not None and float(job["estimated_cost"]["amount"]) > 0
    assert job["metadata"] == {"team": "search"} and isinstance(job["seed"], int)
    messages = db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.target_id == job["id"])
    ).all()
    assert [m.task for m in messages] == ["tuneforge.launch_job"]
    assert client.get(f"{URL}/{job['id']}", headers=headers).json()["id"] == job["id"]


def test_unknown_model_retired_provider_and_local_are_400_before_queueing(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    headers, file_id = _setup(db_session, settings)
    unknown = client.post(
        URL, json={"model": "gpt-nope", "training_file": file_id}, headers=headers
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "model"
    assert unknown.json()["error"]["code"] == "model_not_found"
    retired = client.post(
        URL, json={"model": "mistral/open-mistral-7b", "training_file": file_id}, headers=headers
    )
    assert retired.status_code == 400
    error = retired.json()["error"]
    assert error["code"] == "provider_retired" and error["alternatives"]
    assert "together/" in error["message"]
    local = client.post(
        URL, json={"model": "local/tiny", "training_file": file_id}, headers=headers
    )
    assert local.status_code == 400 and local.json()["error"]["param"] == "model"
    missing = client.post(
        URL, json={"model": "gpt-4o-mini-2024-07-18", "training_file": "file-x"}, headers=headers
    )
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "training_file"
    assert db_session.scalars(select(Job)).first() is None
    assert db_session.scalars(select(OutboxMessage)).first() is None


def test_a_file_invalid_for_the_provider_names_its_first_bad_line(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    lines = chat_lines()
    lines[4] = {"messages": [{"role": "user", "content": "no answer here"}]}
    bad = make_file(db_session, settings, tenant, jsonl(lines))
    db_session.commit()
    for model in ("gpt-4o-mini-2024-07-18", "together/Qwen/Qwen2.5-7B-Instruct"):
        response = client.post(
            URL, json={"model": model, "training_file": bad.id}, headers=auth(key)
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "training_file"
        assert "line 5" in error["message"] and error["line"] == 5


def test_another_tenants_job_is_404_and_lists_are_per_tenant(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    headers, file_id = _setup(db_session, settings)
    other_headers, _ = _setup(db_session, settings)
    job = client.post(
        URL, json={"model": "gpt-4o-mini-2024-07-18", "training_file": file_id}, headers=headers
    ).json()
    for path in ("", "/events", "/checkpoints"):
        assert client.get(f"{URL}/{job['id']}{path}", headers=other_headers).status_code == 404
    assert client.post(f"{URL}/{job['id']}/cancel", headers=other_headers).status_code == 404
    assert client.get(URL, headers=other_headers).json()["data"] == []


def test_list_pages_newest_first_and_filters_on_metadata(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    headers, file_id = _setup(db_session, settings)
    ids = []
    for i in range(5):
        body = {
            "model": "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            "training_file": file_id,
            "metadata": {"batch": "even" if i % 2 == 0 else "odd"},
        }
        response = client.post(URL, json=body, headers=headers)
        assert response.status_code == 200, response.text
        ids.append(response.json()["id"])
    first = client.get(URL, params={"limit": 2}, headers=headers).json()
    assert [j["id"] for j in first["data"]] == ids[::-1][:2] and first["has_more"] is True
    second = client.get(URL, params={"limit": 2, "after": first["last_id"]}, headers=headers)
    assert [j["id"] for j in second.json()["data"]] == ids[::-1][2:4]
    odd = client.get(URL, params={"metadata[batch]": "odd"}, headers=headers).json()
    assert sorted(j["id"] for j in odd["data"]) == sorted([ids[1], ids[3]])
    assert all(j["provider"] == "together" for j in odd["data"])


def test_cancel_before_launch_never_reaches_the_provider(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    headers, file_id = _setup(db_session, settings)
    job = client.post(
        URL, json={"model": "gpt-4o-mini-2024-07-18", "training_file": file_id}, headers=headers
    ).json()
    cancelled = client.post(f"{URL}/{job['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    again = client.post(f"{URL}/{job['id']}/cancel", headers=headers)
    assert again.json()["status"] == "cancelled"
    events = client.get(f"{URL}/{job['id']}/events", headers=headers).json()["data"]
    assert "cancelled" in events[0]["message"]
    assert events[-1]["message"].startswith("Created fine-tuning job")
    row = db_session.get(Job, job["id"])
    assert row is not None and row.next_poll_at is None
    transitions = db_session.scalars(
        select(JobEvent).where(JobEvent.job_id == job["id"], JobEvent.data.is_not(None))
    ).all()
    assert any((e.data or {}).get("to") == "cancelled" for e in transitions)


def test_a_local_job_is_queued_for_a_gpu_worker_at_create(
    app: Any, db_session: Session, settings: Settings, tmp_path: Any
) -> None:
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "config.json").write_text('{"max_position_embeddings": 2048}')
    app.state.settings = settings.model_copy(update={"local_models_dir": models})
    headers, file_id = _setup(db_session, settings)
    with TestClient(app) as client:
        response = client.post(
            URL, json={"model": "local/tiny", "training_file": file_id}, headers=headers
        )
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "queued" and job["provider"] == "local"
    messages = db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.target_id == job["id"])
    ).all()
    assert [m.task for m in messages] == ["tuneforge.train_job"]
