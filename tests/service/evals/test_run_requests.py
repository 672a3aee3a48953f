"""A run's data source and rows are checked before anything is spent, each 400 naming the
field, index or line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from service.errors import InvalidRequest
from service.evals.runs.items import prompt_for
from service.evals.runs.requests import CreateRunRequest, sampling_plan
from service.evals.runs.rows import rows_from_content, rows_from_file

SCHEMA = {
    "type": "object",
    "properties": {
        "country": {"type": "string"},
        "answer": {"type": "string"},
        "chat": {"type": "array"},
    },
    "required": ["country", "answer"],
}
parse: TypeAdapter[CreateRunRequest] = TypeAdapter(CreateRunRequest)


def completions(**fields: Any) -> CreateRunRequest:
    source = {"type": "file_content", "content": [{"item": {"country": "Peru", "answer": "Lima"}}]}
    return parse.validate_python(
        {"data_source": {"type": "completions", "source": source, **fields}}
    )


TEMPLATE = {
    "type": "template",
    "template": [
        {"role": "developer", "content": "Answer with one word."},
        {
            "role": "user",
            "content": {"type": "input_text", "text": "Capital of {{ item.country }}?"},
        },
    ],
}


def refused(request: CreateRunRequest) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        sampling_plan(request.data_source, SCHEMA)
    return caught.value


def test_a_completions_source_becomes_a_sampling_plan() -> None:
    request = completions(
        model="gpt-4o-mini",
        input_messages=TEMPLATE,
        sampling_params={"max_completions_tokens": 32, "seed": 7, "temperature": 0},
    )
    plan = sampling_plan(request.data_source, SCHEMA)
    assert plan is not None and plan.model == "gpt-4o-mini"
    assert (plan.max_completion_tokens, plan.seed, plan.temperature) == (32, 7, 0)
    assert prompt_for(plan, {"country": "Peru", "answer": "Lima"}) == [
        {"role": "developer", "content": "Answer with one word."},
        {"role": "user", "content": "Capital of Peru?"},
    ]


def test_an_item_reference_names_the_messages_of_each_row() -> None:
    reference = {"type": "item_reference", "item_reference": "item.chat"}
    plan = sampling_plan(completions(model="m", input_messages=reference).data_source, SCHEMA)
    assert plan is not None and plan.item_reference == "item.chat"
    chat = [{"role": "user", "content": "hi"}]
    assert prompt_for(plan, {"chat": chat}) == chat
    missing = {"type": "item_reference", "item_reference": "item.history"}
    error = refused(completions(model="m", input_messages=missing))
    assert error.param == "data_source.input_messages.item_reference"
    # a string is no list of messages: every row errored once the run had started
    text = {"type": "item_reference", "item_reference": "item.country"}
    error = refused(completions(model="m", input_messages=text))
    assert error.param == "data_source.input_messages.item_reference"
    assert "string" in error.message and "array" in error.message


def test_prompts_may_name_item_fields_the_schema_has_and_never_the_sample() -> None:
    unknown = {"type": "template", "template": [{"role": "user", "content": "{{item.city}}"}]}
    error = refused(completions(model="m", input_messages=unknown))
    assert error.param == "data_source.input_messages.template[0].content"
    assert "city" in error.message
    sample = {
        "type": "template",
        "template": [{"role": "user", "content": "{{sample.output_text}}"}],
    }
    assert "sample" in refused(completions(model="m", input_messages=sample)).message


def test_sources_we_cannot_serve_and_missing_fields() -> None:
    assert refused(completions(input_messages=TEMPLATE)).param == "data_source.model"
    assert refused(completions(model="m")).param == "data_source.input_messages"
    stored = parse.validate_python(
        {"data_source": {"type": "completions", "source": {"type": "stored_completions"}}}
    )
    assert "keeps none" in refused(stored).message
    responses = parse.validate_python({"data_source": {"type": "responses"}})
    assert refused(responses).param == "data_source.type"
    jsonl = parse.validate_python(
        {"data_source": {"type": "jsonl", "source": {"type": "file_id", "id": "file-1"}}}
    )
    assert sampling_plan(jsonl.data_source, SCHEMA) is None


def test_inline_rows_are_checked_against_the_item_schema_by_index() -> None:
    request = parse.validate_python(
        {
            "data_source": {
                "type": "jsonl",
                "source": {
                    "type": "file_content",
                    "content": [
                        {
                            "item": {"country": "Peru", "answer": "Lima"},
                            "sample": {"output_text": "Lima"},
                        },
                        {"item": {"country": "Chile"}},
                    ],
                },
            }
        }
    )
    source: Any = request.data_source.source  # type: ignore[union-attr]
    with pytest.raises(InvalidRequest) as caught:
        rows_from_content(source.content, SCHEMA)
    assert caught.value.param == "data_source.source.content[1].item"
    assert "'answer' is a required property" in caught.value.message
    rows = rows_from_content(source.content[:1], SCHEMA)
    assert rows == [
        (0, {"item": {"country": "Peru", "answer": "Lima"}, "sample": {"output_text": "Lima"}})
    ]


def test_file_rows_name_their_line(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"item": {"country": "Peru", "answer": "Lima"}})
        + "\n\n"
        + json.dumps({"country": "Oman", "answer": "Muscat"})
        + "\n"
    )
    assert [row for _, row in rows_from_file(good, SCHEMA, "file-g")] == [
        {"item": {"country": "Peru", "answer": "Lima"}},
        {"item": {"country": "Oman", "answer": "Muscat"}},
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"country": "Peru", "answer": "Lima"})
        + "\n"
        + json.dumps({"country": 3, "answer": "x"})
        + "\n"
    )
    with pytest.raises(InvalidRequest) as caught:
        rows_from_file(bad, SCHEMA, "file-b")
    assert "line 2" in caught.value.message and "item.country" in caught.value.message
    assert caught.value.extra == {"line": 2}
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    with pytest.raises(InvalidRequest, match="line 1: not JSON"):
        rows_from_file(broken, SCHEMA, "file-x")
