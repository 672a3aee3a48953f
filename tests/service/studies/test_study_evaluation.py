"""A study end to end on the OpenAI emulator, driven in-process with real commits: candidates
train through the normal job path, baselines (zero- and 5-shot) and tuned models are evaluated
on the same frozen held-out items, and the leaderboard names a winner — or ``no_improvement``
when no candidate beats the prompting baseline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from emulators.testing import EmulatorHandle, running_emulator
from service.db.database import Database
from service.db.models import EvalRun, Job, Study, WebhookDelivery
from service.db.session import session_scope
from service.evals.runs.kind import EVAL_RUN
from service.evals.runs.step import RunItemsStep
from service.jobs.lifecycle.adapters import adapter_for
from service.jobs.lifecycle.launch import launch_job
from service.jobs.lifecycle.poll import poll_job
from service.lifecycle.runner import run_step
from service.settings import Settings
from service.studies.schemas import CreateStudyRequest
from service.studies.service import cancel_study, create_study
from service.studies.steps import run_study_step
from service.webhooks.endpoints import create_endpoint
from tests.factories import make_tenant
from tests.service.evals.criteria import IDEAL_EXACT, LABEL_FORMAT
from tests.service.jobs.helpers import jsonl, make_file

MINI = "gpt-4o-mini-2024-07-18"
KINDS = {"cat": "animal", "dog": "animal", "car": "vehicle", "bus": "vehicle"}
CRITERIA: list[dict[str, Any]] = [IDEAL_EXACT, LABEL_FORMAT]


def labelled(count: int) -> list[dict[str, Any]]:
    """A task a tuned model learns: the label of the thing in the sentence, as JSON."""
    rows = []
    for n in range(count):
        thing = list(KINDS)[n % len(KINDS)]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"Label this: the {thing} number {n} went by"},
                    {"role": "assistant", "content": json.dumps({"label": KINDS[thing]})},
                ]
            }
        )
    return rows


def unlearnable(count: int) -> list[dict[str, Any]]:
    """Every answer is unique: a tuned model answers a held-out item with another's answer."""
    return [
        {
            "messages": [
                {"role": "user", "content": f"What is the secret code of item {n}?"},
                {"role": "assistant", "content": json.dumps({"label": f"code-{n * 7919 % 1000}"})},
            ]
        }
        for n in range(count)
    ]


@dataclass
class World:
    settings: Settings
    database: Database
    emulator: EmulatorHandle

    def study(self, rows: list[dict[str, Any]], **changes: Any) -> str:
        with session_scope(self.database.sessions) as session:
            tenant = make_tenant(session)
            create_endpoint(
                session,
                tenant.id,
                url="http://127.0.0.1:9/hook",
                settings=self.settings,
                events=["fine_tuning.study.completed"],
            )
            file = make_file(session, self.settings, tenant, jsonl(rows))
            body = {
                "training_file": file.id,
                "holdout": 0.25,
                "candidates": [{"model": MINI}, {"model": MINI, "suffix": "second"}],
                "testing_criteria": CRITERIA,
                "primary": "exact",
                "budget": "50",
                "volume": 200_000,
                **changes,
            }
            request = CreateStudyRequest.model_validate(body)
            return create_study(session, self.settings, tenant.id, request).id

    def train(self, study_id: str) -> None:
        """The candidate jobs' launch and polls, as the workers would run them."""
        with session_scope(self.database.sessions) as session:
            study = session.get(Study, study_id)
            assert study is not None
            job_ids = [c["job_id"] for c in study.candidates if c.get("job_id")]
        for job_id in job_ids:
            launch_job(self.database.sessions, self.settings, job_id, adapter_for)
            for _ in range(20):
                with session_scope(self.database.sessions) as session:
                    job = session.get(Job, job_id)
                    assert job is not None
                    if job.status in ("succeeded", "failed", "cancelled"):
                        break
                    assert job.provider_job_id is not None
                    self.emulator.advance(job.provider_job_id)
                    job.next_poll_at = None
                poll_job(self.database.sessions, self.settings, job_id, adapter_for)

    def evaluate(self, study_id: str) -> None:
        with session_scope(self.database.sessions) as session:
            runs = session.scalars(
                select(EvalRun.id).where(EvalRun.user_metadata["study"].as_string() == study_id)
            ).all()
        assert runs
        for run_id in runs:
            run_step(
                EVAL_RUN, RunItemsStep(adapter_for), self.database.sessions, self.settings, run_id
            )

    def load(self, study_id: str) -> Study:
        with session_scope(self.database.sessions) as session:
            study = session.get(Study, study_id)
            assert study is not None
            session.expunge(study)
            return study

    def run_to_the_end(self, study_id: str) -> Study:
        run_study_step(self.database.sessions, self.settings, study_id)
        assert self.load(study_id).status == "training"
        self.train(study_id)
        run_study_step(self.database.sessions, self.settings, study_id)
        assert self.load(study_id).status == "evaluating"
        self.evaluate(study_id)
        run_study_step(self.database.sessions, self.settings, study_id)
        return self.load(study_id)


