"""The validation report as the API shows it (on a file, and summarised on a job): typed, so
that ``/openapi.json`` documents it. ``ValidationReport.to_dict`` produces this shape."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ValidationIssue(BaseModel):
    line: int | None = Field(description="1-based line; null for a file-level problem")
    code: str = Field(description="stable: clients match on it", examples=["invalid_json"])
    message: str


class ExampleTokens(BaseModel):
    min: int | None = None
    p50: int | None = None
    p95: int | None = None
    max: int | None = None


class TokenReport(BaseModel):
    total: int
    trainable: int
    estimated: bool = Field(description="true when no exact tokenizer for the model was found")
    assistant: int | None = None
    tokenizer: str | None = None
    context_length: int | None = None
    examples_over_context: int | None = None
    billable_per_epoch: int | None = None
    per_example: ExampleTokens | None = None
    counted: bool | None = None


class FileValidationReport(BaseModel):
    """Every problem with its line, token counts and billed tokens, for one provider/model."""

    valid: bool
    provider: str
    model: str | None = None
    format: str | None = None
    examples: int = 0
    messages: int = 0
    lines: int = 0
    bytes: int = 0
    errors: list[ValidationIssue] = Field(default_factory=list)
    warnings: list[ValidationIssue] = Field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    error_counts: dict[str, int] = Field(default_factory=dict)
    warning_counts: dict[str, int] = Field(default_factory=dict)
    tokens: TokenReport | None = None
    billed_tokens: int | None = None
    epochs: int | float | None = None


class PendingValidation(BaseModel):
    """A large file is validated in a worker; its report replaces this when done."""

    pending: Literal[True]
    provider: str
    model: str | None = None


class FileValidationBrief(BaseModel):
    valid: bool
    provider: str | None = None
    format: str | None = None
    examples: int | None = None
    tokens: int | None = None
    billed_tokens: int | None = None
    warning_count: int = 0


class JobValidationSummary(BaseModel):
    """The reports of the job's files at create, in brief."""

    training_file: FileValidationBrief
    validation_file: FileValidationBrief | None = None
