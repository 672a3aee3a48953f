"""Loopback emulator of Mistral's files and fine-tuning jobs API as of client-python 2.5.1.

Status path: QUEUED → VALIDATING → RUNNING → SUCCESS (or FAILED; cancel goes through
CANCELLATION_REQUESTED to CANCELLED). A single job's GET carries its events and checkpoints.

``retired=True`` reproduces today's service: every ``/v1/fine_tuning/*`` call answers 410.
"""

from __future__ import annotations

import secrets
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
    token_accuracy,
    train_loss,
    valid_loss,
)
from emulators.faults import ASGIApp, FaultRule, with_faults
from emulators.timeline import Entry, timeline

SUCCESS_PATH = ["QUEUED", "VALIDATING", "RUNNING", "RUNNING", "RUNNING", "SUCCESS"]
RETIRED_MESSAGE = "The fine-tuning jobs API has been retired and now returns 410 Gone."
COST_PER_MILLION_TOKENS = 4.0


def error_body(status: int, message: str) -> dict[str, Any]:
    kinds = {429: ("rate_limited", "1300"), 410: ("gone", "3010")}
    kind, code = kinds.get(
        status, ("internal_error" if status >= 500 else "invalid_request", str(status))
    )
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}


def create_app(
    phase_seconds: float = 2.0, *, retired: bool = False, clock: Clock | None = None
) -> ASGIApp:
    state = EmulatorState(phases=len(SUCCESS_PATH) - 1, phase_seconds=phase_seconds, clock=clock)
    app = FastAPI(title="Mistral fine-tuning emulator")
    if retired:
        state.faults.append(
            FaultRule(
                kind="status", path="/v1/fine_tuning", status=410, count=-1, message=RETIRED_MESSAGE
            )
        )

    def describe(job: EmulatedJob, *, details: bool = False) -> dict[str, Any]:
        progress = state.progress(job)
        status = {
            "cancelled": "CANCELLED",
            "cancelling": "CANCELLATION_REQUESTED",
            "failed": "FAILED",
            "succeeded": "SUCCESS",
        }.get(progress.outcome, SUCCESS_PATH[progress.phase])
        entries = timeline(state, job)
        hp = job.body.get("hyperparameters") or {}
        epochs = float(hp.get("epochs") or 1.0)
        tokens = int(job.token_count * epochs)
        fine_tuned = f"ft:{job.body['model']}:{job.body.get('suffix') or 'ft'}:{job.id[:8]}"
        described: dict[str, Any] = {
            "id": job.id,
            "auto_start": job.body.get("auto_start", True),
            "model": job.body["model"],
            "status": status,
            "created_at": int(job.created_at),
            "modified_at": int(entries[-1].at),
            "training_files": [f["file_id"] for f in job.body.get("training_files") or []],
            "validation_files": job.body.get("validation_files") or [],
            "object": "job",
            "job_type": "completion",
            "fine_tuned_model": fine_tuned if status == "SUCCESS" else None,
            "suffix": job.body.get("suffix"),
            "integrations": job.body.get("integrations") or [],
            "trained_tokens": tokens if status == "SUCCESS" else None,
            "metadata": {
                "expected_duration_seconds": int(state.phases * state.phase_seconds),
                "cost": round(tokens * COST_PER_MILLION_TOKENS / 1_000_000, 6),
                "cost_currency": "USD",
                "train_tokens_per_step": max(tokens // state.total_steps, 1),
                "train_tokens": tokens,
                "data_tokens": job.token_count,
                "estimated_start_time": int(job.created_at + 2 * state.phase_seconds),
            },
            "hyperparameters": {"learning_rate": hp.get("learning_rate", 0.0001), "epochs": epochs},
            "repositories": [],
        }
        if details:
            described["events"] = [event(job, e) for e in entries]
            described["checkpoints"] = [
                checkpoint(e) for e in reversed(entries) if e.kind == "checkpoint"
            ]
        return described

    def event(job: EmulatedJob, entry: Entry) -> dict[str, Any]:
        names = {
            "created": ("status-updated", {"status": "QUEUED"}),
            "validated": ("status-updated", {"status": "VALIDATING"}),
            "started": ("status-updated", {"status": "RUNNING"}),
            "step": ("metrics", {"step": entry.step, "train_loss": train_loss(entry.step)}),
            "checkpoint": ("checkpoint", {"step_number": entry.step}),
            "succeeded": ("status-updated", {"status": "SUCCESS"}),
            "failed": ("status-updated", {"status": "FAILED", "error": job.fail_message}),
            "cancel_requested": ("status-updated", {"status": "CANCELLATION_REQUESTED"}),
            "cancelled": ("status-updated", {"status": "CANCELLED"}),
        }
        name, data = names[entry.kind]
        return {"name": name, "created_at": int(entry.at), "data": data}

    def checkpoint(entry: Entry) -> dict[str, Any]:
        s = entry.step
        return {
            "step_number": s,
            "created_at": int(entry.at),
            "metrics": {
                "train_loss": train_loss(s),
                "valid_loss": valid_loss(s),
                "valid_mean_token_accuracy": token_accuracy(s),
            },
        }

    def find(job_id: str) -> EmulatedJob | JSONResponse:
        job = state.jobs.get(job_id)
        return (
            job
            if job is not None
            else JSONResponse(error_body(404, f"Job {job_id} not found"), 404)
        )

    @app.post("/v1/files")
    async def upload(request: Request) -> Any:
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return JSONResponse(
                {"detail": [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}]},
                422,
            )
        content = await upload.read()
        file_id = secrets.token_hex(16)
        record = {
            "id": f"{file_id[:8]}-{file_id[8:12]}-{file_id[12:16]}-{file_id[16:20]}-{file_id[20:]}",
            "object": "file",
            "bytes": len(content),
            "created_at": int(state.clock.time()),
            "filename": upload.filename or "upload.jsonl",
            "purpose": str(form.get("purpose") or "fine-tune"),
            "sample_type": "instruct",
            "source": "upload",
            "num_lines": content.count(b"\n"),
            "mimetype": "application/jsonl",
            "signature": None,
            "expires_at": None,
            "visibility": "workspace",
        }
        state.files[str(record["id"])] = {"record": record, "content": content}
        return record

    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> Any:
        body = await request.json()
        if not body.get("model") or "hyperparameters" not in body:
            missing = "model" if not body.get("model") else "hyperparameters"
            return JSONResponse(
                {
                    "detail": [
                        {"loc": ["body", missing], "msg": "Field required", "type": "missing"}
                    ]
                },
                422,
            )
        files = [f.get("file_id") for f in body.get("training_files") or []]
        unknown = [f for f in files if f not in state.files]
        if not files or unknown:
            return JSONResponse(
                error_body(400, f"Unknown training files: {unknown or 'none given'}"), 400
            )
        content = b"".join(state.files[f]["content"] for f in files)
        job = state.add_job(secrets.token_hex(16), body, count_tokens(content))
        return describe(job)

    @app.get("/v1/fine_tuning/jobs")
    async def list_jobs(page: int = 0, page_size: int = 100, suffix: str | None = None) -> Any:
        jobs = [
            describe(j)
            for j in state.jobs.values()
            if suffix is None or j.body.get("suffix") == suffix
        ]
        return {
            "object": "list",
            "total": len(jobs),
            "data": jobs[page * page_size : (page + 1) * page_size],
        }

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    async def get_job(job_id: str) -> Any:
        job = find(job_id)
        return job if isinstance(job, JSONResponse) else describe(job, details=True)

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    async def cancel_job(job_id: str) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        if not state.cancel(job):
            return JSONResponse(
                error_body(400, f"Job {job_id} cannot be cancelled: it has finished"), 400
            )
        return describe(job, details=True)

    @app.post("/v1/fine_tuning/jobs/{job_id}/start")
    async def start_job(job_id: str) -> Any:
        job = find(job_id)
        return job if isinstance(job, JSONResponse) else describe(job, details=True)

    def training_content(job: EmulatedJob) -> bytes:
        files = [f.get("file_id") for f in job.body.get("training_files") or []]
        return b"".join(state.files.get(f, {}).get("content", b"") for f in files)

    add_chat_route(
        app,
        "/v1/chat/completions",
        training_of_succeeded(state, describe, lambda d: d["fine_tuned_model"], training_content),
        error_body,
    )
    add_control_routes(app, state, describe)
    return with_faults(app, state, error_body)
