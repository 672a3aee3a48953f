"""What eval create checks beyond the wire schema: every template names a field the item
schema has (or a ``sample`` field), formulas parse, JSON schemas are schemas, and graders we
cannot run here are refused with a 400 that says why, before anything is stored or spent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from service.errors import InvalidRequest
from service.evals.graders import formula
from service.evals.graders.grade import GraderSpec
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
from service.evals.graders.templates import SAMPLE_FIELDS, Reference, TemplateError, references
from service.evals.graders.wordnet import is_database
from service.json_depth import TOO_DEEP, too_deep

PYTHON_REFUSED = (
    "python graders run arbitrary code, and this tuneforge has no sandbox to run it in: "
    "use string_check, text_similarity, json_schema, json_fields, tool_call or a model grader."
)
COSINE_REFUSED = (
    "text_similarity 'cosine' needs an embeddings model, and none is configured on this "
    "tuneforge: use fuzzy_match, bleu, gleu, meteor or rouge_*."
)


def check_criteria(
    graders: list[GraderSpec], item_schema: dict[str, Any], wordnet_dir: Path
) -> None:
    for index, grader in enumerate(graders):
        _check(grader, f"testing_criteria[{index}]", item_schema, wordnet_dir)


def _check(grader: GraderSpec, where: str, item_schema: dict[str, Any], wordnet_dir: Path) -> None:
    if isinstance(grader, PythonGrader):
        raise InvalidRequest(PYTHON_REFUSED, param=f"{where}.type", code="grader_not_supported")
    if isinstance(grader, TextSimilarityGrader):
        metric_param = f"{where}.evaluation_metric"
        if grader.evaluation_metric == "cosine":
            raise InvalidRequest(COSINE_REFUSED, param=metric_param, code="grader_not_supported")
        if grader.evaluation_metric == "meteor" and not is_database(wordnet_dir):
            raise InvalidRequest(
                "text_similarity 'meteor' needs WordNet 3.0, and none is installed here "
                f"(TUNEFORGE_WORDNET_DIR={wordnet_dir}; Debian's wordnet-base provides it).",
                param=metric_param,
                code="grader_not_supported",
            )
    if isinstance(grader, JsonSchemaGrader):
        if too_deep(grader.json_schema):
            raise InvalidRequest(f"{where}.schema {TOO_DEEP}.", param=f"{where}.schema")
        try:
            Draft202012Validator.check_schema(grader.json_schema)
        except SchemaError as exc:
            raise InvalidRequest(
                f"{where}.schema is not a JSON Schema: {exc.message}", param=f"{where}.schema"
            ) from None
    if isinstance(grader, MultiGrader):
        try:
            formula.parse(grader.calculate_output, set(grader.graders))
        except formula.FormulaError as exc:
            raise InvalidRequest(str(exc), param=f"{where}.calculate_output") from None
        for key, sub in grader.graders.items():
            _check(sub, f"{where}.graders.{key}", item_schema, wordnet_dir)
        return
    for field, template in _templates(grader):
        check_template(template, f"{where}.{field}", item_schema)


def _templates(grader: GraderSpec) -> list[tuple[str, str]]:
    if isinstance(
        grader, StringCheckGrader | TextSimilarityGrader | JsonFieldsGrader | ToolCallGrader
    ):
        return [("input", grader.input), ("reference", grader.reference)]
    if isinstance(grader, JsonSchemaGrader):
        return [("input", grader.input)]
    if isinstance(grader, ScoreModelGrader | LabelModelGrader):
        return [
            (f"input[{i}].content", text)
            for i, message in enumerate(grader.input)
            for text in message.template_texts()
        ]
    return []


def check_template(
    template: str, param: str, item_schema: dict[str, Any], *, sample: bool = True
) -> None:
    """400 naming ``param`` when ``template`` is malformed or names a field the item schema
    lacks; ``sample=False`` for run prompts, which may reference the item only."""
    try:
        refs = references(template)
    except TemplateError as exc:
        raise InvalidRequest(f"{param}: {exc}.", param=param) from None
    for ref in refs:
        if ref.namespace == "sample" and not sample:
            raise InvalidRequest(
                f"{param}: '{{{{{ref.text}}}}}' names the sample, which does not exist before "
                "sampling: run prompts may reference item fields only.",
                param=param,
                code="invalid_template",
            )
        problem = _missing(ref, item_schema)
        if problem:
            raise InvalidRequest(f"{param}: {problem}.", param=param, code="invalid_template")


def check_message_list_reference(reference: str, param: str, item_schema: dict[str, Any]) -> None:
    """An ``item_reference`` names the list of messages to send: one whose schema says it is
    something else (a string, an object) would fail every row at sampling, after the run
    started."""
    refs = references("{{" + reference + "}}")
    schema: Any = item_schema
    for step in refs[0].steps if refs else []:
        if not isinstance(schema, dict):
            return
        if isinstance(step, int):
            schema = schema.get("items")
            continue
        properties = schema.get("properties")
        schema = properties.get(step) if isinstance(properties, dict) else None
    declared = schema.get("type") if isinstance(schema, dict) else None
    if (
        declared is None
        or declared == "array"
        or (isinstance(declared, list) and "array" in declared)
    ):
        return
    raise InvalidRequest(
        f"{param}: '{reference}' is a {declared} in the item_schema; an item_reference names "
        "the row's list of messages (an array).",
        param=param,
        code="invalid_template",
    )


def _missing(ref: Reference, item_schema: dict[str, Any]) -> str | None:
    if ref.namespace == "sample":
        first = ref.steps[0] if ref.steps else None
        if first not in SAMPLE_FIELDS:
            return (
                f"'{{{{{ref.text}}}}}' names no sample field (sample has "
                f"{', '.join(SAMPLE_FIELDS)})"
            )
        return None
    schema: Any = item_schema
    walked = "item"
    for step in ref.steps:
        if not isinstance(schema, dict):
            return None
        if isinstance(step, int):
            items = schema.get("items")
            if not isinstance(items, dict):
                return None
            schema, walked = items, f"{walked}[{step}]"
            continue
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return None  # a free-form object: any key may be there
        if step not in properties:
            if schema.get("additionalProperties") not in (None, False) or schema.get(
                "patternProperties"
            ):
                return None
            return (
                f"'{{{{{ref.text}}}}}' names '{step}', which the item_schema does not have at "
                f"{walked} (it has {', '.join(sorted(properties)) or 'no properties'})"
            )
        schema, walked = properties[step], f"{walked}.{step}"
    return None