@pytest.fixture()
def world(settings: Settings, committed_db: Database) -> Iterator[World]:
    with running_emulator("openai", phase_seconds=0.05) as emulator:
        configured = settings.model_copy(
            update={
                "openai_base_url": emulator.sdk_base_url,
                "openai_api_key": SecretStr("sk-test"),
            }
        )
        yield World(configured, committed_db, emulator)


def test_a_study_evaluates_baselines_and_candidates_and_names_a_winner(world: World) -> None:
    study = world.run_to_the_end(world.study(labelled(48)))
    assert study.status == "completed", study.events
    board = study.leaderboard
    assert board is not None
    roles = [(r["role"], r["label"]) for r in board]
    assert roles[:2] == [("baseline", f"{MINI} (0-shot)"), ("baseline", f"{MINI} (5-shot)")]
    assert [r for r, _ in roles[2:]] == ["candidate", "candidate"]
    for row in board:
        assert row["run_status"] == "completed"
        assert row["primary"]["ci_low"] <= row["primary"]["value"] <= row["primary"]["ci_high"]
        assert set(row["criteria"]) == {"exact", "format"}
        assert row["mean_prompt_tokens"] > 0 and row["inference_cost_per_1k"] is not None
        assert row["monthly_cost"] is not None
        # the run's p50/p95 of its sampling calls' wall times, timed where each call is made
        latency = row["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"]
        with session_scope(world.database.sessions) as session:
            run = session.get(EvalRun, row["run_id"])
            assert run is not None and run.statistics is not None
            stats = run.statistics["latency_ms"]
            assert (stats["p50"], stats["p95"]) == (latency["p50"], latency["p95"])
    zero, five, tuned, _ = board
    assert zero["primary"]["value"] == 0.0 and tuned["primary"]["value"] == 1.0
    assert five["mean_prompt_tokens"] > zero["mean_prompt_tokens"]  # the shots are in its prompt
    assert tuned["gates"] == {"format_compliance": True, "improvement": True, "passed": True}
    assert zero["gates"]["format_compliance"] is False
    delta = tuned["delta_vs_best_baseline"]
    assert delta["value"] == 1.0 and delta["ci_low"] > 0
    assert tuned["training_cost"] is not None and tuned["evaluation_cost"] is not None
    assert tuned["break_even"]["verdict"] in ("pays_back", "never_pays_back")
    assert study.verdict is not None and study.verdict["outcome"] == "winner"
    assert study.verdict["winner"]["job_id"] in {tuned["job_id"], board[3]["job_id"]}
    with session_scope(world.database.sessions) as session:
        sent = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.tenant_id == study.tenant_id)
        ).all()
        assert [d.event_type for d in sent] == ["fine_tuning.study.completed"]
        data = sent[0].payload["data"]
        assert data["id"] == study.id and data["verdict"]["outcome"] == "winner"
        assert len(data["leaderboard"]) == 4


def test_candidates_that_do_not_beat_the_baseline_end_no_improvement(world: World) -> None:
    study = world.run_to_the_end(world.study(unlearnable(40)))
    assert study.status == "completed", study.events
    assert study.verdict is not None and study.verdict["outcome"] == "no_improvement"
    assert study.verdict["message"] == "no candidate beats the prompting baseline; don't fine-tune"
    candidates = [r for r in study.leaderboard or [] if r["role"] == "candidate"]
    assert candidates and all(r["gates"]["improvement"] is False for r in candidates)
    assert all(
        c["delta_vs_best_baseline"] is not None for c in study.verdict["evidence"]["candidates"]
    )


def test_cancel_while_evaluating_cancels_the_eval_runs(world: World) -> None:
    study_id = world.study(labelled(24))
    run_study_step(world.database.sessions, world.settings, study_id)
    world.train(study_id)
    run_study_step(world.database.sessions, world.settings, study_id)
    with session_scope(world.database.sessions) as session:
        study = session.get(Study, study_id)
        assert study is not None and study.status == "evaluating"
        cancel_study(session, world.settings, study.tenant_id, study_id)
    with session_scope(world.database.sessions) as session:
        runs = session.scalars(
            select(EvalRun).where(EvalRun.user_metadata["study"].as_string() == study_id)
        ).all()
        assert runs and {r.status for r in runs} == {"canceled"}
    assert world.load(study_id).status == "cancelled"
