"""Loopback emulator of Vertex AI's tuning REST API (``projects.locations.tuningJobs``), with
the OAuth token exchange and the Cloud Storage API it relies on (``google_cloud``).

- ``POST /{v}/projects/{p}/locations/{l}/tuningJobs``: ``{baseModel, supervisedTuningSpec{
  trainingDatasetUri, validationDatasetUri?, hyperParameters{epochCount, learningRateMultiplier,
  adapterSize}}, tunedModelDisplayName?, description?, labels?}``. The dataset must be a
  ``gs://`` object uploaded here (400 otherwise); labels follow Google's rules (≤64, keys
  ``[a-z][a-z0-9_-]{0,62}``, values ``[a-z0-9_-]{0,63}``).
- ``GET …/tuningJobs/{id}``; ``GET …/tuningJobs?pageSize&pageToken&filter`` (newest first;
  ``filter`` takes ``labels.KEY="VALUE"``); ``POST …/tuningJobs/{id}:cancel`` (``{}``; 400
  ``FAILED_PRECONDITION`` once finished).
- ``…:generateContent`` on a tuned endpoint or a base model (``emulators.vertex_chat``).

State path: JOB_STATE_PENDING → PENDING (dataset processed: ``tuningDataStats``) → RUNNING
(``startTime``, ``gcsMetricsUri``) → … → JOB_STATE_SUCCEEDED with ``tunedModel{model,
endpoint, checkpoints[]}`` and ``endTime``. A dataset line Gemini cannot take fails the job
(``error{code: 3, message}`` naming the line), as does a ``fail_job`` fault; cancel goes
through JOB_STATE_CANCELLING to JOB_STATE_CANCELLED (``error{code: 1}``). int64 fields are
JSON strings, as proto3 JSON writes them. Metrics rows (one JSON line per step:
``step``, ``time``, ``/train_total_loss``, ``/train_fraction_of_correct_next_step_preds``,
``/eval_*`` with a validation set) are served at ``gcsMetricsUri``; their layout is ours
(Google documents the metric names, not the file: UNVERIFIED).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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
from emulators.faults import ASGIApp, with_faults
from emulators.google_cloud import (
    GoogleCloudState,
    add_google_routes,
    error_response,
    google_error,
    rfc3339,
)
from emulators.timeline import checkpoint_steps
from emulators.vertex_chat import add_generate_route, gemini_to_chat_lines

SUCCESS_PATH = [
    "JOB_STATE_PENDING",
    "JOB_STATE_PENDING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_SUCCEEDED",
]
DETAIL_STATE = {0: "TUNING_JOB_STATE_WAITING_FOR_QUOTA", 1: "TUNING_JOB_STATE_PROCESSING_DATASET"}
API_VERSIONS = ("v1", "v1beta1")
DEFAULT_EPOCHS = 3
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
LABEL_FILTER = re.compile(r'^labels\.([a-z][a-z0-9_-]{0,62})\s*=\s*"?([a-z0-9_-]{0,63})"?$')
METRICS_OBJECT = re.compile(r"^tuning-metrics/(\d+)/metrics\.jsonl$")
GEMINI_ROLES = ("user", "model")
MAX_PAGE_SIZE = 100


def dataset_problem(content: bytes) -> str | None:
    """Why Gemini cannot tune on ``content`` (naming the first bad line), or None."""
    examples = 0
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            return f"line {number}: not valid JSON"
        contents = line.get("contents") if isinstance(line, dict) else None
        if not isinstance(contents, list) or not contents:
            return f"line {number}: 'contents' must be a non-empty list"
        for turn in contents:
            if not isinstance(turn, dict) or turn.get("role") not in GEMINI_ROLES:
                return f"line {number}: every content needs role 'user' or 'model'"
            if not isinstance(turn.get("parts"), list) or not turn["parts"]:
                return f"line {number}: every content needs non-empty 'parts'"
        if contents[-1].get("role") != "model":
            return f"line {number}: the last content must have role 'model'"
        examples += 1
    return None if examples else "the dataset has no examples"


def create_app(phase_seconds: float = 2.0, *, clock: Clock | None = None) -> ASGIApp:
    state = EmulatorState(phases=len(SUCCESS_PATH) - 1, phase_seconds=phase_seconds, clock=clock)
    google = GoogleCloudState()
    state.reset_hooks.append(google.reset)
    app = FastAPI(title="Vertex AI tuning emulator")
    add_google_routes(app, google)

    def resource(job: EmulatedJob, kind: str, suffix: str) -> str:
        return f"projects/{job.extra['project']}/locations/{job.extra['location']}/{kind}/{suffix}"

    def describe(job: EmulatedJob) -> dict[str, Any]:
        progress = state.progress(job)
        job_state = {
            "cancelled": "JOB_STATE_CANCELLED",
            "cancelling": "JOB_STATE_CANCELLING",
            "failed": "JOB_STATE_FAILED",
            "succeeded": "JOB_STATE_SUCCEEDED",
        }.get(progress.outcome, SUCCESS_PATH[progress.phase])
        body = job.body
        spec = dict(body["supervisedTuningSpec"])
        hyper = dict(spec.get("hyperParameters") or {})
        epochs = int(hyper.get("epochCount") or DEFAULT_EPOCHS)
        hyper["epochCount"] = str(epochs)
        hyper.setdefault("learningRateMultiplier", 1.0)
        hyper.setdefault("adapterSize", "ADAPTER_SIZE_FOUR")
        spec["hyperParameters"] = hyper
        out: dict[str, Any] = {
            "name": resource(job, "tuningJobs", job.id),
            "tunedModelDisplayName": body.get("tunedModelDisplayName") or f"tuned-{job.id}",
            "baseModel": body["baseModel"],
            "supervisedTuningSpec": spec,
            "state": job_state,
            "createTime": rfc3339(job.created_at),
            "updateTime": rfc3339(job.created_at),
            "labels": body.get("labels") or {},
            "experiment": resource(job, "metadataStores/default/contexts", f"tuning-{job.id}"),
        }
        if body.get("description"):
            out["description"] = body["description"]
        if progress.outcome == "active" and progress.phase in DETAIL_STATE:
            out["tuningJobState"] = DETAIL_STATE[progress.phase]
        started = progress.phase >= RUNNING_PHASE
        if progress.phase >= 1 or progress.outcome != "active":
            examples = max(job.extra["examples"], 1)
            out["tuningDataStats"] = {
                "supervisedTuningDataStats": {
                    "tuningDatasetExampleCount": str(job.extra["examples"]),
                    "totalTuningCharacterCount": str(job.extra["characters"]),
                    "totalBillableTokenCount": str(job.token_count),
                    "tuningStepCount": str(progress.total_steps),
                    "userMessagePerExampleDistribution": {"sum": str(examples), "mean": 1.0},
                }
            }
        if started:
            out["startTime"] = rfc3339(state.entered_at(job, RUNNING_PHASE))
            out["gcsMetricsUri"] = (
                f"gs://{job.extra['bucket']}/tuning-metrics/{job.id}/metrics.jsonl"
            )
            out["tuningJobMetadata"] = {
                "completedEpochCount": str(epochs * progress.step // progress.total_steps)
            }
        if progress.outcome in ("succeeded", "failed", "cancelled"):
            end = (
                state.cancelled_time(job)
                if progress.outcome == "cancelled"
                else state.entered_at(job, state.phases)
            )
            out["endTime"] = rfc3339(end)
            out["updateTime"] = out["endTime"]
        elif started:
            out["updateTime"] = rfc3339(state.step_time(job, max(progress.step, 1)))
        if progress.outcome == "failed":
            out["error"] = {"code": 3, "message": job.fail_message or "Tuning failed."}
        elif progress.outcome == "cancelled":
            out["error"] = {"code": 1, "message": "CANCELED"}
        elif progress.outcome == "succeeded":
            out["tunedModel"] = tuned_model(job, epochs)
        return out

    def tuned_model(job: EmulatedJob, epochs: int) -> dict[str, Any]:
        steps = checkpoint_steps(state.total_steps)
        checkpoints = [
            {
                "checkpointId": str(n),
                "epoch": str(max(1, epochs * step // state.total_steps)),
                "step": str(step),
                "endpoint": resource(job, "endpoints", f"{job.id}{n:02d}"),
            }
            for n, step in enumerate(steps, start=1)
        ]
        return {
            "model": resource(job, "models", f"{job.id}@1"),
            "endpoint": resource(job, "endpoints", job.id),
            "checkpoints": checkpoints,
        }

    def metrics_file(bucket: str, name: str) -> bytes | None:
        match = METRICS_OBJECT.match(name)
        job = state.jobs.get(match.group(1)) if match else None
        if job is None or job.extra["bucket"] != bucket:
            return None
        progress = state.progress(job)
        if progress.phase < RUNNING_PHASE and progress.outcome == "active":
            return None
        with_eval = bool(job.body["supervisedTuningSpec"].get("validationDatasetUri"))
        rows = []
        for step in range(1, progress.step + 1):
            row: dict[str, Any] = {
                "step": step,
                "time": rfc3339(state.step_time(job, step)),
                "/train_total_loss": train_loss(step),
                "/train_fraction_of_correct_next_step_preds": token_accuracy(step),
                "/train_num_predictions": 256 * step,
            }
            if with_eval:
                row["/eval_total_loss"] = valid_loss(step)
                row["/eval_fraction_of_correct_next_step_preds"] = token_accuracy(step)
            rows.append(json.dumps(row))
        return "".join(r + "\n" for r in rows).encode()

    google.generated.append(metrics_file)

    def checked_version(version: str) -> JSONResponse | None:
        if version not in API_VERSIONS:
            return error_response(404, f"API version {version!r} not found.")
        return None

    prefix = "/{version}/projects/{project}/locations/{location}/tuningJobs"

    @app.post(prefix)
    async def create_job(version: str, project: str, location: str, request: Request) -> Any:
        if (denied := checked_version(version) or google.authorized(request)) is not None:
            return denied
        body = await request.json()
        problem = _create_problem(body)
        if problem is not None:
            return error_response(400, problem)
        spec = body["supervisedTuningSpec"]
        uri = spec["trainingDatasetUri"]
        content = google.read_uri(uri)
        if content is None:
            return error_response(400, f"Dataset {uri} does not exist or cannot be read.")
        validation_uri = spec.get("validationDatasetUri")
        if validation_uri and google.read_uri(validation_uri) is None:
            return error_response(400, f"Dataset {validation_uri} does not exist.")
        job_id = str(7_000_000_000_000_000_000 + state.next_id())
        job = state.add_job(job_id, body, count_tokens(content))
        job.extra.update(
            project=project,
            location=location,
            bucket=uri.removeprefix("gs://").partition("/")[0],
            examples=sum(1 for line in content.splitlines() if line.strip()),
            characters=len(content.decode(errors="replace")),
        )
        if job.fail_message is None and (bad := dataset_problem(content)) is not None:
            job.fail_message = f"Invalid training dataset {uri}: {bad}."
        return describe(job)

    def find(project: str, location: str, job_id: str) -> EmulatedJob | JSONResponse:
        job = state.jobs.get(job_id)
        if job is None or (job.extra["project"], job.extra["location"]) != (project, location):
            name = f"projects/{project}/locations/{location}/tuningJobs/{job_id}"
            return error_response(404, f"The TuningJob does not exist: {name}")
        return job

    @app.get(prefix)
    async def list_jobs(
        version: str,
        project: str,
        location: str,
        request: Request,
        pageSize: int = 10,
        pageToken: str = "",
        filter: str = "",
    ) -> Any:
        if (denied := checked_version(version) or google.authorized(request)) is not None:
            return denied
        wanted: tuple[str, str] | None = None
        if filter:
            match = LABEL_FILTER.match(filter.strip())
            if match is None:
                return error_response(400, f"Unsupported filter: {filter!r}")
            wanted = (match.group(1), match.group(2))
        jobs = [
            j
            for j in reversed(list(state.jobs.values()))
            if (j.extra["project"], j.extra["location"]) == (project, location)
            and (wanted is None or (j.body.get("labels") or {}).get(wanted[0]) == wanted[1])
        ]
        try:
            start = int(base64.urlsafe_b64decode(pageToken).decode()) if pageToken else 0
        except ValueError:
            return error_response(400, "Invalid page token.")
        size = max(1, min(pageSize or 10, MAX_PAGE_SIZE))
        page = jobs[start : start + size]
        out: dict[str, Any] = {"tuningJobs": [describe(j) for j in page]}
        if start + size < len(jobs):
            out["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return out

    @app.get(prefix + "/{job_id}")
    async def get_job(
        version: str, project: str, location: str, job_id: str, request: Request
    ) -> Any:
        if (denied := checked_version(version) or google.authorized(request)) is not None:
            return denied
        job = find(project, location, job_id)
        return job if isinstance(job, JSONResponse) else describe(job)

    @app.post(prefix + "/{job_id}:cancel")
    async def cancel_job(
        version: str, project: str, location: str, job_id: str, request: Request
    ) -> Any:
        if (denied := checked_version(version) or google.authorized(request)) is not None:
            return denied
        job = find(project, location, job_id)
        if isinstance(job, JSONResponse):
            return job
        if not state.cancel(job):
            body = google_error(400, f"The TuningJob {job_id} has already ended.")
            body["error"]["status"] = "FAILED_PRECONDITION"
            return JSONResponse(body, 400)
        return {}

    def training_for(model: str) -> bytes | None:
        """The training file (as chat lines) of the succeeded job ``model`` is an endpoint of."""
        with state.lock:
            jobs = list(state.jobs.values())
        for job in jobs:
            if state.progress(job).outcome != "succeeded":
                continue
            tuned = tuned_model(job, DEFAULT_EPOCHS)
            endpoints = {tuned["endpoint"], *(c["endpoint"] for c in tuned["checkpoints"])}
            if model in endpoints:
                content = google.read_uri(job.body["supervisedTuningSpec"]["trainingDatasetUri"])
                return gemini_to_chat_lines(content) if content is not None else None
        return None

    add_generate_route(app, training_for, google.authorized, google_error)
    add_control_routes(app, state, describe)
    return with_faults(app, state, google_error)


def _create_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a TuningJob object."
    model = body.get("baseModel")
    if not isinstance(model, str) or not model.startswith("gemini-"):
        return f"Base model {model!r} is not supported for supervised tuning."
    spec = body.get("supervisedTuningSpec")
    if not isinstance(spec, dict) or not isinstance(spec.get("trainingDatasetUri"), str):
        return "supervisedTuningSpec.trainingDatasetUri is required."
    name = body.get("tunedModelDisplayName")
    if name is not None and (not isinstance(name, str) or len(name) > 128):
        return "tunedModelDisplayName must be at most 128 characters."
    labels = body.get("labels") or {}
    if not isinstance(labels, dict) or len(labels) > 64:
        return "labels must be a map of at most 64 entries."
    for key, value in labels.items():
        if not LABEL_KEY.match(str(key)) or not LABEL_VALUE.match(str(value)):
            return f"Invalid label {key!r}: {value!r}."
    return None
