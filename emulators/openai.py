"""Loopback emulator of OpenAI's files and fine-tuning API (``/v1/files``, ``/v1/fine_tuning``).

Status path: validating_files → queued → running → succeeded (or failed / cancelled); a
running job can be paused (``POST …/pause``: ``paused``, its timeline stopped) and resumed
(``POST …/resume``: running on from where it stopped), as OpenAI's ``jobs.pause``/``resume``.
Lists are newest first with ``after`` cursors, as the real API pages them.

Only this emulator pushes webhooks: subscribe with ``POST /_emulator/webhooks`` (or
``create_app(webhooks=[(url, secret)])``) and every job that becomes terminal is sent as one
signed ``fine_tuning.job.succeeded|failed|cancelled`` event (``emulators.push``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
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
from emulators.faults import ASGIApp, with_faults
from emulators.push import WebhookPusher, add_webhook_routes
from emulators.timeline import Entry, timeline

SUCCESS_PATH = ["validating_files", "queued", "running", "running", "running", "succeeded"]
WEBHOOK_EVENTS = {
    "succeeded": "fine_tuning.job.succeeded",
    "failed": "fine_tuning.job.failed",
    "cancelled": "fine_tuning.job.cancelled",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = (
        "rate_limit_exceeded"
        if status == 429
        else "server_error"
        if status >= 500
        else "invalid_request_error"
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _error(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    body = error_body(status, message)
    body["error"].update(param=param, code=code)
    return JSONResponse(body, status)


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    start = 0
    if after:
        ids = [i["id"] for i in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    page = items[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "has_more": start + limit < len(items),
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def create_app(
    phase_seconds: float = 2.0,
    webhooks: Sequence[tuple[str, str]] = (),
    *,
    clock: Clock | None = None,
) -> ASGIApp:
    """``webhooks``: (url, secret) subscriptions to start with (ValueError when malformed)."""
    state = EmulatorState(phases=len(SUCCESS_PATH) - 1, phase_seconds=phase_seconds, clock=clock)
    pusher = WebhookPusher(state, WEBHOOK_EVENTS)
    for url, secret in webhooks:
        pusher.subscribe(url, secret)
    app = FastAPI(title="OpenAI fine-tuning emulator", lifespan=pusher.lifespan)

    def fine_tuned_name(job: EmulatedJob, step: int | None = None) -> str:
        suffix = job.body.get("suffix") or ""
        name = f"ft:{job.body['model']}:emulator-org:{suffix}:{job.id.removeprefix('ftjob-')[:8]}"
        return f"{name}:ckpt-step-{step}" if step is not None else name

    def describe(job: EmulatedJob) -> dict[str, Any]:
        progress = state.progress(job)
        status = {"cancelled": "cancelled", "failed": "failed", "succeeded": "succeeded"}.get(
            progress.outcome, SUCCESS_PATH[progress.phase]
        )
        if status == "running" and job.paused_since is not None:
            status = "paused"
        done = status in ("succeeded", "failed", "cancelled")
        method = job.body.get("method") or {
            "type": "supervised",
            "supervised": {"hyperparameters": {}},
        }
        hp = job.body.get("hyperparameters") or method.get(method["type"], {}).get(
            "hyperparameters", {}
        )
        n_epochs = hp.get("n_epochs", "auto")
        epochs = 3 if n_epochs == "auto" else int(n_epochs)
        return {
            "id": job.id,
            "object": "fine_tuning.job",
            "created_at": int(job.created_at),
            "finished_at": int(timeline(state, job)[-1].at) if done else None,
            "estimated_finish": None if done else int(state.finish_estimate(job)),
            "error": {
                "code": "invalid_training_file",
                "message": job.fail_message,
                "param": "training_file",
            }
            if status == "failed"
            else None,
            "fine_tuned_model": fine_tuned_name(job) if status == "succeeded" else None,
            "hyperparameters": {
                "n_epochs": epochs,
                "batch_size": hp.get("batch_size", 1) if hp.get("batch_size") != "auto" else 1,
                "learning_rate_multiplier": hp.get("learning_rate_multiplier", 1.8)
                if hp.get("learning_rate_multiplier") != "auto"
                else 1.8,
            },
            "model": job.body["model"],
            "organization_id": "org-emulator",
            "result_files": [f"file-result-{job.id[-8:]}"] if status == "succeeded" else [],
            "seed": job.body.get("seed", 42),
            "status": status,
            "trained_tokens": job.token_count * epochs if status == "succeeded" else None,
            "training_file": job.body["training_file"],
            "validation_file": job.body.get("validation_file"),
            "integrations": job.body.get("integrations") or [],
            "metadata": job.body.get("metadata"),
            "method": method,
            "user_provided_suffix": job.body.get("suffix"),
        }

    def event(job: EmulatedJob, n: int, entry: Entry) -> dict[str, Any]:
        step = entry.step
        messages = {
            "created": f"Validating training file: {job.body['training_file']}",
            "validated": "Files validated, moving job to queued state",
            "started": "Fine-tuning job started",
            "step": f"Step {step}/{state.total_steps}: training loss={train_loss(step)}",
            "checkpoint": f"Checkpoint created at step {step}",
            "succeeded": "The job has successfully completed",
            "failed": job.fail_message or "Job failed",
            "cancel_requested": "Cancellation requested",
            "cancelled": "Fine-tuning job cancelled",
        }
        data: dict[str, Any] = {}
        if entry.kind == "step":
            data = {
                "step": step,
                "train_loss": train_loss(step),
                "train_mean_token_accuracy": token_accuracy(step),
            }
        return {
            "object": "fine_tuning.job.event",
            "id": f"ftevent-{job.id[-8:]}{n:04d}",
            "created_at": int(entry.at),
            "level": "error" if entry.kind == "failed" else "info",
            "message": messages[entry.kind],
            "type": "metrics" if entry.kind == "step" else "message",
            "data": data,
        }

    def checkpoint(job: EmulatedJob, entry: Entry) -> dict[str, Any]:
        s = entry.step
        return {
            "object": "fine_tuning.job.checkpoint",
            "id": f"ftckpt-{job.id[-8:]}{s:04d}",
            "created_at": int(entry.at),
            "fine_tuned_model_checkpoint": fine_tuned_name(job, s),
            "fine_tuning_job_id": job.id,
            "step_number": s,
            "metrics": {
                "step": float(s),
                "train_loss": train_loss(s),
                "train_mean_token_accuracy": token_accuracy(s),
                "valid_loss": valid_loss(s),
                "valid_mean_token_accuracy": token_accuracy(s) - 0.02,
                "full_valid_loss": valid_loss(s),
                "full_valid_mean_token_accuracy": token_accuracy(s) - 0.02,
            },
        }

    def find(job_id: str) -> EmulatedJob | JSONResponse:
        job = state.jobs.get(job_id)
        if job is None:
            return _error(404, f"Could not find fine-tune: {job_id}", code="fine_tune_not_found")
        return job

    @app.post("/v1/files")
    async def upload(request: Request) -> Any:
        form = await request.form()
        upload = form.get("file")
        purpose = form.get("purpose")
        if upload is None or isinstance(upload, str) or not purpose:
            return _error(400, "Both 'file' and 'purpose' are required.", param="file")
        content = await upload.read()
        file_id = f"file-{secrets.token_hex(12)}"
        record = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(state.clock.time()),
            "expires_at": None,
            "filename": upload.filename or "upload.jsonl",
            "purpose": str(purpose),
            "status": "processed",
            "status_details": None,
        }
        state.files[file_id] = {"record": record, "content": content}
        return record

    @app.get("/v1/files/{file_id}")
    async def get_file(file_id: str) -> Any:
        stored = state.files.get(file_id)
        return (
            stored["record"]
            if stored
            else _error(404, f"No such File object: {file_id}", param="id")
        )

    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> Any:
        body = await request.json()
        for required in ("model", "training_file"):
            if not body.get(required):
                return _error(400, f"Missing required parameter: '{required}'.", param=required)
        for param in ("training_file", "validation_file"):
            if body.get(param) and body[param] not in state.files:
                return _error(
                    400, f"invalid {param}: {body[param]}", param=param, code="invalid_file"
                )
        content = state.files[body["training_file"]]["content"]
        job = state.add_job(f"ftjob-{secrets.token_hex(12)}", body, count_tokens(content))
        return describe(job)

    @app.get("/v1/fine_tuning/jobs")
    async def list_jobs(request: Request, after: str | None = None, limit: int = 20) -> Any:
        wanted = {k[9:-1]: v for k, v in request.query_params.items() if k.startswith("metadata[")}
        # Newest first; only the page is described (a list of thousands of jobs stays cheap).
        jobs = [
            j
            for j in reversed(list(state.jobs.values()))
            if all((j.body.get("metadata") or {}).get(k) == v for k, v in wanted.items())
        ]
        start = 0
        if after:
            ids = [j.id for j in jobs]
            start = ids.index(after) + 1 if after in ids else len(jobs)
        if state.list_page_max is not None and limit > state.list_page_max:
            if state.list_page_refuse:
                return _error(400, f"limit must be at most {state.list_page_max}", param="limit")
            limit = state.list_page_max
        page = jobs[start : start + limit]
        return {
            "object": "list",
            "data": [describe(j) for j in page],
            "has_more": start + limit < len(jobs),
        }

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    async def get_job(job_id: str) -> Any:
        job = find(job_id)
        return job if isinstance(job, JSONResponse) else describe(job)

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    async def cancel_job(job_id: str) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        if not state.cancel(job):
            return _error(400, f"Job {job_id} has already completed.", code="invalid_state")
        job.advanced = True  # OpenAI reports cancelled right away
        return describe(job)

    @app.post("/v1/fine_tuning/jobs/{job_id}/pause")
    async def pause_job(job_id: str) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        if not state.pause(job):
            return _error(400, f"Job {job_id} is not running.", code="invalid_state")
        return describe(job)

    @app.post("/v1/fine_tuning/jobs/{job_id}/resume")
    async def resume_job(job_id: str) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        if not state.resume(job):
            return _error(400, f"Job {job_id} is not paused.", code="invalid_state")
        return describe(job)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    async def list_events(job_id: str, after: str | None = None, limit: int = 20) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        events = [event(job, n, e) for n, e in enumerate(timeline(state, job))]
        page = _page(list(reversed(events)), after, limit)
        return {"object": "list", "data": page["data"], "has_more": page["has_more"]}

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    async def list_checkpoints(job_id: str, after: str | None = None, limit: int = 10) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        ckpts = [checkpoint(job, e) for e in timeline(state, job) if e.kind == "checkpoint"]
        return _page(list(reversed(ckpts)), after, limit)

    add_chat_route(
        app,
        "/v1/chat/completions",
        training_of_succeeded(
            state,
            describe,
            lambda d: d["fine_tuned_model"],
            lambda job: state.files.get(job.body["training_file"], {}).get("content"),
        ),
        error_body,
    )
    add_control_routes(app, state, describe)
    add_webhook_routes(app, pusher)
    return with_faults(app, state, error_body)
