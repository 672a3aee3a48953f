"""The prompting baseline a tuned model is compared with — shared by a study and by a job's
``evaluation`` — and the bounds of an evaluation spec. Imports nothing of the jobs domain, so
the job create request can name it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

MAX_BASELINES = 10
MAX_CRITERIA = 16
MAX_FEW_SHOT = 64
DEFAULT_FEW_SHOT = 5
ModelName = Annotated[StrictStr, Field(min_length=1, max_length=255)]
FileId = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class StudyBaseline(BaseModel):
    """A prompting baseline: a base model with an optional system prompt and ``few_shot``
    examples drawn from the train split."""

    model_config = ConfigDict(extra="forbid")

    model: ModelName
    provider: Annotated[StrictStr, Field(max_length=32)] | None = None
    system_prompt: Annotated[StrictStr, Field(max_length=32_768)] | None = None
    few_shot: Annotated[int, Field(ge=0, le=MAX_FEW_SHOT)] = 0
