"""``/v1/models`` objects: OpenAI's model object, plus the provider that serves it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ModelObject(BaseModel):
    object: Literal["model"] = "model"
    id: str = Field(description="what a create or a completion takes as ``model``")
    created: int
    owned_by: str = Field(description="the provider for a base model; the tenant for a tuned one")
    provider: str
    kind: Literal["base", "fine-tuned"]
    base_model: str | None = Field(default=None, description="a tuned model's base")
    fine_tuning_job_id: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]
