"""Grader semantics as OpenAI documents them (EVALUATION.md §1.3, §2), and ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from service.evals.graders.grade import GraderResult, GraderUnavailable, GradingContext, grade
from service.evals.graders.judges import JudgeReply, JudgeRequest
from service.evals.graders.sample import Sample
from service.evals.graders.specs import Grader

WORDNET = Path("/usr/share/wordnet")
CTX = GradingContext(wordnet_dir=WORDNET)
parse_grader: TypeAdapter[Any] = TypeAdapter(Grader)


def run(
    spec: dict[str, Any], output: str, item: dict[str, Any] | None = None, **kw: Any
) -> GraderResult:
    tools = kw.pop("tools", [])
    ctx = kw.pop("ctx", CTX)
    return grade(
        parse_grader.validate_python({"name": "g", **spec}), item or {}, Sample(output, tools), ctx
    )


def check(operation: str, output: str, reference: str) -> float:
    spec = {
        "type": "string_check",
        "input": "{{sample.output_text}}",
        "reference": reference,
        "operation": operation,
    }
    return run(spec, output).score


@pytest.mark.parametrize(
    ("operation", "output", "reference", "score"),
    [
        ("eq", "Paris", "Paris", 1.0),
        ("eq", "paris", "Paris", 0.0),  # case-sensitive
        ("ne", "Lyon", "Paris", 1.0),
        ("ne", "Paris", "Paris", 0.0),
        ("like", "It is Paris.", "Paris", 1.0),  # contains
        ("like", "It is paris.", "Paris", 0.0),
        ("ilike", "It is PARIS.", "paris", 1.0),
        ("ilike", "It is Lyon.", "paris", 0.0),
    ],
)
def test_string_check_operations(operation: str, output: str, reference: str, score: float) -> None:
    assert check(operation, output, reference) == score


def test_string_check_reads_item_fields_and_passes_only_on_a_hit() -> None:
    spec = {
        "type": "string_check",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    hit = run(spec, "4", {"answer": "4"})
    miss = run(spec, "5", {"answer": "4"})
    assert (hit.score, hit.passed, miss.score, miss.passed) == (1.0, True, 0.0, False)
    assert hit.as_output()["type"] == "string-check-grader"


# Measured values for "fuzzy wuzzy was a bear" vs "fuzzy wuzzy had no hair" (EVALUATION.md §2)
@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("fuzzy_match", 0.7556),
        ("bleu", 0.1212),
        ("gleu", 0.2143),
        ("meteor", 0.375),
        ("rouge_1", 0.40),
        ("rouge_2", 0.25),
        ("rouge_3", 0.0),
        ("rouge_l", 0.40),
    ],
)
def test_text_similarity_metrics_match_the_reference_libraries(
    metric: str, expected: float
) -> None:
    spec = {
        "type": "text_similarity",
        "input": "{{sample.output_text}}",
        "reference": "fuzzy wuzzy had no hair",
        "evaluation_metric": metric,
        "pass_threshold": 0.3,
    }
    result = run(spec, "fuzzy wuzzy was a bear")
    assert result.score == pytest.approx(expected, abs=1e-4)
    assert result.passed == (result.score >= 0.3)
    assert result.details["impl"]


def test_meteor_uses_wordnet_synonyms_offline() -> None:
    spec = {
        "type": "text_similarity",
        "input": "{{sample.output_text}}",
        "reference": "the dog ran",
        "evaluation_metric": "meteor",
        "pass_threshold": 0.9,
    }
    assert run(spec, "the hound ran").score > 0.95  # hound is a WordNet synonym of dog
    assert run(spec, "the cat ran").score < 0.5


def test_identical_texts_score_one_and_pass_at_threshold() -> None:
    for metric in ("fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_l"):
        spec = {
            "type": "text_similarity",
            "input": "{{sample.output_text}}",
            "reference": "the cat sat on the mat",
            "evaluation_metric": metric,
            "pass_threshold": 1.0,
        }
        result = run(spec, "the cat sat on the mat")
        assert result.score == pytest.approx(1.0), metric
        assert result.passed, metric


def test_a_template_naming_nothing_scores_zero_with_the_reason() -> None:
    spec = {
        "type": "string_check",
        "input": "{{sample.output_text}}",
        "reference": "{{item.nope}}",
        "operation": "eq",
    }
    result = run(spec, "x", {"answer": "x"})
    assert (result.score, result.passed) == (0.0, False)
    assert result.error is not None and "item.nope" in result.error


def test_json_schema_grader_is_format_compliance() -> None:
    spec = {
        "type": "json_schema",
        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    }
    assert run(spec, '{"n": 3}').passed
    bad_type = run(spec, '{"n": "3"}')
    assert not bad_type.passed and "n" in bad_type.details["reason"]
    assert run(spec, "n = 3").details["reason"] == "output is not JSON"


def test_json_schema_grader_fails_an_output_nested_hundreds_deep() -> None:
    """A recursive schema follows the output down: 500 levels raised RecursionError."""
    spec = {"type": "json_schema", "schema": {"type": "array", "items": {"$ref": "#"}}}
    assert run(spec, "[[[]]]").passed
    deep = run(spec, "[" * 500 + "]" * 500)
    assert not deep.passed and "levels deep" in deep.details["reason"]


def test_json_fields_scores_the_share_of_equal_fields() -> None:
    spec = {"type": "json_fields", "reference": "{{item.expected}}", "pass_threshold": 0.5}
    item = {"expected": {"name": "Ada", "year": 1815, "city": "London"}}
    result = run(spec, '{"name": "Ada", "year": 1816, "city": "London"}', item)
    assert result.score == pytest.approx(2 / 3)
    assert result.passed
    assert run(spec, "not json", item).score == 0.0
    only_year = run({**spec, "fields": ["year"]}, '{"name": "Ada", "year": 1816}', item)
    assert only_year.score == 0.0


def test_tool_call_grader_matches_names_and_arguments() -> None:
    spec = {"type": "tool_call", "reference": "{{item.expected}}"}
    item = {"expected": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}]}
    exact = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "C"}'},
        }
    ]
    half = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "F"}'},
        }
    ]
    other = [{"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]
    assert run(spec, "", item, tools=exact).score == 1.0
    assert run(spec, "", item, tools=half).score == 0.5
    assert not run(spec, "", item, tools=half).passed
    assert run(spec, "", item, tools=other).score == 0.0
    assert run(spec, "", item, tools=[]).score == 0.0


def _judge(answer: str) -> Any:
    seen: list[JudgeRequest] = []

    def judge(request: JudgeRequest) -> JudgeReply:
        seen.append(request)
        return JudgeReply(answer, prompt_tokens=10, completion_tokens=3)

    judge.seen = seen  # type: ignore[attr-defined]
    return judge


SCORE = {
    "type": "score_model",
    "model": "gpt-4o-mini",
    "input": [{"role": "user", "content": "Rate {{sample.output_text}} for {{item.q}}"}],
    "range": [1, 5],
}


def test_score_model_clips_to_range_and_passes_at_threshold() -> None:
    judge = _judge('{"result": 7, "steps": []}')
    result = run(
        {**SCORE, "pass_threshold": 4}, "ok", {"q": "Q"}, ctx=GradingContext(WORDNET, judge)
    )
    assert (result.score, result.passed) == (5.0, True)
    assert judge.seen[0].messages[0] == {"role": "user", "content": "Rate ok for Q"}
    assert judge.seen[0].response_format["type"] == "json_schema"
    usage = result.judge_usage["gpt-4o-mini"]
    assert (usage.invocation_count, usage.prompt_tokens, usage.completion_tokens) == (1, 10, 3)


def test_score_model_without_threshold_passes_from_mid_range_and_non_numeric_scores_zero() -> None:
    mid = run(SCORE, "ok", {"q": "Q"}, ctx=GradingContext(WORDNET, _judge('{"result": 3}')))
    low = run(SCORE, "ok", {"q": "Q"}, ctx=GradingContext(WORDNET, _judge('{"result": 2.9}')))
    junk = run(SCORE, "ok", {"q": "Q"}, ctx=GradingContext(WORDNET, _judge("great!")))
    assert (mid.passed, low.passed) == (True, False)
    assert (junk.score, junk.passed, junk.error) == (0.0, False, "model_grader_parse_error")


def test_label_model_passes_on_a_passing_label() -> None:
    spec = {
        "type": "label_model",
        "model": "gpt-4o-mini",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "{{sample.output_text}}"}]}
        ],
        "labels": ["positive", "negative"],
        "passing_labels": ["positive"],
    }
    good = run(spec, "x", ctx=GradingContext(WORDNET, _judge('{"label": "positive"}')))
    bad = run(spec, "x", ctx=GradingContext(WORDNET, _judge("negative")))
    unknown = run(spec, "x", ctx=GradingContext(WORDNET, _judge('{"label": "meh"}')))
    assert (good.score, good.passed, good.details["label"]) == (1.0, True, "positive")
    assert (bad.score, bad.passed) == (0.0, False)
    assert unknown.error == "model_grader_parse_error"


def test_model_graders_need_a_judge() -> None:
    with pytest.raises(GraderUnavailable):
        run(SCORE, "ok", {"q": "Q"})


def test_multi_combines_sub_scores_with_the_formula() -> None:
    spec = {
        "type": "multi",
        "graders": {
            "exact": {
                "name": "exact",
                "type": "string_check",
                "input": "{{sample.output_text}}",
                "reference": "Paris",
                "operation": "eq",
            },
            "near": {
                "name": "near",
                "type": "text_similarity",
                "input": "{{sample.output_text}}",
                "reference": "Paris",
                "evaluation_metric": "fuzzy_match",
                "pass_threshold": 0.5,
            },
        },
        "calculate_output": "0.5 * exact + 0.5 * near ^ 2",
    }
    result = run(spec, "Paris")
    assert (result.score, result.passed) == (1.0, True)
    partial = run(spec, "Pariss")
    near = partial.details["sub_rewards"]["near"]["score"]
    assert partial.score == pytest.approx(0.5 * near**2)
    assert not partial.passed  # without pass_threshold: every sub-grader must pass


def test_python_graders_are_not_run() -> None:
    with pytest.raises(GraderUnavailable, match="sandbox"):
        run({"type": "python", "source": "def grade(s, i): return 1.0"}, "x")
