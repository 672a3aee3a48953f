"""The files API's response models: OpenAI's file object plus tuneforge's validation report."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from service.datasets.report_schema import FileValidationReport, PendingValidation


class FileStatus(StrEnum):
    UPLOADED = "uploaded"  # stored; a worker is validating it
    PROCESSED = "processed"  # valid for the provider it was checked for
    ERROR = "error"  # invalid (see status_details and validation) or unreadable


class FileObject(BaseModel):
    object: Literal["file"] = "file"
    id: str
    bytes: int
    created_at: int
    expires_at: int | None = None
    filename: str
    purpose: str = Field(examples=["fine-tune"])
    status: FileStatus
    status_details: str | None = None
    format: str | None = Field(default=None, description="chat, prompt_completion, dpo, …")
    sha256: str | None = None
    validation: FileValidationReport | PendingValidation | None = None


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool
