"""Grade one sample of one item with one criterion.

Every grader returns a score (0-1 for the text graders; the judge's ``range`` for
``score_model``; the formula's value for ``multi``) and pass/fail:
- ``string_check`` passes when its score is 1; ``text_similarity`` when score >= pass_threshold;
- ``score_model`` when score >= pass_threshold, or, without one, the middle of its range (the
  rule without a threshold is not published by OpenAI: ours);
- ``label_model`` when the label is one of ``passing_labels``;
- ``multi`` when score >= pass_threshold, or, without one, when every sub-grader passed;
- ``json_schema`` when the output validates; ``json_fields``/``tool_call`` when score >=
  pass_threshold (default 1).
A template naming nothing, or an unreadable judge answer, scores 0 and records why in
``error``; a judge that cannot be reached raises (the item is then ``errored``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.evals.graders import formula, similarity, structured
from service.evals.graders.judges import Judge, JudgeReply, label_with_model, score_with_model
from service.evals.graders.sample import Sample
from service.evals.graders.specs import (
    JsonFieldsGrader,
    JsonSchemaGrader,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
    ToolCallGrader,
)
from service.evals.graders.templates import TemplateError, render, resolve

LeafSpec = (
    StringCheckGrader
    | TextSimilarityGrader
    | PythonGrader
    | ScoreModelGrader
    | LabelModelGrader
    | JsonSchemaGrader
    | JsonFieldsGrader
    | ToolCallGrader
)
GraderSpec = LeafSpec | MultiGrader


class GraderUnavailable(RuntimeError):
    """A grader this deployment refuses to run (``python`` without a sandbox, no judge)."""


@dataclass(frozen=True)
class GradingContext:
    wordnet_dir: Path
    judge: Judge | None = None


@dataclass
class JudgeUsage:
    invocation_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, reply: JudgeReply) -> None:
        self.invocation_count += 1
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens


@dataclass
class GraderResult:
    name: str
    type: str
    score: float
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    judge_usage: dict[str, JudgeUsage] = field(default_factory=dict)

    def as_output(self) -> dict[str, Any]:
        """The entry of an output item's ``results[]`` (extra keys are allowed there)."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": f"{self.type.replace('_', '-')}-grader",
            "score": self.score,
            "passed": self.passed,
            "sample": self.details or None,
        }
        if self.error:
            out["error"] = self.error
        return out


def grade(
    grader: GraderSpec, item: dict[str, Any], sample: Sample, ctx: GradingContext, name: str = ""
) -> GraderResult:
    context = {"item": item, "sample": sample.context()}
    result = GraderResult(name or grader.name, grader.type, 0.0, False)
    try:
        _grade_into(result, grader, context, ctx)
    except TemplateError as exc:
        result.score, result.passed, result.error = 0.0, False, f"invalid_variable_error: {exc}"
    except formula.FormulaError as exc:
        result.score, result.passed, result.error = 0.0, False, f"formula_parse_error: {exc}"
    return result


def _grade_into(
    result: GraderResult, grader: GraderSpec, context: dict[str, Any], ctx: GradingContext
) -> None:
    if isinstance(grader, StringCheckGrader):
        result.score = _string_check(
            grader.operation, render(grader.input, context), render(grader.reference, context)
        )
        result.passed = result.score == 1.0
    elif isinstance(grader, TextSimilarityGrader):
        result.score = similarity.similarity(
            grader.evaluation_metric,
            render(grader.input, context),
            render(grader.reference, context),
            ctx.wordnet_dir,
        )
        result.passed = result.score >= grader.pass_threshold
        result.details = {"impl": similarity.IMPLEMENTATIONS[grader.evaluation_metric]}
    elif isinstance(grader, JsonSchemaGrader):
        result.score, error = structured.schema_compliance(
            resolve(grader.input, context), grader.json_schema
        )
        result.passed = result.score == 1.0
        result.details = {"reason": error} if error else {}
    elif isinstance(grader, JsonFieldsGrader | ToolCallGrader):
        output, reference = resolve(grader.input, context), resolve(grader.reference, context)
        if isinstance(grader, JsonFieldsGrader):
            result.score, error = structured.field_share(output, reference, grader.fields)
        else:
            result.score, error = structured.tool_call_match(output, reference)
        result.passed = result.score >= grader.pass_threshold
        result.details = {"reason": error} if error else {}
    elif isinstance(grader, ScoreModelGrader | LabelModelGrader):
        _judge(result, grader, context, ctx)
    elif isinstance(grader, MultiGrader):
        _multi(result, grader, context, ctx)
    else:
        raise GraderUnavailable("python graders need a sandbox, and none is enabled")


def _string_check(operation: str, value: str, reference: str) -> float:
    if operation == "eq":
        hit = value == reference
    elif operation == "ne":
        hit = value != reference
    elif operation == "like":
        hit = reference in value
    else:  # ilike
        hit = reference.casefold() in value.casefold()
    return 1.0 if hit else 0.0


def _judge(
    result: GraderResult,
    grader: ScoreModelGrader | LabelModelGrader,
    context: dict[str, Any],
    ctx: GradingContext,
) -> None:
    if ctx.judge is None:
        raise GraderUnavailable(f"{grader.type} grader '{grader.name}' has no judge to call")
    if isinstance(grader, ScoreModelGrader):
        verdict, reply = score_with_model(grader, context, ctx.judge)
    else:
        verdict, reply = label_with_model(grader, context, ctx.judge)
    result.score, result.passed, result.details, result.error = (
        verdict.score,
        verdict.passed,
        verdict.details,
        verdict.error,
    )
    result.judge_usage.setdefault(grader.model, JudgeUsage()).add(reply)


def _multi(
    result: GraderResult, grader: MultiGrader, context: dict[str, Any], ctx: GradingContext
) -> None:
    tree = formula.parse(grader.calculate_output, set(grader.graders))
    scores: dict[str, float] = {}
    all_passed = True
    sub_results: dict[str, Any] = {}
    for key, sub in grader.graders.items():
        sub_result = GraderResult(key, sub.type, 0.0, False)
        try:
            _grade_into(sub_result, sub, context, ctx)
        except TemplateError as exc:
            sub_result.error = f"invalid_variable_error: {exc}"
        scores[key] = sub_result.score
        all_passed = all_passed and sub_result.passed
        sub_results[key] = {"score": sub_result.score, "passed": sub_result.passed}
        for model, usage in sub_result.judge_usage.items():
            total = result.judge_usage.setdefault(model, JudgeUsage())
            total.invocation_count += usage.invocation_count
            total.prompt_tokens += usage.prompt_tokens
            total.completion_tokens += usage.completion_tokens
    result.score = formula.evaluate(tree, scores)
    result.passed = (
        result.score >= grader.pass_threshold if grader.pass_threshold is not None else all_passed
    )
    result.details = {"sub_rewards": sub_results}
