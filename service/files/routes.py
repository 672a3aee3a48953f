"""``/v1/files``: OpenAI-compatible upload, list, retrieve, delete and content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from service.api.deps import CallerDep, SessionDep, SettingsDep, request_session
from service.api.query import After
from service.api.wire import BINARY, ListPage
from service.db.ids import new_id
from service.db.session import after_commit
from service.files import service, split
from service.files.naming import storage_path
from service.files.objects import FileDeleted, FileObject
from service.files.split import SplitObject, SplitRequest, split_object
from service.files.upload import stream_multipart_upload

router = APIRouter(prefix="/v1/files", tags=["files"])


# The body is streamed to storage by hand (never buffered), so FastAPI can't infer its schema.
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "purpose"],
                "properties": {
                    "file": {
                        **BINARY,
                        "description": "JSONL training or validation data, or eval rows",
                    },
                    "purpose": {"type": "string", "enum": ["fine-tune", "evals"]},
                    "provider": {
                        "type": "string",
                        "description": "validate for this provider (default openai)",
                    },
                    "model": {"type": "string", "description": "validate for this base model"},
                },
            }
        }
    },
}


@router.post(
    "",
    status_code=200,
    response_model=FileObject,
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def create_file(request: Request, caller: CallerDep, settings: SettingsDep) -> dict[str, Any]:
    """The body streams to disk and small files are validated before any transaction opens:
    on the embedded database a transaction holds the write lock, and a slow or large upload
    must not hold it for everyone else. (The request guard has already refused a declared
    length over the limit.)"""
    file_id = new_id("file-")
    path = storage_path(settings.files_dir, caller.tenant_id, file_id)
    upload = await stream_multipart_upload(
        request.headers.get("content-type", ""),
        request.stream(),
        path,
        settings.max_upload_bytes,
        max_field_bytes=settings.max_form_field_bytes,
    )
    try:
        fields = service.parse_upload_fields(upload.fields)
        report = await run_in_threadpool(service.inline_report, settings, path, upload, fields)
        async with request_session(request) as session:
            file = await run_in_threadpool(
                service.register_upload,
                session,
                tenant_id=caller.tenant_id,
                file_id=file_id,
                path=path,
                upload=upload,
                request=fields,
                report=report,
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return service.file_object(file)


@router.get("", response_model=ListPage[FileObject])
def list_files(
    caller: CallerDep,
    session: SessionDep,
    purpose: str | None = None,
    after: After = None,
    limit: int = Query(default=100),
    order: str = Query(default="desc"),
) -> dict[str, Any]:
    found = service.list_files(
        session, caller.tenant_id, purpose=purpose, after=after, limit=limit, order=order
    )
    page = found.items
    return {
        "object": "list",
        "data": [service.file_object(f) for f in page],
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
        "has_more": found.has_more,
    }


@router.get("/{file_id}", response_model=FileObject)
def retrieve_file(file_id: str, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    return service.file_object(service.get_file(session, caller.tenant_id, file_id))


@router.delete("/{file_id}", response_model=FileDeleted)
def delete_file(file_id: str, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    file = service.delete_file(session, caller.tenant_id, file_id)
    path = Path(file.storage_path)
    after_commit(session, lambda: path.unlink(missing_ok=True))
    return {"id": file.id, "object": "file", "deleted": True}


@router.post("/{file_id}/split", response_model=SplitObject)
def split_file(
    file_id: str,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    body: SplitRequest | None = None,
) -> SplitObject:
    """Both fields are optional, so the body is too: a bare POST takes the defaults."""
    request = body if body is not None else SplitRequest()
    return split_object(*split.split_file(session, settings, caller.tenant_id, file_id, request))


CONTENT_TYPES = {"csv": "text/csv", "json": "application/json"}
"""Result files by format; an uploaded file is JSON lines."""


@router.get(
    "/{file_id}/content",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {"schema": BINARY}}}},
)
def file_content(file_id: str, caller: CallerDep, session: SessionDep) -> FileResponse:
    file = service.get_file(session, caller.tenant_id, file_id)
    media_type = CONTENT_TYPES.get(file.format or "", "application/octet-stream")
    if file.purpose != "fine-tune-results":
        media_type = "application/jsonl"
    name = Path(file.filename).name
    return FileResponse(file.storage_path, media_type=media_type, filename=name)
