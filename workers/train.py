"""The gpu queue's task: train one ``local/…`` job (resumable; see
``service.jobs.lifecycle.local_runner``). torch is imported only when a run starts, so
default-queue workers never load it."""

from __future__ import annotations

from service.db.database import get_database
from service.jobs.lifecycle.kind import TRAIN_TASK
from service.jobs.lifecycle.local_runner import run_local_job
from service.settings import get_settings
from workers.celery_app import celery_app


@celery_app.task(name=TRAIN_TASK)
def train_job(job_id: str) -> None:
    run_local_job(get_database().sessions, get_settings(), job_id)
