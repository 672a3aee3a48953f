"""What eval create refuses beyond the wire schema, each with the field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from service.errors import InvalidRequest
from service.evals.graders.specs import Grader
from service.evals.graders.validate import check_criteria

SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string"},
        "meta": {"type": "object", "properties": {"lang": {"type": "string"}}},
        "free": {"type": "object"},
    },
    "required": ["question"],
}
WORDNET = Path("/usr/share/wordnet")
graders: TypeAdapter[list[Any]] = TypeAdapter(list[Grader])


def check(*specs: dict[str, Any], wordnet: Path = WORDNET) -> None:
    check_criteria(graders.validate_python([{"name": "g", **s} for s in specs]), SCHEMA, wordnet)


def refused(*specs: dict[str, Any], wordnet: Path = WORDNET) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        check(*specs, wordnet=wordnet)
    return caught.value


def string_check(input_: str, reference: str = "x") -> dict[str, Any]:
    return {"type": "string_check", "input": input_, "reference": reference, "operation": "eq"}


def test_templates_naming_known_fields_pass() -> None:
    check(
        string_check(
            "{{sample.output_text}}", "{{item.question}} {{item.meta.lang}} {{item.free.anything}}"
        )
    )


def test_a_field_the_item_schema_lacks_is_named() -> None:
    error = refused(
        string_check("{{sample.output_text}}"),
        string_check("{{sample.output_text}}", "{{item.answer}}"),
    )
    assert error.param == "testing_criteria[1].reference"
    assert "answer" in error.message and "question" in error.message
    nested = refused(string_check("{{item.meta.country}}"))
    assert nested.param == "testing_criteria[0].input" and "item.meta" in nested.message


def test_unknown_sample_field_and_namespace() -> None:
    assert "output_txt" in refused(string_check("{{sample.output_txt}}")).message
    assert "may only use" in refused(string_check("{{ items.question }}")).message


def test_judge_prompts_are_checked_too() -> None:
    spec = {
        "type": "label_model",
        "model": "m",
        "input": [{"role": "user", "content": "{{item.nope}}"}],
        "labels": ["a"],
        "passing_labels": ["a"],
    }
    assert refused(spec).param == "testing_criteria[0].input[0].content"


def test_python_cosine_and_meteor_without_wordnet_are_refused_with_why() -> None:
    python = refused({"type": "python", "source": "def grade(s, i): return 1"})
    assert python.param == "testing_criteria[0].type" and "sandbox" in python.message
    sim = {
        "type": "text_similarity",
        "input": "{{sample.output_text}}",
        "reference": "x",
        "pass_threshold": 0.5,
    }
    cosine = refused({**sim, "evaluation_metric": "cosine"})
    assert (
        cosine.param == "testing_criteria[0].evaluation_metric" and "embeddings" in cosine.message
    )
    meteor = {**sim, "evaluation_metric": "meteor"}
    check(meteor)
    assert "WordNet" in refused(meteor, wordnet=Path("/nonexistent")).message


def test_multi_formula_and_sub_graders() -> None:
    sub = {"exact": {"name": "exact", **string_check("{{sample.output_text}}")}}
    check({"type": "multi", "graders": sub, "calculate_output": "exact * 2"})
    assert (
        refused({"type": "multi", "graders": sub, "calculate_output": "other"}).param
        == "testing_criteria[0].calculate_output"
    )
    bad_sub = {"exact": {"name": "exact", **string_check("{{item.gone}}")}}
    assert (
        refused({"type": "multi", "graders": bad_sub, "calculate_output": "exact"}).param
        == "testing_criteria[0].graders.exact.input"
    )


def test_json_schema_must_be_a_schema() -> None:
    assert (
        refused({"type": "json_schema", "schema": {"type": "nonsense"}}).param
        == "testing_criteria[0].schema"
    )
