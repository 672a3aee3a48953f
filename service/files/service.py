"""Files: register a streamed upload, validate it (inline when small, in a worker when large),
list, fetch, delete. The validation report is kept on the file as ``validation``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from service.datasets.tokens import model_tokenizer_dir
from service.datasets.validate import ValidationOptions, validate_file
from service.db.models import File
from service.db.types import utcnow
from service.errors import Conflict, InvalidRequest, NotFound
from service.files.naming import sanitize_filename
from service.files.repository import FileRepository
from service.files.upload import StreamedUpload
from service.outbox import enqueue
from service.paging import Page
from service.settings import Settings

PURPOSES = frozenset({"fine-tune", "evals"})
EVALS_PURPOSE = "evals"
"""Rows for eval runs: any JSON lines, checked against an eval's item_schema when a run names
the file (not as training data); no job ever takes such a file."""
VALIDATION_TARGETS = frozenset({"openai", "together", "mistral", "fireworks", "vertex", "local"})
UPLOAD_FIELDS = frozenset({"purpose", "provider", "model"})  # besides the 'file' part
VALIDATE_TASK = "tuneforge.validate_file"
MAX_FILES_PAGE = 10_000  # OpenAI's documented maximum for GET /v1/files?limit=


@dataclass(frozen=True)
class UploadRequest:
    purpose: str
    provider: str
    model: str | None


def parse_upload_fields(fields: dict[str, str]) -> UploadRequest:
    unknown = sorted(set(fields) - UPLOAD_FIELDS)
    if unknown:
        # the openai SDK sends expires_after as expires_after[anchor] / expires_after[seconds]
        hint = "; uploaded files do not expire here" if unknown[0].startswith("expires_") else ""
        raise InvalidRequest(
            f"Unrecognized request argument supplied: {unknown[0]}{hint}", param=unknown[0]
        )
    purpose = fields.get("purpose", "").strip()
    if not purpose:
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose")
    if purpose not in PURPOSES:
        raise InvalidRequest(
            f"Invalid purpose '{purpose}': tuneforge accepts 'fine-tune' and 'evals' files.",
            param="purpose",
        )
    provider = fields.get("provider", "openai").strip() or "openai"
    if provider not in VALIDATION_TARGETS:
        raise InvalidRequest(
            f"Unknown provider '{provider}' for validation; one of "
            f"{', '.join(sorted(VALIDATION_TARGETS))}.",
            param="provider",
        )
    model = fields.get("model", "").strip() or None
    return UploadRequest(purpose=purpose, provider=provider, model=model)


def inline_report(
    settings: Settings, path: Path, upload: StreamedUpload, request: UploadRequest
) -> ValidationReport | None:
    """The validation report of a small upload, computed before its row is written (no
    transaction open meanwhile); None for a large one, which a worker validates."""
    if upload.bytes > settings.inline_validation_max_bytes or request.purpose == EVALS_PURPOSE:
        return None
    return validation_report(path, request.provider, request.model, settings)


def register_upload(
    session: Session,
    *,
    tenant_id: str,
    file_id: str,
    path: Path,
    upload: StreamedUpload,
    request: UploadRequest,
    report: ValidationReport | None,
) -> File:
    file = FileRepository(session).add(
        File(
            id=file_id,
            tenant_id=tenant_id,
            filename=sanitize_filename(upload.filename),
            purpose=request.purpose,
            bytes=upload.bytes,
            sha256=upload.sha256,
            storage_path=str(path),
            status="uploaded",
            validation={"pending": True, "provider": request.provider, "model": request.model},
        )
    )
    if request.purpose == EVALS_PURPOSE:
        # an eval run checks each row against its eval's item_schema, naming the line
        file.status = "processed"
        file.validation = None
        return file
    if report is not None:
        apply_report(file, report)
    else:
        enqueue(
            session,
            task=VALIDATE_TASK,
            target_id=file.id,
            dedupe_key=f"validate:{file.id}",
            tenant_id=tenant_id,
        )
    return file


def validation_options(settings: Settings, model: str | None) -> ValidationOptions:
    return ValidationOptions(
        max_line_bytes=settings.max_line_bytes,
        tokenizer_dir=model_tokenizer_dir(settings.tokenizers_dir, model),
    )


@dataclass(frozen=True)
class ValidationReport:
    provider: str
    model: str | None
    report: dict[str, Any] | None
    read_error: str | None = None


def validation_report(
    path: Path | str, provider: str, model: str | None, settings: Settings
) -> ValidationReport:
    try:
        report = validate_file(
            path, provider=provider, model=model, options=validation_options(settings, model)
        ).to_dict()
    except OSError as exc:
        return ValidationReport(provider, model, None, read_error=str(exc.strerror or exc))
    return ValidationReport(provider, model, report)


def apply_report(file: File, result: ValidationReport) -> None:
    report = result.report
    if report is None:
        file.status = "error"
        file.status_details = f"The stored file could not be read: {result.read_error}"
        file.validation = {
            "valid": False,
            "provider": result.provider,
            "model": result.model,
            "errors": [],
        }
        return
    file.validation = report
    file.format = report.get("format")
    if report["valid"]:
        file.status = "processed"
        file.status_details = None
    else:
        first = report["errors"][0] if report["errors"] else {}
        where = f"line {first['line']}: " if first.get("line") else ""
        file.status = "error"
        file.status_details = (
            f"{report['error_count']} problem(s); first: {where}{first.get('message', '')}"
        )


def apply_validation(file: File, settings: Settings) -> None:
    """Validate the stored bytes for the target recorded at upload and store the report."""
    target: dict[str, Any] = file.validation or {}
    provider = str(target.get("provider") or "openai")
    model = target.get("model")
    apply_report(
        file,
        validation_report(
            file.storage_path, provider, model if isinstance(model, str) else None, settings
        ),
    )


@dataclass(frozen=True)
class PendingValidation:
    path: str
    provider: str
    model: str | None


def pending_validation(session: Session, file_id: str) -> PendingValidation | None:
    """The worker's first half of large-file validation: what to check, read in a short
    transaction so that no transaction stays open while the file is read. None when the file
    is gone or already validated (idempotent)."""
    file = FileRepository(session).get_any_tenant(file_id)
    if file is None or file.status != "uploaded":
        return None
    target: dict[str, Any] = file.validation or {}
    model = target.get("model")
    return PendingValidation(
        path=file.storage_path,
        provider=str(target.get("provider") or "openai"),
        model=model if isinstance(model, str) else None,
    )


def store_validation(session: Session, file_id: str, report: ValidationReport) -> None:
    """The second half: keep the report unless another run got there first."""
    file = FileRepository(session).get_any_tenant(file_id)
    if file is None or file.status != "uploaded":
        return
    apply_report(file, report)
    session.flush()


def get_file(session: Session, tenant_id: str, file_id: str) -> File:
    file = FileRepository(session).get(tenant_id, file_id)
    if file is None:
        raise NotFound(f"No such File object: {file_id}", param="id")
    return file


def list_files(
    session: Session,
    tenant_id: str,
    *,
    purpose: str | None = None,
    after: str | None = None,
    limit: int = 100,
    order: str = "desc",
) -> Page[File]:
    """One page of ``limit`` files (1..MAX_FILES_PAGE) and whether more follow."""
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'.", param="order")
    if not 1 <= limit <= MAX_FILES_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_FILES_PAGE}.", param="limit")
    found = FileRepository(session).page(
        tenant_id, purpose=purpose, after=after, limit=limit + 1, order=order
    )
    return Page.of(found, limit)


def delete_file(session: Session, tenant_id: str, file_id: str) -> File:
    repo = FileRepository(session)
    file = repo.get(tenant_id, file_id, lock=True)
    if file is None:
        raise NotFound(f"No such File object: {file_id}", param="id")
    if repo.used_by_active_job(file):
        raise Conflict(
            f"File {file_id} is used by a fine-tuning job that has not finished.",
            code="file_in_use",
        )
    file.deleted_at = utcnow()
    session.flush()
    return file


def file_object(file: File) -> dict[str, Any]:
    """The OpenAI file object, plus tuneforge's ``validation`` report."""
    return {
        "id": file.id,
        "object": "file",
        "bytes": file.bytes,
        "created_at": int(file.created_at.timestamp()),
        "expires_at": None,
        "filename": file.filename,
        "purpose": file.purpose,
        "status": file.status,
        "status_details": file.status_details,
        "format": file.format,
        "sha256": file.sha256,
        "validation": file.validation,
    }
