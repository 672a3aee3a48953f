"""A run on a tuned model that serves only on a dedicated deployment (a Together tune of a base
the catalog marks ``serving="dedicated"``): the run deploys it through the SDK (on the Together
emulator's v2 endpoints), waits until it is ready by rescheduling itself, samples the deployed
copy, stops it when it ends — completed or canceled — and books the hosting; a deployment left
live by a worker that lost its lease is stopped by the reconciler's sweep."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from emulators.testing import EmulatorHandle, running_emulator
from providers.base import ChatRequest, JobSpec, JobStatus, ProviderConfig
from providers.errors import ProviderPermanentError
from providers.registry import get_adapter
from service.billing.estimate import hours_cost
from service.db.database import Database
from service.db.models import CostLedgerEntry, EvalRun, EvalRunOutputItem, Job, Tenant
from service.db.session import session_scope
from service.db.types import utcnow
from service.evals.runs.deployments import EVALUATION_HOSTING, sweep_orphans
from service.evals.runs.kind import EVAL_RUN
from service.evals.runs.step import RunItemsStep
from service.jobs.lifecycle.adapters import adapter_for
from service.lifecycle.runner import run_step
from service.settings import Settings
from service.tenants.service import set_monthly_budget
from tests.e2e.harness import wait_for
from tests.factories import make_key, make_tenant
from tests.live import live_api
from tests.providers.test_contract import wait_until_terminal
from tests.service.billing.helpers import make_job
from tests.service.evals.runs.conftest import ANSWERS, CONFIG, CRITERIA, QUESTIONS, completions

BASES = {  # the catalog: a tune of each serves only on a dedicated deployment
    "together": "Qwen/Qwen2.5-7B-Instruct",
    "fireworks": "accounts/fireworks/models/llama-v3p1-8b-instruct",
}
HOURLY = Decimal("36")  # $0.01 a second, so that a short test run costs something
PROJECT = "proj-test"
ACCOUNT = "acct-test"
TERMINAL = ("completed", "failed", "canceled")


@dataclass
class DeployWorld:
    settings: Settings
    database: Database
    emulator: EmulatorHandle
    sdk: openai.OpenAI
    tuned: str
    provider: str

    def work(self, run_id: str, settings: Settings | None = None) -> None:
        run_step(
            EVAL_RUN,
            RunItemsStep(adapter_for),
            self.database.sessions,
            settings or self.settings,
            run_id,
        )

    def run(self, count: int = 10) -> tuple[str, str]:
        eval_id = self.sdk.evals.create(data_source_config=CONFIG, testing_criteria=CRITERIA).id
        run = self.sdk.evals.runs.create(eval_id, data_source=completions(self.tuned, count))
        return eval_id, run.id

    def work_until_done(self, run_id: str, settings: Settings | None = None) -> EvalRun:
        """The run's step again and again, as its self-rescheduled messages would run it."""
        for _ in range(400):
            self.work(run_id, settings)
            row = self.row(run_id)
            if row.status in TERMINAL:
                return row
            time.sleep(0.02)
        raise AssertionError(f"run {run_id} did not end")

    def row(self, run_id: str) -> EvalRun:
        with session_scope(self.database.sessions) as session:
            row = session.get(EvalRun, run_id)
            assert row is not None
            session.expunge(row)
            return row

    def slow_deployments(self) -> None:
        """New deployments stay provisioning until ``ready_now``."""
        httpx.post(
            f"{self.emulator.base_url}/_emulator/deployments/delay", json={"seconds": 3600}
        ).raise_for_status()

    def ready_now(self) -> None:
        httpx.post(f"{self.emulator.base_url}/_emulator/deployments/ready").raise_for_status()

    def deployments(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.emulator.base_url}/_emulator/deployments", timeout=10)
        data: list[dict[str, Any]] = answer.json()["data"]
        return data

    def hosting_entries(self, run_id: str) -> list[CostLedgerEntry]:
        with session_scope(self.database.sessions) as session:
            entries = list(
                session.scalars(
                    select(CostLedgerEntry).where(
                        CostLedgerEntry.eval_run_id == run_id,
                        CostLedgerEntry.kind == EVALUATION_HOSTING,
                    )
                )
            )
            session.expunge_all()
            return entries

    def chat_requests(self) -> int:
        return sum(1 for r in self.emulator.requests() if r["path"].endswith("/chat/completions"))

    def stored(self, run_id: str) -> int:
        with session_scope(self.database.sessions) as session:
            count = session.scalar(
                select(func.count())
                .select_from(EvalRunOutputItem)
                .where(EvalRunOutputItem.run_id == run_id)
            )
            return int(count or 0)


