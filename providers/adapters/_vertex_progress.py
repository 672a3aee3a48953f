"""Events, metrics and checkpoints of a Vertex tuning job, which has no event API.

What Vertex gives: the job's timestamps and state, its ``tuningDataStats`` once the dataset is
processed, ``tunedModel.checkpoints`` once it succeeds, and a metrics file at
``gcsMetricsUri`` (per-step rows named as Google's tuning metrics: ``/train_total_loss``,
``/train_fraction_of_correct_next_step_preds``, ``/eval_total_loss``, …; the row layout is
UNVERIFIED). Events are built in a fixed logical order (created, dataset processed, started,
one metrics event per step, checkpoints, cancel requested, the end), so a later call only
appends to what an earlier one returned and ``after`` can slice by position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.genai import types

from providers.base import ProviderCheckpoint, ProviderEvent

METRIC_NAMES = {
    "/train_total_loss": "train_loss",
    "/train_fraction_of_correct_next_step_preds": "train_mean_token_accuracy",
    "/eval_total_loss": "valid_loss",
    "/eval_fraction_of_correct_next_step_preds": "valid_mean_token_accuracy",
}
MAX_METRIC_ROWS = 100_000
ENDED = {
    "JOB_STATE_SUCCEEDED": ("info", "Tuning succeeded"),
    "JOB_STATE_PARTIALLY_SUCCEEDED": ("warn", "Tuning partially succeeded"),
    "JOB_STATE_FAILED": ("error", "Tuning failed"),
    "JOB_STATE_EXPIRED": ("error", "Tuning expired"),
    "JOB_STATE_CANCELLED": ("info", "Tuning cancelled"),
}


@dataclass(frozen=True)
class MetricsRow:
    step: int
    at: datetime | None
    metrics: dict[str, float]


def parse_metrics(content: bytes) -> list[MetricsRow]:
    """Rows by ascending step; lines that are not metrics rows are skipped (bounded)."""
    rows: dict[int, MetricsRow] = {}
    for raw in content.splitlines()[:MAX_METRIC_ROWS]:
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        step = line.get("step") if isinstance(line, dict) else None
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            continue
        metrics = {
            ours: float(line[theirs])
            for theirs, ours in METRIC_NAMES.items()
            if isinstance(line.get(theirs), int | float) and not isinstance(line[theirs], bool)
        }
        rows[step] = MetricsRow(step, _time(line.get("time")), metrics)
    return [rows[s] for s in sorted(rows)]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def state_name(job: types.TuningJob) -> str:
    return job.state.value if job.state is not None else "JOB_STATE_UNSPECIFIED"


def _stats(job: types.TuningJob) -> types.SupervisedTuningDataStats | None:
    stats = job.tuning_data_stats
    return stats.supervised_tuning_data_stats if stats is not None else None


def events_for(job: types.TuningJob, rows: list[MetricsRow]) -> list[ProviderEvent]:
    created = job.create_time or datetime.now(UTC)
    events = [
        ProviderEvent(
            id="created",
            created_at=created,
            level="info",
            message=f"Tuning job created for {job.base_model}",
        )
    ]
    stats = _stats(job)
    if stats is not None:
        events.append(
            ProviderEvent(
                id="dataset-processed",
                created_at=job.start_time or created,
                level="warn" if stats.total_truncated_example_count else "info",
                message=(
                    f"Dataset processed: {stats.tuning_dataset_example_count} examples, "
                    f"{stats.total_billable_token_count} billable tokens, "
                    f"{stats.tuning_step_count} steps"
                    + (
                        f"; {stats.total_truncated_example_count} examples dropped"
                        if stats.total_truncated_example_count
                        else ""
                    )
                ),
                data={
                    "examples": stats.tuning_dataset_example_count,
                    "billable_tokens": stats.total_billable_token_count,
                    "steps": stats.tuning_step_count,
                },
            )
        )
    if job.start_time is not None:
        events.append(
            ProviderEvent(
                id="started", created_at=job.start_time, level="info", message="Tuning started"
            )
        )
    for row in rows:
        shown = ", ".join(f"{k}={v:g}" for k, v in row.metrics.items())
        events.append(
            ProviderEvent(
                id=f"metrics-{row.step}",
                created_at=row.at or job.update_time or created,
                level="info",
                message=f"Step {row.step}: {shown}",
                type="metrics",
                data={"step": row.step, **row.metrics},
            )
        )
    for checkpoint in checkpoints_for(job, rows):
        events.append(
            ProviderEvent(
                id=f"checkpoint-{checkpoint.step}",
                created_at=checkpoint.created_at,
                level="info",
                message=f"Checkpoint at step {checkpoint.step}",
                data={"step": checkpoint.step, "endpoint": checkpoint.model},
            )
        )
    raw = state_name(job)
    ended_at = job.end_time or job.update_time or created
    if raw in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"):
        events.append(
            ProviderEvent(
                id="cancel-requested", created_at=ended_at, level="info", message="Cancel requested"
            )
        )
    if raw in ENDED:
        level, text = ENDED[raw]
        message = job.error.message if job.error is not None and job.error.message else None
        events.append(
            ProviderEvent(
                id=f"ended-{raw}",
                created_at=ended_at,
                level=level,
                message=f"{text}: {message}" if message and raw != "JOB_STATE_CANCELLED" else text,
                data={"state": raw},
            )
        )
    return events


def checkpoints_for(job: types.TuningJob, rows: list[MetricsRow]) -> list[ProviderCheckpoint]:
    tuned = job.tuned_model
    if tuned is None or not tuned.checkpoints:
        return []
    by_step = {row.step: row for row in rows}
    found: dict[int, ProviderCheckpoint] = {}
    for checkpoint in tuned.checkpoints:
        if checkpoint.step is None:
            continue
        row = by_step.get(checkpoint.step)
        found[checkpoint.step] = ProviderCheckpoint(
            step=checkpoint.step,
            created_at=(row.at if row else None) or job.end_time or datetime.now(UTC),
            metrics=dict(row.metrics) if row else {},
            id=checkpoint.checkpoint_id,
            model=checkpoint.endpoint,
        )
    return [found[s] for s in sorted(found)]
