"""A candidate "as on provider X" end to end on the Together and Fireworks emulators, driven
in-process with real commits: the study lists one Llama 3.1 8B candidate with
``also_on: ["fireworks"]``; both copies train through the normal job path on their own
provider, each is evaluated on the same frozen items (the Fireworks tune on the dedicated
deployment it needs), and the leaderboard has one row per provider, the second labelled as the
same candidate on Fireworks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from emulators.testing import EmulatorHandle, running_emulator
from service.db.database import Database
from service.db.models import EvalRun, Job, Study
from service.db.session import session_scope
from service.evals.runs.kind import EVAL_RUN
from service.evals.runs.status import TERMINAL
from service.evals.runs.step import RunItemsStep
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.lifecycle.launch import launch_job
from service.jobs.lifecycle.poll import poll_job
from service.lifecycle.runner import run_step
from service.settings import Settings
from service.studies.schemas import CreateStudyRequest
from service.studies.service import create_study
from service.studies.steps import run_study_step
from tests.factories import make_tenant
from tests.service.jobs.helpers import jsonl, make_file
from tests.service.studies.test_study_evaluation import CRITERIA, labelled

LLAMA = "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
FIREWORKS_LLAMA = "fireworks/accounts/fireworks/models/llama-v3p1-8b-instruct"


@dataclass
class Providers:
    settings: Settings
    database: Database
    emulators: dict[str, EmulatorHandle]

    def step(self, study_id: str) -> Study:
        run_study_step(self.database.sessions, self.settings, study_id)
        with session_scope(self.database.sessions) as session:
            study = session.get(Study, study_id)
            assert study is not None
            session.expunge(study)
            return study

    def train(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            launch_job(self.database.sessions, self.settings, job_id, adapter_for)
            for _ in range(20):
                with session_scope(self.database.sessions) as session:
                    job = session.get(Job, job_id)
                    assert job is not None
                    if job.status in ("succeeded", "failed", "cancelled"):
                        break
                    assert job.provider_job_id is not None
                    self.emulators[job.provider].advance(job.provider_job_id)
                    job.next_poll_at = None
                poll_job(self.database.sessions, self.settings, job_id, adapter_for)

    def evaluate(self, run_id: str) -> EvalRun:
        """The run's step again and again, as its self-rescheduled messages would run it."""
        for _ in range(200):
            run_step(
                EVAL_RUN, RunItemsStep(adapter_for), self.database.sessions, self.settings, run_id
            )
            with session_scope(self.database.sessions) as session:
                run = session.get(EvalRun, run_id)
                assert run is not None
                if run.status in TERMINAL:
                    session.expunge(run)
                    return run
            time.sleep(0.02)  # a dedicated deployment's readiness poll is due again
        raise AssertionError(f"run {run_id} did not end")


@pytest.fixture()
def providers(settings: Settings, committed_db: Database) -> Iterator[Providers]:
    with (
        running_emulator("together", phase_seconds=0.05) as together,
        running_emulator("fireworks", phase_seconds=0.05) as fireworks,
    ):
        configured = settings.model_copy(
            update={
                "together_base_url": together.sdk_base_url,
                "together_api_key": SecretStr("k"),
                "together_project_id": "proj-1",
                "fireworks_base_url": fireworks.sdk_base_url,
                "fireworks_api_key": SecretStr("k"),
                "fireworks_account_id": "acct-1",
                "deployment_poll_s": 0.01,
            }
        )
        yield Providers(configured, committed_db, {"together": together, "fireworks": fireworks})


def test_a_candidate_also_on_fireworks_trains_and_ranks_as_its_own_row(
    providers: Providers,
) -> None:
    with session_scope(providers.database.sessions) as session:
        tenant = make_tenant(session)
        file = make_file(session, providers.settings, tenant, jsonl(labelled(40)))
        body = CreateStudyRequest.model_validate(
            {
                "training_file": file.id,
                "holdout": 0.25,
                "candidates": [{"model": LLAMA, "also_on": ["fireworks"]}],
                "baselines": [{"model": LLAMA}],
                "testing_criteria": CRITERIA,
                "primary": "exact",
                "budget": "50",
                "volume": 100_000,
            }
        )
        study_id = create_study(session, providers.settings, tenant.id, body).id
    study = providers.step(study_id)
    assert study.status == "training", study.events
    assert [c["provider"] for c in study.candidates] == ["together", "fireworks"]
    providers.train([c["job_id"] for c in study.candidates])
    study = providers.step(study_id)
    assert study.status == "evaluating", study.events
    with session_scope(providers.database.sessions) as session:
        runs = session.scalars(
            select(EvalRun.id).where(EvalRun.user_metadata["study"].as_string() == study_id)
        ).all()
    assert len(runs) == 3  # the baseline and each provider's tune
    for run_id in runs:
        assert providers.evaluate(run_id).status == "completed"
    study = providers.step(study_id)
    assert study.status == "completed", study.events
    board = study.leaderboard or []
    label = f"{LLAMA} (candidates[0])"
    assert [(r["role"], r["label"], r["provider"]) for r in board] == [
        ("baseline", f"{LLAMA} (0-shot)", "together"),
        ("candidate", label, "together"),
        ("candidate", f"{label} as on fireworks", "fireworks"),
    ]
    together_row, fireworks_row = board[1], board[2]
    assert fireworks_row["model"].startswith("accounts/")  # the Fireworks tune was evaluated
    for row in (together_row, fireworks_row):
        assert row["run_status"] == "completed" and row["primary"]["value"] == 1.0
        assert row["latency_ms"]["p50"] > 0
    # the Fireworks tune serves only on a dedicated deployment: hosting in its monthly cost
    assert Decimal(fireworks_row["hosting_per_month"]) > 0
    assert Decimal(together_row["hosting_per_month"]) == 0
