"""Loopback emulator of Fireworks' datasets and supervisedFineTuningJobs API (camelCase).

Datasets: POST ``/v1/accounts/{a}/datasets`` (``{datasetId, dataset{...}}``), then POST
``…/datasets/{id}:upload`` (multipart ``file``). Jobs: POST ``…/supervisedFineTuningJobs``
with ``?supervisedFineTuningJobId=`` (409 ``ALREADY_EXISTS`` when taken), GET, list,
POST ``…/{id}:cancel``.

State path: JOB_STATE_CREATING → PENDING → RUNNING → WRITING_RESULTS → COMPLETED (or
FAILED with ``status{code, message}``; cancel goes through CANCELLING to CANCELLED).
Error bodies follow gRPC-gateway's ``{code, message, details}`` (unverified, PROVIDERS.md §9).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from emulators.chat import add_chat_route, training_of_succeeded
from emulators.clock import Clock
from emulators.core import (
    EmulatedJob,
    EmulatorState,
    add_control_routes,
    count_tokens,
)
from emulators.deployments import Deployments
from emulators.faults import ASGIApp, with_faults
from emulators.fireworks_deployments import add_deployment_routes, refusal
from emulators.timeline import timeline

SUCCESS_PATH = [
    "JOB_STATE_CREATING",
    "JOB_STATE_PENDING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_WRITING_RESULTS",
    "JOB_STATE_COMPLETED",
]
NANOS_PER_TOKEN = 500  # $0.50 per 1M tokens
MAX_PAGE_SIZE = 200
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 503: 14}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": GRPC_CODES.get(status, 2), "message": message, "details": []}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


DEPLOY_PHASES = 3
"""An on-demand deployment is ready this many phases after its create."""


def create_app(phase_seconds: float = 2.0, *, clock: Clock | None = None) -> ASGIApp:
    state = EmulatorState(phases=len(SUCCESS_PATH) - 1, phase_seconds=phase_seconds, clock=clock)
    deployments = Deployments(ready_after_s=DEPLOY_PHASES * phase_seconds, clock=state.clock)
    state.reset_hooks.append(deployments.reset)
    app = FastAPI(title="Fireworks fine-tuning emulator")

    def describe(job: EmulatedJob) -> dict[str, Any]:
        progress = state.progress(job)
        job_state = {
            "cancelled": "JOB_STATE_CANCELLED",
            "cancelling": "JOB_STATE_CANCELLING",
            "failed": "JOB_STATE_FAILED",
            "succeeded": "JOB_STATE_COMPLETED",
        }.get(progress.outcome, SUCCESS_PATH[progress.phase])
        body = job.body
        epochs = int(body.get("epochs") or 1)
        tokens = job.token_count * epochs * progress.step // progress.total_steps
        nanos_total = job.token_count * epochs * NANOS_PER_TOKEN
        finished = job_state in ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
        status = {"code": "OK", "message": ""}
        if job_state == "JOB_STATE_FAILED":
            status = {"code": "INVALID_ARGUMENT", "message": job.fail_message or "failed"}
        elif job_state == "JOB_STATE_CANCELLED":
            status = {"code": "CANCELLED", "message": "Job was cancelled"}
        account = job.extra["account"]
        return {
            "name": f"accounts/{account}/supervisedFineTuningJobs/{job.id}",
            "displayName": body.get("displayName") or job.id,
            "createTime": _iso(job.created_at),
            "updateTime": _iso(timeline(state, job)[-1].at),
            "completedTime": _iso(timeline(state, job)[-1].at) if finished else None,
            "createdBy": "emulator@example.com",
            "dataset": body["dataset"],
            "evaluationDataset": body.get("evaluationDataset"),
            "baseModel": body.get("baseModel"),
            "outputModel": body.get("outputModel") or f"accounts/{account}/models/{job.id}",
            "epochs": epochs,
            "learningRate": body.get("learningRate", 0.0001),
            "loraRank": body.get("loraRank", 8),
            "batchSize": body.get("batchSize"),
            "maxContextLength": body.get("maxContextLength"),
            "state": job_state,
            "status": status,
            "estimatedCost": {
                "currencyCode": "USD",
                "units": str(nanos_total // 1_000_000_000),
                "nanos": nanos_total % 1_000_000_000,
            },
            "jobProgress": {
                "percent": 100 * progress.step // progress.total_steps,
                "epoch": epochs * progress.step // progress.total_steps,
                "inputTokens": tokens,
            },
        }

    def find(account: str, job_id: str) -> EmulatedJob | JSONResponse:
        job = state.jobs.get(job_id)
        if job is None or job.extra["account"] != account:
            return _error(404, f"supervisedFineTuningJob {job_id} not found")
        return job

    @app.post("/v1/accounts/{account}/datasets")
    async def create_dataset(account: str, request: Request) -> Any:
        body = await request.json()
        dataset_id = body.get("datasetId")
        if not dataset_id or not isinstance(body.get("dataset"), dict):
            return _error(400, "datasetId and dataset are required")
        key = f"{account}/{dataset_id}"
        if key in state.files:
            return _error(409, f"dataset {dataset_id} already exists")
        dataset = body["dataset"]
        state.files[key] = {
            "name": f"accounts/{account}/datasets/{dataset_id}",
            "displayName": dataset.get("displayName") or dataset_id,
            "createTime": _iso(state.clock.time()),
            "state": "UPLOADING",
            "status": {"code": "OK", "message": ""},
            "exampleCount": str(dataset.get("exampleCount") or "0"),
            "format": dataset.get("format") or "CHAT",
        }
        return state.files[key]

    @app.post("/v1/accounts/{account}/datasets/{dataset_id}:upload")
    async def upload_dataset(account: str, dataset_id: str, request: Request) -> Any:
        record = state.files.get(f"{account}/{dataset_id}")
        if record is None:
            return _error(404, f"dataset {dataset_id} not found")
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error(400, "file is required")
        content = await upload.read()
        record.update(
            state="READY",
            exampleCount=str(content.count(b"\n")),
            estimatedTokenCount=str(count_tokens(content)),
            content=content,
        )
        return {
            "id": dataset_id,
            "bytes": len(content),
            "created_at": int(state.clock.time()),
            "filename": upload.filename,
            "object": "file",
            "purpose": "fine-tune",
        }

    @app.get("/v1/accounts/{account}/datasets/{dataset_id}")
    async def get_dataset(account: str, dataset_id: str) -> Any:
        record = state.files.get(f"{account}/{dataset_id}")
        if record is None:
            return _error(404, f"dataset {dataset_id} not found")
        return {k: v for k, v in record.items() if k != "content"}

    @app.post("/v1/accounts/{account}/supervisedFineTuningJobs")
    async def create_job(
        account: str, request: Request, supervisedFineTuningJobId: str | None = None
    ) -> Any:
        body = await request.json()
        dataset_name = body.get("dataset") or ""
        dataset = state.files.get(f"{account}/{dataset_name.rsplit('/', 1)[-1]}")
        if dataset is None or dataset.get("state") != "READY":
            return _error(400, f"dataset {dataset_name!r} is not ready or does not exist")
        if not body.get("baseModel") and not body.get("warmStartFrom"):
            return _error(400, "one of baseModel or warmStartFrom is required")
        job_id = supervisedFineTuningJobId or secrets.token_hex(8)
        if job_id in state.jobs:
            return _error(409, f"supervisedFineTuningJob {job_id} already exists")
        job = state.add_job(job_id, body, count_tokens(dataset["content"]))
        job.extra["account"] = account
        return describe(job)

    @app.get("/v1/accounts/{account}/supervisedFineTuningJobs")
    async def list_jobs(
        account: str, pageSize: int = 50, pageToken: str = "", orderBy: str = ""
    ) -> Any:
        """Pages of ``pageSize`` (≤ 200), by name unless ``orderBy=createTime desc`` (newest
        first); ``nextPageToken`` is empty on the last page."""
        jobs = [j for j in state.jobs.values() if j.extra.get("account") == account]
        if orderBy.replace("_t", "T").strip() == "createTime desc":
            jobs.reverse()
        else:
            jobs.sort(key=lambda j: j.id)
        size = max(1, min(pageSize, MAX_PAGE_SIZE))
        start = int(pageToken) if pageToken.isdigit() else 0
        page = jobs[start : start + size]
        more = start + size < len(jobs)
        return {
            "supervisedFineTuningJobs": [describe(j) for j in page],
            "nextPageToken": str(start + size) if more else "",
            "totalSize": len(jobs),
        }

    @app.post("/v1/accounts/{account}/supervisedFineTuningJobs/{job_id}:cancel")
    async def cancel_job(account: str, job_id: str) -> Any:
        job = find(account, job_id)
        if isinstance(job, JSONResponse):
            return job
        if not state.cancel(job):
            return _error(400, f"job {job_id} is already finished")
        return {}

    @app.get("/v1/accounts/{account}/supervisedFineTuningJobs/{job_id}")
    async def get_job(account: str, job_id: str) -> Any:
        job = find(account, job_id)
        return job if isinstance(job, JSONResponse) else describe(job)

    def dataset_content(job: EmulatedJob) -> bytes | None:
        account, _, dataset_id = (
            str(job.body["dataset"]).removeprefix("accounts/").partition("/datasets/")
        )
        return state.files.get(f"{account}/{dataset_id}", {}).get("content")

    tuned_training = training_of_succeeded(
        state,
        describe,
        lambda d: d["outputModel"] if d["state"] == "JOB_STATE_COMPLETED" else None,
        dataset_content,
    )

    def is_tuned(model: str) -> bool:
        with state.lock:
            jobs = list(state.jobs.values())
        return any(
            describe(job)["state"] == "JOB_STATE_COMPLETED"
            and describe(job)["outputModel"] == model
            for job in jobs
        )

    add_chat_route(
        app,
        "/v1/chat/completions",
        lambda model: tuned_training(model.partition("#")[0]),
        error_body,
        refuse=lambda model: refusal(deployments, model, is_tuned),
    )
    add_deployment_routes(app, deployments, error_body)
    add_control_routes(app, state, describe)
    return with_faults(app, state, error_body)
