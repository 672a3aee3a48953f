"""A succeeded job's result files, as ``File`` rows with ids (purpose ``fine-tune-results``),
so that ``client.files.content(id)`` returns them as it does on OpenAI.

Every succeeded job gets the step metrics CSV, built from the metrics we recorded (provider
polls and the local trainer alike): ``step`` first, then OpenAI's columns (``train_loss``,
``train_accuracy``/``train_mean_token_accuracy``, ``valid_loss``, ``valid_mean_token_accuracy``)
where recorded, then any other metric by name. A local job also lists its training outputs
(adapter, tokenizer, merged model), registered where they lie in its artifacts folder.

The CSV is written before the transaction commits: a rollback leaves an unreferenced file
under ``files_dir`` (harmless, rewritten from the same rows by the retried step)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.ids import new_id
from service.db.models import File, Job, Metric
from service.settings import Settings

RESULTS_PURPOSE = "fine-tune-results"
METRICS_FILENAME = "step_metrics.csv"
OPENAI_COLUMNS = (
    "train_loss",
    "train_accuracy",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
)
CHUNK = 1 << 20


def record_result_files(
    session: Session, settings: Settings, job: Job, artifacts: Sequence[tuple[str, Path]] = ()
) -> list[str]:
    """Write the job's result files as rows and set ``job.result_files`` to their ids
    (the metrics CSV first, then ``artifacts``: (name shown, path on disk) each)."""
    files = [_metrics_csv(session, settings, job)]
    files += [_artifact(job, name, path) for name, path in artifacts]
    session.add_all(files)
    job.result_files = [f.id for f in files]
    return job.result_files


def metrics_csv(session: Session, job_id: str) -> bytes:
    rows: dict[int, dict[str, float]] = {}
    for step, name, value in session.execute(
        select(Metric.step, Metric.name, Metric.value).where(Metric.job_id == job_id)
    ):
        rows.setdefault(int(step), {})[str(name)] = float(value)
    names = {n for values in rows.values() for n in values}
    columns = [c for c in OPENAI_COLUMNS if c in names] + sorted(names - set(OPENAI_COLUMNS))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", *columns])
    for step in sorted(rows):
        writer.writerow([step, *(_cell(rows[step].get(c)) for c in columns)])
    return out.getvalue().encode()


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def _metrics_csv(session: Session, settings: Settings, job: Job) -> File:
    content = metrics_csv(session, job.id)
    file_id = new_id("file-")
    path = settings.files_dir / job.tenant_id / f"{file_id}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return _row(job, file_id, METRICS_FILENAME, path, len(content), _sha256(content), "csv")


def _artifact(job: Job, name: str, path: Path) -> File:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return _row(
        job, new_id("file-"), name, path, path.stat().st_size, digest.hexdigest(), path.suffix[1:]
    )


def _row(job: Job, file_id: str, name: str, path: Path, size: int, sha256: str, fmt: str) -> File:
    return File(
        id=file_id,
        tenant_id=job.tenant_id,
        filename=name[:255],
        purpose=RESULTS_PURPOSE,
        bytes=size,
        sha256=sha256,
        storage_path=str(path),
        status="processed",
        format=fmt[:32] or None,
        validation=None,
    )


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
