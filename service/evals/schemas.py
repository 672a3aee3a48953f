"""The wire shapes of ``/v1/evals``: OpenAI's create/update requests and the eval object."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from service.db.models import Eval
from service.evals.graders.specs import Grader

MetadataKey = Annotated[StrictStr, Field(max_length=64)]
MetadataValue = Annotated[StrictStr, Field(max_length=512)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)]
MAX_CRITERIA = 64


class CustomDataSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["custom"]
    item_schema: dict[str, Any]
    include_sample_schema: StrictBool = False


class LogsDataSourceConfig(BaseModel):
    """Accepted on the wire so the refusal can say why (we keep no completion logs)."""

    type: Literal["logs", "stored_completions"]
    metadata: dict[str, Any] | None = None


DataSourceConfig = Annotated[
    CustomDataSourceConfig | LogsDataSourceConfig, Field(discriminator="type")
]


class CreateEvalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[StrictStr, Field(max_length=256)] | None = None
    metadata: Metadata | None = None
    data_source_config: DataSourceConfig
    testing_criteria: Annotated[list[Grader], Field(min_length=1, max_length=MAX_CRITERIA)]


class UpdateEvalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[StrictStr, Field(max_length=256)] | None = None
    metadata: Metadata | None = None


class EvalObject(BaseModel):
    object: Literal["eval"] = "eval"
    id: str
    name: str
    created_at: int
    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]]
    metadata: dict[str, str] | None


class EvalDeleted(BaseModel):
    object: Literal["eval.deleted"] = "eval.deleted"
    deleted: bool
    eval_id: str


class EvalList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EvalObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


# What a run's sample looks like to templates (``include_sample_schema``).
SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "choices": {"type": "array"},
        "output_text": {"type": "string"},
        "output_json": {},
        "output_tools": {"type": "array"},
    },
    "required": ["model", "choices", "output_text"],
}


def stored_config(config: CustomDataSourceConfig) -> dict[str, Any]:
    """The config as OpenAI echoes it: one schema with ``item`` (and ``sample``)."""
    properties: dict[str, Any] = {"item": config.item_schema}
    required = ["item"]
    if config.include_sample_schema:
        properties["sample"] = SAMPLE_SCHEMA
        required.append("sample")
    schema = {"type": "object", "properties": properties, "required": required}
    return {"type": "custom", "schema": schema}


def eval_object(row: Eval) -> EvalObject:
    return EvalObject(
        id=row.id,
        name=row.name,
        created_at=int(row.created_at.timestamp()),
        data_source_config=row.data_source_config,
        testing_criteria=row.testing_criteria,
        metadata=row.user_metadata,
    )
