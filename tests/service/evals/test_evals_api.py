"""``/v1/evals`` through the official openai SDK against a running API, and its 400s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.db.database import Database
from service.db.session import session_scope
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.live import live_api

ITEM_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
CRITERIA: list[Any] = [
    {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    },
    {
        "type": "text_similarity",
        "name": "close",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": "rouge_l",
        "pass_threshold": 0.6,
    },
]
CONFIG: Any = {"type": "custom", "item_schema": ITEM_SCHEMA, "include_sample_schema": True}


@pytest.fixture()
def sdk(settings: Settings, committed_db: Database) -> Iterator[openai.OpenAI]:
    with session_scope(committed_db.sessions) as session:
        key = make_key(session, make_tenant(session))
    with live_api(settings, committed_db) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def test_sdk_create_retrieve_update_list_delete(sdk: openai.OpenAI) -> None:
    created = sdk.evals.create(
        name="qa", data_source_config=CONFIG, testing_criteria=CRITERIA, metadata={"team": "a"}
    )
    assert created.object == "eval" and created.id.startswith("eval_")
    assert created.name == "qa" and created.metadata == {"team": "a"}
    config = created.data_source_config
    assert config.type == "custom"
    schema: Any = config.schema_
    assert schema["properties"]["item"] == ITEM_SCHEMA
    assert schema["required"] == ["item", "sample"]
    ids = [c.model_extra["id"] for c in created.testing_criteria if c.model_extra]
    assert [i.rsplit("-", 5)[0] for i in ids] == ["exact", "close"]
    assert created.testing_criteria[0].type == "string_check"
    assert getattr(created.testing_criteria[1], "pass_threshold", None) == 0.6

    retrieved = sdk.evals.retrieve(created.id)
    assert retrieved.model_dump() == created.model_dump()
    updated = sdk.evals.update(created.id, name="qa v2", metadata={"team": "b"})
    assert (updated.name, updated.metadata) == ("qa v2", {"team": "b"})

    second = sdk.evals.create(data_source_config=CONFIG, testing_criteria=CRITERIA[:1])
    third = sdk.evals.create(data_source_config=CONFIG, testing_criteria=CRITERIA[:1])
    assert [e.id for e in sdk.evals.list(limit=2)] == [created.id, second.id, third.id]
    assert [e.id for e in sdk.evals.list(order="desc", limit=1)] == [
        third.id,
        second.id,
        created.id,
    ]
    assert [e.id for e in sdk.evals.list(order_by="updated_at", limit=5)][-1] == third.id

    deleted = sdk.evals.delete(second.id)
    assert (deleted.object, deleted.deleted, deleted.eval_id) == ("eval.deleted", True, second.id)
    with pytest.raises(openai.NotFoundError):
        sdk.evals.retrieve(second.id)


def test_sdk_errors_are_bad_requests_naming_the_field(sdk: openai.OpenAI) -> None:
    bad: Any = [{**CRITERIA[0], "reference": "{{item.expected}}"}]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.evals.create(data_source_config=CONFIG, testing_criteria=bad)
    assert caught.value.param == "testing_criteria[0].reference"
    assert "expected" in caught.value.message
    with pytest.raises(openai.BadRequestError) as cursor:
        sdk.evals.list(after="eval_nope")
    assert (cursor.value.code, cursor.value.param) == ("invalid_cursor", "after")


@pytest.fixture()
def key(db_session: Session) -> str:
    key = make_key(db_session, make_tenant(db_session))
    db_session.commit()
    return key


def _create(client: TestClient, key: str, **body: Any) -> Any:
    payload = {"data_source_config": CONFIG, "testing_criteria": CRITERIA, **body}
    return client.post("/v1/evals", headers=auth(key), json=payload)


def _error(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_another_tenants_eval_is_no_cursor(
    client: TestClient, key: str, db_session: Session
) -> None:
    theirs = _create(client, key).json()["id"]
    mine = make_key(db_session, make_tenant(db_session))
    db_session.commit()
    error = _error(client.get("/v1/evals", params={"after": theirs}, headers=auth(mine)))
    assert (error["code"], error["param"]) == ("invalid_cursor", "after")


@pytest.mark.parametrize("kind", ["logs", "stored_completions"])
def test_logs_configs_are_refused_saying_why(client: TestClient, key: str, kind: str) -> None:
    error = _error(_create(client, key, data_source_config={"type": kind, "metadata": {}}))
    assert error["param"] == "data_source_config.type"
    assert "no completion logs" in error["message"]


def test_unknown_grader_type_and_operation(client: TestClient, key: str) -> None:
    unknown = _error(_create(client, key, testing_criteria=[{**CRITERIA[0], "type": "regex"}]))
    assert "regex" in unknown["message"] and "string_check" in unknown["message"]
    assert (unknown["param"] or "").startswith("testing_criteria[0]")
    operation = _error(_create(client, key, testing_criteria=[{**CRITERIA[0], "operation": "gt"}]))
    assert operation["param"] == "testing_criteria[0].operation"


def test_refused_graders_and_bad_schemas(client: TestClient, key: str) -> None:
    python = {"type": "python", "name": "p", "source": "def grade(s, i): return 1.0"}
    assert "sandbox" in _error(_create(client, key, testing_criteria=[python]))["message"]
    cosine = {**CRITERIA[1], "evaluation_metric": "cosine"}
    assert "embeddings" in _error(_create(client, key, testing_criteria=[cosine]))["message"]
    not_a_schema = {**CONFIG, "item_schema": {"type": 12}}
    assert _error(_create(client, key, data_source_config=not_a_schema))["param"] == (
        "data_source_config.item_schema"
    )
    assert _error(_create(client, key, testing_criteria=[]))["param"] == "testing_criteria"
    too_much_metadata = {f"k{i}": "v" for i in range(17)}
    assert _error(_create(client, key, metadata=too_much_metadata))["param"] == "metadata"


def test_other_tenants_get_404(client: TestClient, key: str, db_session: Session) -> None:
    created = _create(client, key).json()
    other = make_key(db_session, make_tenant(db_session))
    db_session.commit()
    for method, path in [
        ("GET", f"/v1/evals/{created['id']}"),
        ("POST", f"/v1/evals/{created['id']}"),
        ("DELETE", f"/v1/evals/{created['id']}"),
    ]:
        response = client.request(method, path, headers=auth(other), json={"name": "x"})
        assert response.status_code == 404, (method, response.text)
    assert client.get("/v1/evals", headers=auth(other)).json()["data"] == []
    assert client.get(f"/v1/evals/{created['id']}", headers=auth(key)).status_code == 200
