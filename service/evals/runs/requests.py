"""The wire shape of ``POST /v1/evals/{id}/runs`` (OpenAI's ``jsonl`` and ``completions`` data
sources), and the checks a run gets before anything is spent: a template may name only item
fields the eval's item_schema has, and sources we cannot serve are refused saying why."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictStr

from service.errors import InvalidRequest
from service.evals.graders.specs import InputMessage
from service.evals.graders.validate import check_message_list_reference, check_template
from service.evals.runs.items import SamplingPlan
from service.evals.schemas import Metadata

MAX_INLINE_ROWS = 10_000


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: dict[str, Any]
    sample: dict[str, Any] | None = None


class FileContentSource(BaseModel):
    type: Literal["file_content"]
    content: Annotated[list[Row], Field(min_length=1, max_length=MAX_INLINE_ROWS)]


class FileIdSource(BaseModel):
    type: Literal["file_id"]
    id: Annotated[StrictStr, Field(min_length=1, max_length=64)]


class StoredCompletionsSource(BaseModel):
    """Accepted on the wire so the refusal can say why."""

    type: Literal["stored_completions", "responses"]


Source = Annotated[
    FileContentSource | FileIdSource | StoredCompletionsSource, Field(discriminator="type")
]


class TemplateMessages(BaseModel):
    type: Literal["template"]
    template: Annotated[list[InputMessage], Field(min_length=1, max_length=64)]


class ItemReferenceMessages(BaseModel):
    type: Literal["item_reference"]
    item_reference: Annotated[StrictStr, Field(min_length=1, max_length=256)]


class SamplingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # [APIREF] examples spell it max_completions_tokens: both are accepted
    max_completion_tokens: Annotated[int, Field(ge=1, le=65_536)] | None = Field(
        default=None,
        validation_alias=AliasChoices("max_completion_tokens", "max_completions_tokens"),
    )
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    seed: int | None = None
    reasoning_effort: StrictStr | None = None
    response_format: dict[str, Any] | None = None
    tools: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = None


class JsonlDataSource(BaseModel):
    type: Literal["jsonl"]
    source: Source


class CompletionsDataSource(BaseModel):
    type: Literal["completions"]
    source: Source
    model: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    input_messages: (
        Annotated[TemplateMessages | ItemReferenceMessages, Field(discriminator="type")] | None
    ) = None
    sampling_params: SamplingParams | None = None


class ResponsesDataSource(BaseModel):
    type: Literal["responses"]


DataSource = Annotated[
    JsonlDataSource | CompletionsDataSource | ResponsesDataSource, Field(discriminator="type")
]


class CreateRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[StrictStr, Field(max_length=256)] | None = None
    metadata: Metadata | None = None
    data_source: DataSource


def sampling_plan(
    source: JsonlDataSource | CompletionsDataSource | ResponsesDataSource,
    item_schema: dict[str, Any],
) -> SamplingPlan | None:
    """How the run samples (None for ``jsonl``: rows carry their samples); 400 naming the
    field for what cannot run."""
    if isinstance(source, ResponsesDataSource):
        raise InvalidRequest(
            "data_source type 'responses' samples through the Responses API, which tuneforge "
            "does not serve: use type 'completions'.",
            param="data_source.type",
            code="unsupported_data_source",
        )
    if isinstance(source.source, StoredCompletionsSource):
        raise InvalidRequest(
            f"source type '{source.source.type}' reads stored production traffic, and "
            "tuneforge keeps none: use 'file_content' or 'file_id'.",
            param="data_source.source.type",
            code="unsupported_data_source",
        )
    if isinstance(source, JsonlDataSource):
        return None
    if source.model is None:
        raise InvalidRequest(
            "A 'completions' data source needs the model to sample.", param="data_source.model"
        )
    messages = source.input_messages
    if messages is None:
        raise InvalidRequest(
            "A 'completions' data source needs input_messages (a template or an item_reference).",
            param="data_source.input_messages",
        )
    params = source.sampling_params or SamplingParams()
    common: dict[str, Any] = {
        "model": source.model,
        "max_completion_tokens": params.max_completion_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "seed": params.seed,
        "response_format": params.response_format,
        "tools": params.tools,
    }
    if isinstance(messages, ItemReferenceMessages):
        reference = messages.item_reference.strip().removeprefix("{{").removesuffix("}}").strip()
        check_template(
            "{{" + reference + "}}",
            "data_source.input_messages.item_reference",
            item_schema,
            sample=False,
        )
        check_message_list_reference(
            reference, "data_source.input_messages.item_reference", item_schema
        )
        return SamplingPlan(item_reference=reference, **common)
    template: list[dict[str, Any]] = []
    for index, message in enumerate(messages.template):
        for text in message.template_texts():
            check_template(
                text,
                f"data_source.input_messages.template[{index}].content",
                item_schema,
                sample=False,
            )
        template.append({"role": message.role, "content": "\n".join(message.template_texts())})
    return SamplingPlan(template=template, **common)
