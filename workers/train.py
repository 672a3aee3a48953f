"""The gpu queue's tasks: train one ``local/…`` job (resumable; see
``service.jobs.lifecycle.local_runner``) and run an eval run on a local model (the same step as
any run; its completer comes from the factory registered with
``service.evals.runs.local.register_local_completer_factory``). torch is imported only when a
run starts, so default-queue workers never load it."""

from __future__ import annotations

from service.db.database import get_database
from service.evals.runs.kind import EVAL_RUN, LOCAL_RUN_TASK
from service.evals.runs.step import RunItemsStep
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.lifecycle.kind import TRAIN_TASK
from service.jobs.lifecycle.local_runner import run_local_job
from service.lifecycle.runner import run_step
from service.settings import get_settings
from workers import local_inference
from workers.celery_app import celery_app

local_inference.install()


@celery_app.task(name=TRAIN_TASK)
def train_job(job_id: str) -> None:
    run_local_job(get_database().sessions, get_settings(), job_id)


@celery_app.task(name=LOCAL_RUN_TASK)
def eval_run_local(run_id: str) -> None:
    step = RunItemsStep(adapter_for, local=True)
    run_step(EVAL_RUN, step, get_database().sessions, get_settings(), run_id)
