"""``/v1/fine_tuning/jobs``: OpenAI-compatible create, list, retrieve, cancel, pause, resume,
events and checkpoints. Parsing and status codes only; each route calls one service function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from service.api.deps import CallerDep, SessionDep, SettingsDep
from service.api.wire import BINARY, ListPage
from service.jobs.api import pause, results, service
from service.jobs.api.objects import FineTuningJob, FineTuningJobCheckpoint, FineTuningJobEvent
from service.jobs.api.schemas import (
    CreateJobRequest,
    checkpoint_object,
    event_object,
    job_object,
    page,
)
from service.studies import attached

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine-tuning"])

After = Annotated[str | None, Query(max_length=64)]


@router.post("", response_model=FineTuningJob)
def create_job(
    body: CreateJobRequest, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """OpenAI's create; with ``evaluation`` (ours) the tuned model is evaluated against
    prompting baselines on held-out items once the job succeeds."""
    # Plain JSON already, documented by the response model and checked against it in tests:
    # skip FastAPI's validate-and-encode pass on the hot create path (a study creates many).
    created = attached.create_job(session, settings, caller.tenant_id, body)
    response = job_object(created.job)
    if created.warnings:
        response["warnings"] = [warning.to_dict() for warning in created.warnings]
    return JSONResponse(response)


@router.get("", response_model=ListPage[FineTuningJob])
def list_jobs(
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    after: After = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    found = service.list_jobs(
        session,
        caller.tenant_id,
        after=after,
        limit=limit,
        metadata=service.metadata_filters(request.query_params),
    )
    return page([job_object(job) for job in found.items], found.has_more)


@router.get("/{job_id}", response_model=FineTuningJob)
def retrieve_job(job_id: str, caller: CallerDep, session: SessionDep) -> JSONResponse:
    # The job object is plain JSON already: skip FastAPI's generic encoder (the hot read path).
    return JSONResponse(job_object(service.get_job(session, caller.tenant_id, job_id)))


@router.post("/{job_id}/cancel", response_model=FineTuningJob)
def cancel_job(
    job_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """OpenAI's cancel; on a succeeded job whose evaluation (ours) is still pending or running,
    cancels the evaluation and returns the job, still succeeded."""
    return job_object(attached.cancel_job(session, settings, caller.tenant_id, job_id))


@router.post("/{job_id}/pause", response_model=FineTuningJob)
def pause_job(
    job_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Pause a running job (openai and local jobs); it reads ``pausing``, then ``paused``."""
    return job_object(pause.pause_job(session, settings, caller.tenant_id, job_id))


@router.post("/{job_id}/resume", response_model=FineTuningJob)
def resume_job(
    job_id: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Resume a paused job: a local one trains on from its last checkpoint."""
    return job_object(pause.resume_job(session, settings, caller.tenant_id, job_id))


@router.get("/{job_id}/events", response_model=ListPage[FineTuningJobEvent])
def list_events(
    job_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: After = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    found = service.list_events(session, caller.tenant_id, job_id, after=after, limit=limit)
    return page([event_object(event) for event in found.items], found.has_more)


@router.get("/{job_id}/checkpoints", response_model=ListPage[FineTuningJobCheckpoint])
def list_checkpoints(
    job_id: str,
    caller: CallerDep,
    session: SessionDep,
    after: After = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    job, found = service.list_checkpoints(
        session, caller.tenant_id, job_id, after=after, limit=limit
    )
    return page([checkpoint_object(c, job) for c in found.items], found.has_more)


@router.get(
    "/{job_id}/results/{name:path}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {"schema": BINARY}}}},
)
def download_result_file(
    job_id: str, name: str, caller: CallerDep, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """A file listed in the job's ``result_files`` (local jobs: the adapter and its tokenizer)."""
    path = results.result_file_path(session, settings, caller.tenant_id, job_id, name)
    return FileResponse(path, filename=path.name, media_type="application/octet-stream")
