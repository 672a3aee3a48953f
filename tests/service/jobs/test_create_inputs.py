"""What a create request may say: OpenAI's documented ``"auto"`` for every hyperparameter,
bounded numbers, and provider options limited to each provider's allow-list (400 naming the
option, nothing queued, nothing stored)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.models import Job
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import jsonl, make_file

URL = "/v1/fine_tuning/jobs"
MODEL = "gpt-4o-mini-2024-07-18"


def _setup(session: Session, settings: Settings) -> tuple[dict[str, str], str]:
    tenant = make_tenant(session)
    key = make_key(session, tenant)
    file = make_file(session, settings, tenant)
    session.commit()
    return auth(key), file.id


AUTO = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}


@pytest.mark.parametrize(
    "extra",
    [
        {"hyperparameters": AUTO},
        {"method": {"type": "supervised", "supervised": {"hyperparameters": AUTO}}},
        {"method": {"type": "dpo", "dpo": {"hyperparameters": {**AUTO, "beta": "auto"}}}},
    ],
    ids=["top-level", "supervised", "dpo"],
)
def test_explicit_auto_is_accepted(
    client: TestClient, db_session: Session, settings: Settings, extra: dict[str, Any]
) -> None:
    headers, file_id = _setup(db_session, settings)
    if "dpo" in str(extra):
        dpo = [
            {
                "input": {"messages": [{"role": "user", "content": f"Say {i}"}]},
                "preferred_output": [{"role": "assistant", "content": f"{i}"}],
                "non_preferred_output": [{"role": "assistant", "content": "no"}],
            }
            for i in range(12)
        ]
        tenant_key = headers
        file_id = client.post(
            "/v1/files",
            files={"file": ("dpo.jsonl", jsonl(dpo))},
            data={"purpose": "fine-tune"},
            headers=tenant_key,
        ).json()["id"]
    response = client.post(
        URL, json={"model": MODEL, "training_file": file_id, **extra}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["hyperparameters"] == AUTO


@pytest.mark.parametrize(
    ("hyperparameters", "param"),
    [
        ({"n_epochs": True}, "hyperparameters.n_epochs"),
        ({"n_epochs": 0}, "hyperparameters.n_epochs"),
        ({"batch_size": 1.5}, "hyperparameters.batch_size"),
        ({"learning_rate_multiplier": 1e400}, "hyperparameters.learning_rate_multiplier"),
        ({"learning_rate_multiplier": 0}, "hyperparameters.learning_rate_multiplier"),
        ({"n_epochs": "many"}, "hyperparameters.n_epochs"),
    ],
)
def test_bad_hyperparameters_are_400_naming_them(
    client: TestClient,
    db_session: Session,
    settings: Settings,
    hyperparameters: dict[str, Any],
    param: str,
) -> None:
    headers, file_id = _setup(db_session, settings)
    response = client.post(
        URL,
        content=(
            f'{{"model": "{MODEL}", "training_file": "{file_id}", '
            f'"hyperparameters": {_raw_json(hyperparameters)}}}'
        ),
        headers={**headers, "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"] or "").startswith(param)
    # one bad field: its "auto"-or-number union's two errors were counted as "1 more problem"
    assert "more problem" not in error["message"], error["message"]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        (
            {"method": {"type": "supervised", "dpo": {"hyperparameters": {"beta": 0.5}}}},
            "method.dpo",
        ),
        (
            {"method": {"type": "dpo", "supervised": {"hyperparameters": {"n_epochs": 2}}}},
            "method.supervised",
        ),
        ({"webhook_url": "not a url"}, "webhook_url"),
        ({"webhook_url": "ftp://hooks.example.com/x"}, "webhook_url"),
    ],
)
def test_a_body_the_job_would_not_use_is_400_naming_it(
    client: TestClient,
    db_session: Session,
    settings: Settings,
    extra: dict[str, Any],
    param: str,
) -> None:
    """A ``dpo`` body beside ``type: supervised`` was accepted and its beta ignored; a bad
    ``webhook_url`` was refused naming ``url``, a field the request does not have."""
    headers, file_id = _setup(db_session, settings)
    body = {"model": MODEL, "training_file": file_id, **extra}
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert db_session.scalar(select(func.count()).select_from(Job)) == 0


def _raw_json(value: dict[str, Any]) -> str:
    # json.dumps would turn 1e400 into Infinity; send the literal a client would.
    parts = []
    for key, item in value.items():
        text = "1e400" if item == float("inf") else _scalar(item)
        parts.append(f'"{key}": {text}')
    return "{" + ", ".join(parts) + "}"


def _scalar(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return f'"{item}"'
    return repr(item)


@pytest.mark.parametrize(
    ("model", "options", "param"),
    [
        (MODEL, {"model": "gpt-4o-2024-08-06"}, "provider_options.model"),
        (MODEL, {"training_file": "file-other"}, "provider_options.training_file"),
        (MODEL, {"metadata": {"tuneforge_tag": "forged"}}, "provider_options.metadata"),
        (MODEL, {"extra_body": {"model": "gpt-4o"}}, "provider_options.extra_body"),
        (MODEL, {"extra_headers": {"OpenAI-Project": "p"}}, "provider_options.extra_headers"),
        (
            "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            {"n_checkpoint": 3},
            "provider_options.n_checkpoint",
        ),
        (
            "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            {"from_checkpoint": "ft-of-another-tenant"},
            "provider_options.from_checkpoint",
        ),
        (
            "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            {"warmup_ratio": 3},
            "provider_options.warmup_ratio",
        ),
    ],
)
def test_provider_options_outside_the_allow_list_are_400_and_nothing_is_created(
    client: TestClient,
    db_session: Session,
    settings: Settings,
    model: str,
    options: dict[str, Any],
    param: str,
) -> None:
    headers, file_id = _setup(db_session, settings)
    response = client.post(
        URL,
        json={"model": model, "training_file": file_id, "provider_options": options},
        headers=headers,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["code"] == "invalid_provider_options"
    assert db_session.scalar(select(func.count()).select_from(Job)) == 0


def test_allowed_provider_options_are_stored_typed(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    headers, file_id = _setup(db_session, settings)
    response = client.post(
        URL,
        json={
            "model": "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            "training_file": file_id,
            "provider_options": {"n_checkpoints": 2, "warmup_ratio": 0, "lora_rank": 8},
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["provider_options"] == {
        "n_checkpoints": 2,
        "warmup_ratio": 0.0,
        "lora_rank": 8,
    }
