"""Loopback emulator of Together's files and fine-tunes API (together 2.x/3.x paths).

Upload is the three-step flow: POST ``/v1/files`` answers 302 with ``Location`` (a PUT
target on this emulator) and ``X-Together-File-Id``, or 409 ``{"file_id"}`` when a file with
the same checksum exists; PUT the bytes; POST ``/v1/files/{id}/preprocess``.

Status path: pending → queued → running → uploading → completed (or error; cancel goes
through cancel_requested to cancelled). ``total_price`` is reported in whole US dollars
(the real unit is unverified; see PROVIDERS.md).
"""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from emulators.chat import add_chat_route, training_of_succeeded
from emulators.clock import Clock
from emulators.core import (
    RUNNING_PHASE,
    EmulatedJob,
    EmulatorState,
    add_control_routes,
    count_tokens,
    token_accuracy,
    train_loss,
    valid_loss,
)
from emulators.deployments import Deployments
from emulators.faults import ASGIApp, current_authorization, with_faults
from emulators.timeline import Entry, timeline
from emulators.together_endpoints import SERVERLESS_LORA_BASES, add_endpoint_routes

SUCCESS_PATH = ["pending", "queued", "running", "running", "running", "uploading", "completed"]
PRICE_PER_MILLION_TOKENS = 3.0
EVENT_TYPES = {
    "created": "job_pending",
    "validated": "job_start",
    "started": "training_start",
    "step": "epoch_complete",
    "checkpoint": "checkpoint_save",
    "succeeded": "job_complete",
    "failed": "job_error",
    "cancel_requested": "cancel_requested",
    "cancelled": "job_stopped",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = (
        "rate_limit"
        if status == 429
        else "server_error"
        if status >= 500
        else "invalid_request_error"
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _error(status: int, message: str, param: str | None = None) -> JSONResponse:
    body = error_body(status, message)
    body["error"]["param"] = param
    return JSONResponse(body, status)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def model_limits(model: str) -> dict[str, Any]:
    return {
        "model_name": model,
        "default_gradient_accumulation_steps": 1,
        "max_num_epochs": 20,
        "max_num_checkpoints": 20,
        "max_num_evals": 100,
        "min_learning_rate": 1e-6,
        "max_learning_rate": 1e-2,
        "max_seq_length_sft": 32768,
        "max_seq_length_dpo": 16384,
        "min_max_seq_length": 512,
        "merge_output_lora": False,
        "supports_full_training": True,
        "supports_tools": True,
        "supports_vision": False,
        "supports_reasoning": False,
        "lora_training": {
            "default_rank": 16,
            "max_rank": 64,
            "min_batch_size": 8,
            "max_batch_size": 32,
            "max_batch_size_dpo": 16,
            "target_modules": [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ],
        },
        "full_training": {"min_batch_size": 8, "max_batch_size": 32, "max_batch_size_dpo": 16},
    }


DEPLOY_PHASES = 3
"""A dedicated endpoint's deployment is ready this many phases after its create."""


def create_app(phase_seconds: float = 2.0, *, clock: Clock | None = None) -> ASGIApp:
    state = EmulatorState(phases=len(SUCCESS_PATH) - 1, phase_seconds=phase_seconds, clock=clock)
    app = FastAPI(title="Together fine-tuning emulator")
    endpoints = Deployments(ready_after_s=DEPLOY_PHASES * phase_seconds, clock=state.clock)
    state.reset_hooks.append(endpoints.reset)
    checksums: dict[str, str] = {}

    def file_response(file_id: str) -> dict[str, Any]:
        f = state.files[file_id]
        lines = f["content"].count(b"\n") if f.get("content") is not None else None
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(f.get("content") or b""),
            "created_at": f["created_at"],
            "filename": f["filename"],
            "FileType": f["file_type"],
            "purpose": f["purpose"],
            "processing_status": "COMPLETED" if f.get("content") is not None else "PENDING",
            "validation_report": {
                "valid": True,
                "dataset_format": "conversational",
                "nlines": lines,
            },
        }

    def price(tokens: int, epochs: int) -> float:
        return tokens * epochs * PRICE_PER_MILLION_TOKENS / 1_000_000

    def parent_job(body: dict[str, Any]) -> EmulatedJob | None:
        """The job a from_checkpoint body continues ("<job id>[:<step>]"), if known."""
        return state.jobs.get(str(body.get("from_checkpoint") or "").split(":")[0])

    def base_model(body: dict[str, Any]) -> str | None:
        """The model a job trains: its own, or (from_checkpoint) its parent's."""
        parent = None if body.get("model") else parent_job(body)
        return base_model(parent.body) if parent is not None else body.get("model")

    def describe(job: EmulatedJob) -> dict[str, Any]:
        progress = state.progress(job)
        status = {
            "cancelled": "cancelled",
            "cancelling": "cancel_requested",
            "failed": "error",
            "succeeded": "completed",
        }.get(progress.outcome, SUCCESS_PATH[progress.phase])
        body = job.body
        epochs = int(body.get("n_epochs") or 1)
        tokens = job.token_count * epochs * progress.step // progress.total_steps
        model = base_model(body)
        base_name = str(model or "model").split("/")[-1]
        output = f"emulator-user/{base_name}-{body.get('suffix') or 'ft'}-{job.id[-6:]}"
        f = state.files.get(body.get("training_file", ""), {})
        lines = (f.get("content") or b"").count(b"\n")
        # Until the job's next state, as the adapter reads it: a job planned by finish_in stays
        # running until it finishes; the clock's phases give no estimate (0).
        left = state.planned_seconds_left(job)
        return {
            "id": job.id,
            "status": status,
            "user_id": "emulator-user",
            "created_at": _iso(job.created_at),
            "updated_at": _iso(timeline(state, job)[-1].at),
            "started_at": _iso(state.entered_at(job, RUNNING_PHASE))
            if progress.phase >= RUNNING_PHASE
            else None,
            "model": model,
            "model_output_name": output,
            "adapter_output_name": f"{output}-adapter",
            "suffix": body.get("suffix"),
            "training_file": body.get("training_file"),
            "validation_file": body.get("validation_file") or None,
            "n_epochs": epochs,
            "n_checkpoints": body.get("n_checkpoints", 1),
            "n_evals": body.get("n_evals", 0),
            "batch_size": body.get("batch_size", "max"),
            "learning_rate": body.get("learning_rate"),
            "warmup_ratio": body.get("warmup_ratio"),
            "max_grad_norm": body.get("max_grad_norm"),
            "weight_decay": body.get("weight_decay"),
            "random_seed": body.get("random_seed"),
            "training_type": body.get("training_type")
            or {"type": "Lora", "lora_r": 16, "lora_alpha": 32},
            "training_method": body.get("training_method")
            or {"method": "sft", "train_on_inputs": "auto"},
            "token_count": tokens,
            "param_count": 8_000_000_000,
            "total_price": math.ceil(price(tokens, 1))
            if status in ("completed", "cancelled", "error")
            else 0,
            "total_steps": progress.total_steps,
            "steps_completed": progress.step,
            "epochs_completed": epochs * progress.step // progress.total_steps,
            "evals_completed": 0,
            "queue_depth": 0 if progress.phase >= 2 else 1,
            "progress": {"estimate_available": True, "seconds_remaining": math.ceil(left or 0)},
            "trainingfile_numlines": lines,
            "trainingfile_size": len(f.get("content") or b""),
            "TrainingFileNumLines": lines,
            "TrainingFileSize": len(f.get("content") or b""),
            "wandb_url": None,
            "events": [],
        }

    def event(job: EmulatedJob, entry: Entry) -> dict[str, Any]:
        messages = {
            "created": "Fine-tune request created",
            "validated": "Job started",
            "started": "Training started",
            "step": f"Step {entry.step} complete, train loss {train_loss(entry.step)}",
            "checkpoint": f"Checkpoint saved at step {entry.step}",
            "succeeded": "Job finished",
            "failed": job.fail_message or "Job failed",
            "cancel_requested": "Cancel requested",
            "cancelled": "Job stopped",
        }
        return {
            "object": "fine-tune-event",
            "created_at": _iso(entry.at),
            "message": messages[entry.kind],
            "type": EVENT_TYPES[entry.kind],
            "level": "error" if entry.kind == "failed" else "info",
            "step": entry.step,
            "total_steps": state.total_steps,
            "token_count": job.token_count,
            "param_count": 8_000_000_000,
            "checkpoint_path": f"s3://emulator/{job.id}/step-{entry.step}"
            if entry.kind == "checkpoint"
            else None,
            "model_path": None,
            "wandb_url": None,
        }

    def find(job_id: str) -> EmulatedJob | JSONResponse:
        job = state.jobs.get(job_id)
        return job if job is not None else _error(404, f"Fine-tune job {job_id} not found", "id")

    @app.post("/v1/files")
    async def start_upload(request: Request) -> Response:
        form = await request.form()
        fields = {
            k: str(form.get(k) or "") for k in ("purpose", "file_name", "file_type", "checksum")
        }
        missing = [k for k, v in fields.items() if not v]
        if missing:
            return _error(400, f"Missing form fields: {', '.join(missing)}", missing[0])
        key = f"{fields['checksum']}:{fields['file_name']}"
        if key in checksums and state.files[checksums[key]].get("content") is not None:
            return JSONResponse({"file_id": checksums[key], "message": "File already exists"}, 409)
        file_id = f"file-{secrets.token_hex(12)}"
        state.files[file_id] = {
            "filename": fields["file_name"],
            "file_type": fields["file_type"],
            "purpose": fields["purpose"],
            "created_at": int(state.clock.time()),
            "content": None,
        }
        checksums[key] = file_id
        location = f"{request.base_url}_emulator/uploads/{file_id}"
        return Response(
            status_code=302, headers={"Location": location, "X-Together-File-Id": file_id}
        )

    @app.put("/_emulator/uploads/{file_id}")
    async def receive_bytes(file_id: str, request: Request) -> Response:
        if file_id not in state.files:
            return Response(status_code=404)
        state.files[file_id]["content"] = await request.body()
        return Response(status_code=200)

    @app.post("/v1/files/{file_id}/preprocess")
    async def preprocess(file_id: str) -> Any:
        if file_id not in state.files or state.files[file_id].get("content") is None:
            return _error(404, f"File {file_id} was not uploaded", "id")
        return file_response(file_id)

    @app.get("/v1/files/{file_id}")
    async def get_file(file_id: str) -> Any:
        return (
            file_response(file_id)
            if file_id in state.files
            else _error(404, f"File {file_id} not found", "id")
        )

    @app.get("/v1/fine-tunes/models/limits")
    async def limits(model_name: str) -> Any:
        return model_limits(model_name)

    @app.post("/v1/fine-tunes/estimate-price")
    async def estimate_price(request: Request) -> Any:
        body = await request.json()
        stored = state.files.get(body.get("training_file", ""))
        if stored is None or stored.get("content") is None:
            return {"estimation_available": False, "unavailable_reason": "train_file_not_validated"}
        tokens = count_tokens(stored["content"])
        epochs = int(body.get("n_epochs") or 1)
        return {
            "estimation_available": True,
            "estimated_total_price": round(price(tokens, epochs), 6),
            "estimated_train_token_count": tokens * epochs,
            "estimated_eval_token_count": 0,
            "allowed_to_proceed": True,
            "user_limit": 1000.0,
        }

    @app.post("/v1/fine-tunes")
    async def create_job(request: Request) -> Any:
        body = await request.json()
        if not body.get("model") and not body.get("from_checkpoint"):
            return _error(400, "Either model or from_checkpoint is required", "model")
        parent = body.get("from_checkpoint")
        if parent:
            # "<job id>[:<step>]" of a job of the same account (API key).
            found = parent_job(body)
            if found is None or found.authorization != current_authorization.get():
                return _error(400, f"Checkpoint {parent} not found", "from_checkpoint")
        stored = state.files.get(body.get("training_file", ""))
        if stored is None or stored.get("content") is None:
            return _error(
                400, f"Training file {body.get('training_file')} not found", "training_file"
            )
        job = state.add_job(
            f"ft-{secrets.token_hex(4)}-{secrets.token_hex(2)}",
            body,
            count_tokens(stored["content"]),
        )
        return describe(job)

    @app.get("/v1/fine-tunes")
    async def list_jobs() -> Any:
        # Every job in one answer, newest first: Together's list has no paging.
        return {"data": [describe(j) for j in reversed(list(state.jobs.values()))]}

    @app.get("/v1/fine-tunes/{job_id}")
    async def get_job(job_id: str) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        described = describe(job)
        described["events"] = [event(job, e) for e in timeline(state, job)]
        return described

    @app.post("/v1/fine-tunes/{job_id}/cancel")
    async def cancel_job(job_id: str) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        if not state.cancel(job):
            return _error(400, f"Job {job_id} is already in a terminal state")
        return describe(job)

    @app.get("/v1/fine-tunes/{job_id}/events")
    async def list_events(job_id: str) -> Any:
        job = find(job_id)
        return (
            job
            if isinstance(job, JSONResponse)
            else {"data": [event(job, e) for e in timeline(state, job)]}
        )

    @app.get("/v1/fine-tunes/{job_id}/checkpoints")
    async def list_checkpoints(job_id: str) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        entries = [e for e in timeline(state, job) if e.kind == "checkpoint"]
        final = job.id in state.jobs and state.progress(job).outcome == "succeeded"
        return {
            "data": [
                {
                    "checkpoint_type": "Final"
                    if final and e is entries[-1]
                    else f"Intermediate (step {e.step})",
                    "created_at": _iso(e.at),
                    "path": f"{job.id}:{e.step}",
                    "step": e.step,
                    "checkpoint": "adapter",
                    "object_name": f"emulator-user/{job.id}-step-{e.step}",
                }
                for e in reversed(entries)
            ]
        }

    @app.get("/v1/fine-tunes/{job_id}/metrics")
    async def list_metrics(job_id: str) -> Any:
        job = find(job_id)
        if isinstance(job, JSONResponse):
            return job
        steps = [e.step for e in timeline(state, job) if e.kind == "step"]
        return {
            "metrics": [
                {
                    "global_step": float(s),
                    "train_loss": train_loss(s),
                    "eval_loss": valid_loss(s),
                    "train_mean_token_accuracy": token_accuracy(s),
                }
                for s in steps
            ]
        }

    def tuned_base(model: str) -> str | None:
        """The base model of the job whose output ``model`` is, else None."""
        with state.lock:
            jobs = list(state.jobs.values())
        for job in jobs:
            described = describe(job)
            if described["status"] == "completed" and described["model_output_name"] == model:
                return str(job.body.get("model", ""))
        return None

    tuned_training = training_of_succeeded(
        state,
        describe,
        lambda d: d["model_output_name"] if d["status"] == "completed" else None,
        lambda job: state.files.get(job.body.get("training_file", ""), {}).get("content"),
    )

    def training_for(model: str) -> bytes | None:
        deployment = endpoints.serving(model)
        return tuned_training(deployment.model if deployment is not None else model)

    def refuse(model: str) -> tuple[int, str] | None:
        deployment = endpoints.serving(model)
        if deployment is not None:
            live = endpoints.state(deployment)
            if live == "DEPLOYMENT_STATE_READY":
                return None
            if live == "DEPLOYMENT_STATE_STOPPED":
                return 404, f"The endpoint {model!r} is stopped."
            return 503, f"The endpoint {model!r} is not ready yet."
        base = tuned_base(model)
        if base is not None and base not in SERVERLESS_LORA_BASES:
            return 404, (
                f"Unable to access model {model}: a fine-tuned model serves only on a dedicated "
                "endpoint deployment; create one and call its name."
            )
        return None

    add_chat_route(
        app,
        "/v1/chat/completions",
        training_for,
        error_body,
        stop_reason="eos",  # Together's word for a natural stop
        refuse=refuse,
    )
    add_endpoint_routes(app, endpoints, error_body)
    add_control_routes(app, state, describe)
    return with_faults(app, state, error_body)
