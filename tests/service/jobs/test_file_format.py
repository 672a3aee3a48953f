"""A job's files must hold lines its method and model train on, checked at create (400 naming
the file's field, nothing queued) instead of being sent to fail at the provider: a DPO file
for a supervised job, a prompt/completion file for a chat-only model; and a line holding a
lone surrogate escape is refused by validation, naming the line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import Job
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import chat_lines, jsonl, make_file

URL = "/v1/fine_tuning/jobs"
MODEL = "gpt-4o-mini-2024-07-18"
PREFERENCE = [
    {
        "input": {"messages": [{"role": "user", "content": f"Say {i}"}]},
        "preferred_output": [{"role": "assistant", "content": f"{i}"}],
        "non_preferred_output": [{"role": "assistant", "content": "no"}],
    }
    for i in range(12)
]
PROMPT_COMPLETION = [{"prompt": f"What is {i}?", "completion": f" {i}."} for i in range(12)]


def _create(
    client: TestClient, session: Session, settings: Settings, files: dict[str, bytes], **body: Any
) -> dict[str, Any]:
    tenant = make_tenant(session)
    headers = auth(make_key(session, tenant))
    ids = {field: make_file(session, settings, tenant, data).id for field, data in files.items()}
    session.commit()
    response = client.post(URL, json={"model": MODEL, **ids, **body}, headers=headers)
    assert response.status_code == 400, response.text
    jobs = session.scalar(select(func.count()).select_from(Job).where(Job.tenant_id == tenant.id))
    assert jobs == 0
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_preference_file_for_a_supervised_job_is_refused(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    error = _create(client, db_session, settings, {"training_file": jsonl(PREFERENCE)})
    assert error["param"] == "training_file"
    assert "preference" in error["message"] and "'dpo'" in error["message"]


def test_a_supervised_validation_file_for_a_dpo_job_is_refused(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    error = _create(
        client,
        db_session,
        settings,
        {"training_file": jsonl(PREFERENCE), "validation_file": jsonl(chat_lines())},
        method={"type": "dpo"},
    )
    assert error["param"] == "validation_file"
    assert "needs preference lines" in error["message"]


def test_a_prompt_completion_file_for_a_chat_model_is_refused(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    error = _create(client, db_session, settings, {"training_file": jsonl(PROMPT_COMPLETION)})
    assert error["param"] == "training_file"
    assert "chat model" in error["message"] and MODEL in error["message"]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\ud83d"])
def test_a_lone_surrogate_line_is_refused_naming_the_line(
    client: TestClient, db_session: Session, settings: Settings, escape: str
) -> None:
    lines = [json.dumps(line) for line in chat_lines()]
    lines[2] = lines[2].replace("What is 2", f"What is {escape}")
    data = ("\n".join(lines) + "\n").encode()
    tenant = make_tenant(db_session)
    file = make_file(db_session, settings, tenant, data)
    report = file.validation or {}
    assert report["valid"] is False
    assert report["errors"][0]["line"] == 3
    assert report["errors"][0]["code"] == "invalid_unicode"
    db_session.rollback()
    error = _create(client, db_session, settings, {"training_file": data})
    assert error["param"] == "training_file" and "line 3" in error["message"]


def test_a_surrogate_pair_escape_is_a_character(db_session: Session, settings: Settings) -> None:
    lines = [json.dumps(line) for line in chat_lines()]
    lines[2] = lines[2].replace("What is 2", "What is \\ud83d\\ude00")  # one emoji
    file = make_file(db_session, settings, make_tenant(db_session), "\n".join(lines).encode())
    assert (file.validation or {})["valid"] is True, file.validation
