"""``fine_tuning.job.evaluated``: announced when the evaluation attached to a job ends —
completed with its verdict, failed with why, or cancelled (the job itself stays succeeded). A
job that did not succeed announces nothing here: its own ``failed``/``cancelled`` event says
so. It goes to the tenant's endpoints subscribed to it and to the job's own ``webhook_url``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.db.models import Job, Study
from service.jobs.api.evaluation import evaluation_object
from service.webhooks.deliveries import enqueue_job_payload
from service.webhooks.events import JOB_EVALUATED, job_evaluated_payload, new_event_id


def attached_job_id(study: Study) -> str | None:
    job_id = (study.spec or {}).get("job_id")
    return str(job_id) if job_id else None


def announce_evaluated(session: Session, study: Study, now: datetime) -> None:
    job = session.get(Job, attached_job_id(study))
    if job is None or job.status != "succeeded":
        return
    data = {
        "id": job.id,
        "object": "fine_tuning.job",
        "status": job.status,
        "model": job.model,
        "provider": job.provider,
        "fine_tuned_model": job.fine_tuned_model,
        "metadata": job.user_metadata or None,
        "evaluation": evaluation_object(study),
    }
    payload = job_evaluated_payload(data, event_id=new_event_id(), created_at=now)
    enqueue_job_payload(session, job, JOB_EVALUATED, payload, now=now)