def _tune(emulator: EmulatorHandle, tmp_path: Path) -> str:
    """A model the emulator tuned on QUESTIONS → ANSWERS, on a dedicated-only base."""
    dataset = tmp_path / "train.jsonl"
    dataset.write_text(
        "".join(
            json.dumps(
                {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            )
            + "\n"
            for q, a in zip(QUESTIONS, ANSWERS, strict=True)
        )
    )
    adapter = get_adapter(emulator.provider, _config(emulator))
    file_id = adapter.upload_dataset(dataset, "train.jsonl")
    base = BASES[emulator.provider]
    created = adapter.create_job(
        JobSpec(tag=f"job-{uuid.uuid4().hex}", model=base, training_file=file_id, suffix="t")
    )
    emulator.advance(created.id)
    job = wait_until_terminal(adapter, created.id)
    assert job.status is JobStatus.SUCCEEDED and job.fine_tuned_model
    return job.fine_tuned_model


def _config(emulator: EmulatorHandle) -> ProviderConfig:
    return ProviderConfig(
        api_key="k", base_url=emulator.sdk_base_url, account_id=ACCOUNT, project=PROJECT
    )


@pytest.fixture(params=list(BASES))
def world(
    request: pytest.FixtureRequest, settings: Settings, committed_db: Database, tmp_path: Path
) -> Iterator[DeployWorld]:
    provider: str = request.param
    base = BASES[provider]
    with running_emulator(provider, phase_seconds=0.05) as emulator:
        configured = settings.model_copy(
            update={
                f"{provider}_base_url": emulator.sdk_base_url,
                f"{provider}_api_key": SecretStr("k"),
                "together_project_id": PROJECT,
                "fireworks_account_id": ACCOUNT,
                "deployment_poll_s": 0.05,
                "price_overrides": {provider: {base: {"hosting_per_hour": str(HOURLY)}}},
            }
        )
        tuned = _tune(emulator, tmp_path)
        with session_scope(committed_db.sessions) as session:
            tenant = make_tenant(session)
            key = make_key(session, tenant)
            make_job(
                session,
                session.get(Tenant, tenant.id) or tenant,
                provider=provider,
                model=f"{provider}/{base}",
                fine_tuned_model=tuned,
            )
        with live_api(configured, committed_db) as url:
            sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
            yield DeployWorld(configured, committed_db, emulator, sdk, tuned, provider)


def _booked(world: DeployWorld, run: EvalRun) -> Decimal:
    assert run.deployment is not None and not run.deployment_live
    assert run.deployment["state"] == "stopped"
    expected = hours_cost(run.deployment["hosted_s"], HOURLY)
    entries = world.hosting_entries(run.id)
    if expected == 0:
        assert entries == []
    else:
        assert [(e.amount, e.provider) for e in entries] == [(expected, world.provider)]
    return expected


def test_the_tuned_model_without_a_deployment_is_refused_like_the_real_api(
    world: DeployWorld,
) -> None:
    adapter = get_adapter(world.provider, _config(world.emulator))
    ask = ChatRequest(model=world.tuned, messages=[{"role": "user", "content": QUESTIONS[0]}])
    with pytest.raises(ProviderPermanentError) as refused:
        adapter.chat_completion(ask)
    assert refused.value.status_code == 404 and "deployment" in refused.value.message


def test_a_run_deploys_the_tuned_model_evaluates_it_stops_it_and_books_the_hosting(
    world: DeployWorld,
) -> None:
    world.slow_deployments()
    eval_id, run_id = world.run()
    world.work(run_id)  # creates the deployment, finds it provisioning, comes back later
    waiting = world.row(run_id)
    assert waiting.status == "in_progress" and waiting.deployment_live
    assert waiting.deployment is not None and waiting.deployment["provider"] == world.provider
    assert waiting.next_step_at is not None and waiting.attempts == 0  # a wait is no start
    assert [d["state"] for d in world.deployments()] == ["provisioning"]
    world.work(run_id)
    assert world.row(run_id).next_step_at is not None  # still waiting, rescheduled again
    assert world.chat_requests() == 0

    world.ready_now()
    run = world.work_until_done(run_id)
    assert run.status == "completed"
    assert run.result_counts == {"total": 10, "passed": 10, "failed": 0, "errored": 0}
    deployed = world.deployments()
    assert [(d["state"], d["model"]) for d in deployed] == [("stopped", world.tuned)]
    assert deployed[0]["billed_seconds"] > 0
    assert run.deployment is not None
    assert run.deployment["model_to_call"] == deployed[0]["endpoint"]
    assert run.per_model_usage is not None
    assert [u["model_name"] for u in run.per_model_usage] == [deployed[0]["endpoint"]]
    hosting = _booked(world, run)
    assert hosting > 0 and run.cost == hosting  # tokens of a dedicated model cost nothing more
    shown = world.sdk.evals.runs.retrieve(run_id, eval_id=eval_id)
    assert (shown.model_extra or {})["cost"] == {"amount": str(hosting), "currency": "USD"}
    shown_deployment = (shown.model_extra or {})["deployment"]
    assert (shown_deployment["provider"], shown_deployment["state"]) == (world.provider, "stopped")
    assert shown_deployment["model_to_call"] == deployed[0]["endpoint"]


def test_cancel_mid_run_stops_the_deployment(world: DeployWorld) -> None:
    world.emulator.inject(kind="slow", path="/chat/completions$", seconds=0.1, count=-1)
    settings = world.settings.model_copy(update={"eval_run_concurrency": 1})
    eval_id, run_id = world.run()
    worker = threading.Thread(target=world.work_until_done, args=(run_id, settings))
    worker.start()
    wait_for(lambda: world.stored(run_id) >= 2, 20, "two items stored")
    world.sdk.evals.runs.cancel(run_id, eval_id=eval_id)
    worker.join(timeout=30)
    assert not worker.is_alive()
    run = world.row(run_id)
    assert run.status == "canceled"
    assert [d["state"] for d in world.deployments()] == ["stopped"]
    assert _booked(world, run) > 0


def test_a_deployment_left_live_by_a_lost_lease_is_stopped_by_the_reconciler(
    world: DeployWorld,
) -> None:
    world.emulator.inject(kind="slow", path="/chat/completions$", seconds=0.1, count=-1)
    settings = world.settings.model_copy(update={"eval_run_concurrency": 1, "lease_ttl_s": 0.6})
    world.slow_deployments()
    eval_id, run_id = world.run()
    world.work(run_id)  # the deployment is created
    world.ready_now()
    worker = threading.Thread(target=world.work, args=(run_id, settings))
    worker.start()
    wait_for(lambda: world.stored(run_id) >= 2, 20, "two items stored")
    # The worker is presumed dead: its lease expires; it notices and abandons the run,
    # leaving the deployment it created live; then the run's owner cancels it.
    with session_scope(world.database.sessions) as session:
        session.execute(
            update(EvalRun)
            .where(EvalRun.id == run_id)
            .values(lease_owner="gone", lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    worker.join(timeout=30)
    assert not worker.is_alive()
    world.sdk.evals.runs.cancel(run_id, eval_id=eval_id)
    orphan = world.row(run_id)
    assert orphan.status == "canceled" and orphan.deployment_live
    assert [d["state"] for d in world.deployments()] == ["ready"]

    assert sweep_orphans(world.database.sessions, world.settings, adapter_for) == 1
    assert sweep_orphans(world.database.sessions, world.settings, adapter_for) == 0
    run = world.row(run_id)
    assert [d["state"] for d in world.deployments()] == ["stopped"]
    hosting = _booked(world, run)
    assert hosting > 0 and run.cost == hosting


def test_a_create_whose_answer_was_lost_is_found_again_not_doubled(world: DeployWorld) -> None:
    # the provider creates the deployment, then the connection drops before the answer
    world.emulator.inject(kind="drop_after", method="POST", path="/deployments$", count=1)
    _, run_id = world.run()
    world.work(run_id)  # a retryable failure: the step backs off
    assert world.row(run_id).status == "in_progress"
    assert len(world.deployments()) == 1  # created, though nobody heard of it

    run = world.work_until_done(run_id)
    assert run.status == "completed"
    assert [d["state"] for d in world.deployments()] == ["stopped"]  # the same one, stopped
    _booked(world, run)


def test_a_run_that_fails_stops_its_deployment(world: DeployWorld) -> None:
    world.slow_deployments()
    _, run_id = world.run()
    world.work(run_id)  # created, provisioning
    world.emulator.inject(
        kind="status", status=400, method="GET", path="/deployments/[^/]+$", count=1
    )
    run = world.work_until_done(run_id)  # the provider refuses: the run fails
    assert run.status == "failed" and run.error is not None
    assert run.error["message"].startswith(f"{world.provider}: ")  # the provider's refusal
    assert [d["state"] for d in world.deployments()] == ["stopped"]
    assert not run.deployment_live
    _booked(world, run)


def test_a_run_whose_hosting_the_budget_cannot_pay_is_refused_before_anything_is_deployed(
    world: DeployWorld,
) -> None:
    with session_scope(world.database.sessions) as session:
        job = session.scalars(select(Job).where(Job.fine_tuned_model == world.tuned)).one()
        tenant = session.get(Tenant, job.tenant_id)
        assert tenant is not None
        set_monthly_budget(session, tenant, Decimal("30"))  # below one hour at $36
    eval_id = world.sdk.evals.create(data_source_config=CONFIG, testing_criteria=CRITERIA).id
    with pytest.raises(openai.BadRequestError) as refused:
        world.sdk.evals.runs.create(eval_id, data_source=completions(world.tuned, 3))
    assert refused.value.code == "budget_exceeded"
    assert world.deployments() == []
    with session_scope(world.database.sessions) as session:
        assert session.scalar(select(func.count()).select_from(EvalRun)) == 0
