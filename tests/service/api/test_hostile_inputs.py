"""What a hostile probe sent, each answered with a 400 naming the field (it was a 500, or a
silent default): unknown fields and query parameters, huge and non-finite numbers, dates past
year 9999, unknown cursors, ``limit=0``, oversized metadata, a local model name that is a path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.api.guard import holds_nul_escape
from tests.factories import auth, make_key, make_tenant

LINE = {
    "messages": [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
}


@pytest.fixture()
def key(db_session: Session) -> str:
    key = make_key(db_session, make_tenant(db_session))
    db_session.commit()
    return key


def _bad(response: Any, param: str | None, fragment: str = "") -> dict[str, object]:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert isinstance(error["code"], str) and error["code"]
    assert fragment in error["message"]
    return dict(error)


def _job(**fields: object) -> dict[str, object]:
    return {"model": "gpt-4o-mini-2024-07-18", "training_file": "file-x", **fields}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/fine_tuning/jobs", _job(validaton_file="file-y"), "validaton_file"),
        ("/v1/fine_tuning/jobs", _job(sufix="x"), "sufix"),
        (
            "/v1/fine_tuning/jobs",
            _job(method={"type": "supervised", "supervised": {"hyperparams": {}}}),
            "method.supervised.hyperparams",
        ),
        ("/v1/webhook_endpoints", {"url": "https://h.example.com/x", "event": ["x"]}, "event"),
        ("/v1/quotes", {"training_file": "file-x", "candidate": []}, "candidate"),
    ],
)
def test_unknown_body_fields_are_named(
    client: TestClient, key: str, path: str, body: dict[str, object], field: str
) -> None:
    response = client.post(path, json=body, headers=auth(key))
    _bad(response, field, f"Unrecognized request argument supplied: {field}")


@pytest.mark.parametrize(
    "path",
    ["/v1/fine_tuning/jobs?limt=5", "/v1/files?purpos=fine-tune", "/v1/webhook_deliveries?x=1"],
)
def test_unknown_query_parameters_are_named(client: TestClient, key: str, path: str) -> None:
    name = path.split("?")[1].split("=")[0]
    _bad(client.get(path, headers=auth(key)), name, "Unrecognized request argument")


def test_metadata_filters_on_the_jobs_list_are_still_accepted(client: TestClient, key: str) -> None:
    response = client.get("/v1/fine_tuning/jobs?metadata[team]=a", headers=auth(key))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("hyperparameters", "param"),
    [
        ({"n_epochs": 1e300}, "hyperparameters.n_epochs"),
        ({"n_epochs": True}, "hyperparameters.n_epochs"),
        ({"learning_rate_multiplier": 1e300}, "hyperparameters.learning_rate_multiplier"),
        ({"batch_size": 10**30}, "hyperparameters.batch_size"),
    ],
)
def test_quotes_bound_every_hyperparameter(
    client: TestClient, key: str, hyperparameters: dict[str, object], param: str
) -> None:
    body = {"training_file": "file-x", "hyperparameters": hyperparameters}
    _bad(client.post("/v1/quotes", json=body, headers=auth(key)), param)


def test_a_job_refuses_an_infinite_multiplier(client: TestClient, key: str) -> None:
    raw = json.dumps(_job()).replace(
        "}", ', "hyperparameters": {"learning_rate_multiplier": 1e400}}'
    )
    response = client.post(
        "/v1/fine_tuning/jobs",
        content=raw,
        headers={**auth(key), "Content-Type": "application/json"},
    )
    _bad(response, "hyperparameters.learning_rate_multiplier")


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({f"k{n}": "v" for n in range(17)}, ""),
        ({"k" * 65: "v"}, ""),
        ({"k": "v" * 513}, ""),
    ],
)
def test_job_metadata_has_openais_bounds(
    client: TestClient, key: str, metadata: dict[str, str], fragment: str
) -> None:
    response = client.post("/v1/fine_tuning/jobs", json=_job(metadata=metadata), headers=auth(key))
    assert response.status_code == 400
    assert str(response.json()["error"]["param"]).startswith("metadata")


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-14:00", "99999999999999999999", "0001-01-01T00:00:00+14:00"]
)
def test_usage_refuses_dates_out_of_range(client: TestClient, key: str, value: str) -> None:
    _bad(client.get("/v1/usage", params={"from": value}, headers=auth(key)), "from")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/fine_tuning/jobs?after=ftjob-nope",
        "/v1/files?after=file-nope",
        "/v1/webhook_deliveries?after=msg_nope",
        "/v1/evals?after=eval_nope",
        "/v1/fine_tuning/studies?after=study_nope",
    ],
)
def test_unknown_cursors_are_400_not_page_one(client: TestClient, key: str, path: str) -> None:
    error = _bad(client.get(path, headers=auth(key)), "after")
    assert error["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "path", ["/v1/fine_tuning/jobs", "/v1/files", "/v1/webhook_deliveries", "/v1/evals"]
)
def test_cursors_are_bounded_and_never_empty(client: TestClient, key: str, path: str) -> None:
    """An ``after`` longer than any id is refused before the database sees it, and an empty
    one names nothing (it was page one on the files list)."""
    _bad(client.get(path, params={"after": "x" * 65}, headers=auth(key)), "after")
    empty = _bad(client.get(path, params={"after": ""}, headers=auth(key)), "after")
    assert empty["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "path", ["/v1/fine_tuning/jobs?limit=0", "/v1/files?limit=0", "/v1/webhook_deliveries?limit=0"]
)
def test_limit_zero_is_400(client: TestClient, key: str, path: str) -> None:
    _bad(client.get(path, headers=auth(key)), "limit")


def test_a_local_model_name_that_is_a_path_is_never_compatible(
    client: TestClient, key: str
) -> None:
    body = b"".join(json.dumps(LINE).encode() + b"\n" for _ in range(12))
    uploaded = client.post(
        "/v1/files",
        headers=auth(key),
        files={"file": ("t.jsonl", body, "application/jsonl")},
        data={"purpose": "fine-tune"},
    )
    assert uploaded.status_code == 200, uploaded.text
    response = client.post(
        "/v1/quotes",
        json={
            "training_file": uploaded.json()["id"],
            "candidates": [{"model": "local/../../etc"}, {"model": "local/.hidden"}],
        },
        headers=auth(key),
    )
    assert response.status_code == 200, response.text
    for quote in response.json()["data"]:
        assert quote["compatible"] is False
        assert [p["code"] for p in quote["problems"]] == ["model_not_found"]


def test_error_bodies_always_carry_a_code_and_never_the_string_none(
    client: TestClient, key: str
) -> None:
    responses = [
        client.get("/v1/fine_tuning/jobs/ftjob-nope", headers=auth(key)),
        client.post("/v1/fine_tuning/jobs", json={}, headers=auth(key)),
        client.post("/v1/fine_tuning/jobs", content=b"{", headers=auth(key)),
        client.get("/v1/tenant"),
        client.delete("/v1/tenant", headers=auth(key)),
        client.get("/v1/nope", headers=auth(key)),
    ]
    for response in responses:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["code"], response.text
        assert error["param"] != "None", response.text
    assert responses[4].status_code == 405 and responses[4].headers["allow"] == "GET"


@pytest.mark.parametrize(
    "path", ["/v1/fine_tuning/jobs", "/v1/evals", "/v1/quotes", "/v1/fine_tuning/studies"]
)
def test_a_missing_body_is_named_as_the_body(client: TestClient, key: str, path: str) -> None:
    """It read "Missing required parameter: 'None'."."""
    error = _bad(client.post(path, headers=auth(key)), None, "request body is required")
    assert "'None'" not in str(error["message"])


def _nested_schema(levels: int) -> str:
    return '{"type": "object", "properties": {"a": ' * levels + "{}" + "}}" * levels


def _nested_array(levels: int) -> str:
    return "[" * levels + "]" * levels


CHECK = '{"type": "string_check", "name": "c", "input": "x", "reference": "y", "operation": "eq"}'
RECURSIVE = (
    '{"type": "object", "properties": {"a": {"$ref": "#/$defs/n"}},'
    ' "$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}}'
)


def _post_json(client: TestClient, key: str, path: str, body: str) -> Any:
    return client.post(
        path, content=body, headers={**auth(key), "content-type": "application/json"}
    )


def _eval_with_recursive_schema(client: TestClient, key: str) -> str:
    body = f'{{"data_source_config": {{"type": "custom", "item_schema": {RECURSIVE}}}, '
    created = _post_json(client, key, "/v1/evals", body + f'"testing_criteria": [{CHECK}]}}')
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


def _evals_file(client: TestClient, key: str, line: str) -> str:
    response = client.post(
        "/v1/files",
        headers=auth(key),
        files={"file": ("rows.jsonl", line.encode() + b"\n")},
        data={"purpose": "evals"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("where", ["item_schema", "json_schema grader"])
def test_a_schema_nested_hundreds_deep_is_400_not_500(
    client: TestClient, key: str, where: str
) -> None:
    """jsonschema checks a schema by recursion: 150 levels raised RecursionError."""
    deep = _nested_schema(150)
    if where == "item_schema":
        config, criterion, param = deep, CHECK, "data_source_config.item_schema"
    else:
        config = '{"type": "object"}'
        criterion = '{"type": "json_schema", "name": "j", "input": "x", "schema": ' + deep + "}"
        param = "testing_criteria[0].schema"
    body = (
        f'{{"data_source_config": {{"type": "custom", "item_schema": {config}}}, '
        f'"testing_criteria": [{criterion}]}}'
    )
    _bad(_post_json(client, key, "/v1/evals", body), param, "levels deep")
    fine = body.replace(deep, _nested_schema(20))
    assert _post_json(client, key, "/v1/evals", fine).status_code == 200


@pytest.mark.parametrize(("source", "levels"), [("content", 300), ("file", 300), ("file", 5000)])
def test_a_row_nested_hundreds_deep_is_400_naming_it(
    client: TestClient, key: str, source: str, levels: int
) -> None:
    """Checked against a recursive item_schema, a 300-deep row raised RecursionError; a
    5,000-deep file line raised it in json.loads."""
    eval_id = _eval_with_recursive_schema(client, key)
    item = '{"a": ' + _nested_array(levels) + "}"
    if source == "content":
        data_source = f'{{"type": "file_content", "content": [{{"item": {item}}}]}}'
        param = "data_source.source.content[0].item"
    else:
        data_source = f'{{"type": "file_id", "id": "{_evals_file(client, key, item)}"}}'
        param = "data_source.source.id"
    body = f'{{"data_source": {{"type": "jsonl", "source": {data_source}}}}}'
    error = _bad(_post_json(client, key, f"/v1/evals/{eval_id}/runs", body), param)
    assert error["code"] == "invalid_item"


def test_a_dataset_tool_schema_nested_hundreds_deep_is_a_line_error(
    client: TestClient, key: str
) -> None:
    """Validating it raised RecursionError: the upload answered 500."""
    deep = '{"type": "object", "properties": {"a": ' + _nested_schema(300) + "}}"
    line = (
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],'
        ' "tools": [{"type": "function", "function": {"name": "f", "parameters": ' + deep + "}}]}"
    )
    response = client.post(
        "/v1/files",
        headers=auth(key),
        files={"file": ("train.jsonl", ("\n".join([line] * 10) + "\n").encode())},
        data={"purpose": "fine-tune"},
    )
    assert response.status_code == 200, response.text
    errors = response.json()["validation"]["errors"]
    assert errors and errors[0]["code"] == "invalid_tool_schema"
    assert "levels deep" in errors[0]["message"]


NUL_BODY = '{"model": "gpt-4o-mini-2024-07-18", "training_file": "file-x", "suffix": "a\\u0000b"}'
NUL_EVAL = (
    '{"name": "a\\u0000", "data_source_config": {"type": "custom", "item_schema": {}},'
    ' "testing_criteria": [' + CHECK + "]}"
)


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("POST", "/v1/fine_tuning/jobs", NUL_BODY, None),
        ("POST", "/v1/evals", NUL_EVAL, None),
        ("POST", "/v1/quotes", '{"training_file": "file-\\u0000"}', None),
        ("GET", "/v1/files/file-%00", None, None),
        ("GET", "/v1/fine_tuning/jobs/ftjob-%00/events", None, None),
        ("GET", "/v1/evals/eval_%00/runs", None, None),
        ("GET", "/v1/webhook_deliveries/whd_%00", None, None),
        ("GET", "/v1/models/a%00", None, None),
        ("GET", "/v1/fine_tuning/jobs?after=a%00", None, "after"),
        ("GET", "/v1/files?limit=5&purpose=a%00", None, "purpose"),
    ],
)
def test_a_nul_character_is_400_on_every_backend(
    client: TestClient, key: str, method: str, path: str, body: str | None, param: str | None
) -> None:
    """PostgreSQL text cannot hold U+0000: in an id, a cursor or a stored string it was a 500
    there (DataError), and SQLite stored it."""
    headers = {**auth(key), "content-type": "application/json"}
    response = client.request(method, path, content=body, headers=headers)
    assert "NUL character" in str(_bad(response, param)["message"])


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    assert holds_nul_escape(b'{"a": "x\\u0000"}')
    assert holds_nul_escape(b'{"a": "x\\\\\\u0000"}')
    assert not holds_nul_escape(b'{"a": "x\\\\u0000"}')
    assert not holds_nul_escape(b'{"a": "u0000"}')
