"""``/v1/files``: OpenAI-compatible upload, list, retrieve, delete and content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.db.ids import new_id
from service.db.session import after_commit
from service.errors import PayloadTooLarge
from service.files import service
from service.files.naming import storage_path
from service.files.upload import stream_multipart_upload

router = APIRouter(prefix="/v1/files", tags=["files"])

# multipart framing around the file's bytes (boundaries, part headers, the purpose field)
_MULTIPART_OVERHEAD = 64 * 1024


@router.post("", status_code=200)
async def create_file(
    request: Request, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    limit = settings.max_upload_bytes
    if declared and declared.isdigit() and int(declared) > limit + _MULTIPART_OVERHEAD:
        raise PayloadTooLarge(
            f"Upload of {declared} bytes exceeds the {limit}-byte limit.", param="file"
        )
    file_id = new_id("file-")
    path = storage_path(settings.files_dir, caller.tenant_id, file_id)
    upload = await stream_multipart_upload(
        request.headers.get("content-type", ""), request.stream(), path, settings.max_upload_bytes
    )
    try:
        fields = service.parse_upload_fields(upload.fields)
        file = await run_in_threadpool(
            service.register_upload,
            session,
            settings,
            tenant_id=caller.tenant_id,
            file_id=file_id,
            path=path,
            upload=upload,
            request=fields,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return service.file_object(file)


@router.get("")
def list_files(
    caller: CallerDep,
    session: SessionDep,
    purpose: str | None = None,
    after: str | None = None,
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


@router.get("/{file_id}")
def retrieve_file(file_id: str, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    return service.file_object(service.get_file(session, caller.tenant_id, file_id))


@router.delete("/{file_id}")
def delete_file(file_id: str, caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    file = service.delete_file(session, caller.tenant_id, file_id)
    path = Path(file.storage_path)
    after_commit(session, lambda: path.unlink(missing_ok=True))
    return {"id": file.id, "object": "file", "deleted": True}


@router.get("/{file_id}/content")
def file_content(file_id: str, caller: CallerDep, session: SessionDep) -> FileResponse:
    file = service.get_file(session, caller.tenant_id, file_id)
    return FileResponse(file.storage_path, media_type="application/jsonl", filename=file.filename)
