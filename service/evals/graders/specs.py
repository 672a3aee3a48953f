"""The wire shapes of ``testing_criteria``: one pydantic model per grader type, discriminated
by ``type``. Parsing a criterion is the first half of validating it; ``validate.py`` checks
what a schema cannot (templates against the item schema, formulas, refused types)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

Template = Annotated[StrictStr, Field(max_length=65_536)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=256)]
ModelName = Annotated[StrictStr, Field(min_length=1, max_length=256)]
Threshold = Annotated[float, Field(allow_inf_nan=False)]

SIMILARITY_METRICS = (
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)
SimilarityMetric = Literal[
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
]


class _Grader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


class StringCheckGrader(_Grader):
    type: Literal["string_check"]
    input: Template
    reference: Template
    operation: Literal["eq", "ne", "like", "ilike"]


class TextSimilarityGrader(_Grader):
    type: Literal["text_similarity"]
    input: Template
    reference: Template
    evaluation_metric: SimilarityMetric
    pass_threshold: Threshold


class PythonGrader(_Grader):
    type: Literal["python"]
    source: Annotated[StrictStr, Field(max_length=256 * 1024)]
    image_tag: StrictStr | None = None
    pass_threshold: Threshold | None = None


class InputText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["input_text", "output_text"]
    text: Template


class InputMessage(BaseModel):
    """A judge prompt message: a string or text parts (images and audio are not sent)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["message"] | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: Template | InputText | Annotated[list[InputText], Field(min_length=1, max_length=64)]

    def template_texts(self) -> list[str]:
        if isinstance(self.content, str):
            return [self.content]
        if isinstance(self.content, InputText):
            return [self.content.text]
        return [part.text for part in self.content]


JudgeInput = Annotated[list[InputMessage], Field(min_length=1, max_length=64)]


class JudgeSamplingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_completions_tokens: Annotated[int, Field(ge=1, le=65_536)] | None = None
    reasoning_effort: StrictStr | None = None


class ScoreModelGrader(_Grader):
    type: Literal["score_model"]
    model: ModelName
    input: JudgeInput
    range: Annotated[list[Threshold], Field(min_length=2, max_length=2)] | None = None
    sampling_params: JudgeSamplingParams | None = None
    pass_threshold: Threshold | None = None

    @model_validator(mode="after")
    def _range_ordered(self) -> ScoreModelGrader:
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError("range must be [low, high] with low < high")
        return self

    def score_range(self) -> tuple[float, float]:
        return (self.range[0], self.range[1]) if self.range else (0.0, 1.0)


Label = Annotated[StrictStr, Field(min_length=1, max_length=256)]


class LabelModelGrader(_Grader):
    type: Literal["label_model"]
    model: ModelName
    input: JudgeInput
    labels: Annotated[list[Label], Field(min_length=1, max_length=64)]
    passing_labels: Annotated[list[Label], Field(min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _passing_subset(self) -> LabelModelGrader:
        unknown = [label for label in self.passing_labels if label not in self.labels]
        if unknown:
            raise ValueError(f"passing_labels {unknown} are not in labels")
        return self


class JsonSchemaGrader(_Grader):
    """Ours: the output parses as JSON and validates against ``schema`` (format compliance)."""

    type: Literal["json_schema"]
    input: Template = "{{sample.output_text}}"
    json_schema: Annotated[dict[str, Any], Field(alias="schema")]


class JsonFieldsGrader(_Grader):
    """Ours: the share of the reference object's fields that the output's JSON equals."""

    type: Literal["json_fields"]
    input: Template = "{{sample.output_text}}"
    reference: Template
    fields: Annotated[list[Label], Field(min_length=1, max_length=256)] | None = None
    pass_threshold: Threshold = 1.0


class ToolCallGrader(_Grader):
    """Ours: the expected tool calls were made with matching arguments."""

    type: Literal["tool_call"]
    input: Template = "{{sample.output_tools}}"
    reference: Template
    pass_threshold: Threshold = 1.0


LeafGrader = Annotated[
    StringCheckGrader
    | TextSimilarityGrader
    | PythonGrader
    | ScoreModelGrader
    | LabelModelGrader
    | JsonSchemaGrader
    | JsonFieldsGrader
    | ToolCallGrader,
    Field(discriminator="type"),
]


class MultiGrader(_Grader):
    """``graders`` is a map name -> grader (OpenAI's docs; no nested ``multi``)."""

    type: Literal["multi"]
    graders: Annotated[dict[Label, LeafGrader], Field(min_length=1, max_length=32)]
    calculate_output: Annotated[StrictStr, Field(min_length=1, max_length=4096)]
    pass_threshold: Threshold | None = None


Grader = Annotated[
    StringCheckGrader
    | TextSimilarityGrader
    | PythonGrader
    | ScoreModelGrader
    | LabelModelGrader
    | JsonSchemaGrader
    | JsonFieldsGrader
    | ToolCallGrader
    | MultiGrader,
    Field(discriminator="type"),
]

GRADER_TYPES = (
    "string_check",
    "text_similarity",
    "python",
    "score_model",
    "label_model",
    "json_schema",
    "json_fields",
    "tool_call",
    "multi",
)
