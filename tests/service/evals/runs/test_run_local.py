"""Runs on local models: ``local/<folder>`` or a local job's tuned model routes to the gpu
queue's task and to the local generator the gpu worker registers (base model folder + the job's
adapter); without one, the run fails saying why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from providers.base import ChatCompletion, ChatRequest, ChatUsage
from service.db.models import OutboxMessage, Tenant
from service.db.session import session_scope
from service.evals.runs.items import Completer
from service.evals.runs.local import LocalModel, register_local_completer_factory
from service.settings import Settings
from tests.service.billing.helpers import make_job
from tests.service.evals.runs.conftest import CONFIG, CRITERIA, RunWorld, completions


def _local_world(world: RunWorld, tmp_path: Path) -> Settings:
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "config.json").write_text("{}")
    return world.settings.model_copy(update={"local_models_dir": models})


def _eval(world: RunWorld) -> str:
    return world.sdk.evals.create(data_source_config=CONFIG, testing_criteria=CRITERIA).id


def test_a_local_jobs_model_is_sampled_by_the_registered_generator(
    world: RunWorld, tmp_path: Path
) -> None:
    settings = _local_world(world, tmp_path)
    tuned = "local/tiny:ft-demo-ftjob-1"
    with session_scope(world.database.sessions) as session:
        tenant = session.get(Tenant, world.tenant_id)
        assert tenant is not None
        job_id = make_job(
            session, tenant, provider="local", model="local/tiny", fine_tuned_model=tuned
        ).id
    eval_id = _eval(world)
    run = world.sdk.evals.runs.create(eval_id, data_source=completions(tuned, 3))
    with session_scope(world.database.sessions) as session:
        tasks = session.scalars(
            select(OutboxMessage.task).where(OutboxMessage.target_id == run.id)
        ).all()
    assert tasks == ["tuneforge.eval_run_local"]  # the gpu queue's task

    loaded: list[LocalModel] = []

    @contextmanager
    def generator(_: Settings, model: LocalModel) -> Iterator[Completer]:
        loaded.append(model)

        def complete(request: ChatRequest) -> ChatCompletion:
            time.sleep(0.02)  # generation takes at least 20 ms: its timed latency can't be less
            question = str(request.messages[-1]["content"])
            answer = '{"code": "C' + question.split()[-1].rstrip("?") + '"}'
            return ChatCompletion(model=model.name, text=answer, usage=ChatUsage(7, 3))

        yield complete

    register_local_completer_factory(generator)
    try:
        world.work(run.id, settings)
    finally:
        register_local_completer_factory(None)
    adapter = (settings.artifacts_dir / job_id / "adapter").resolve()
    assert settings.local_models_dir is not None
    assert loaded == [LocalModel(tuned, settings.local_models_dir / "tiny", adapter)]
    done = world.sdk.evals.runs.retrieve(run.id, eval_id=eval_id)
    assert (done.status, done.result_counts.passed) == ("completed", 3)
    usage = done.per_model_usage[0]
    assert (usage.run_model_name, usage.invocation_count, usage.prompt_tokens) == (tuned, 3, 21)
    assert world.chat_requests() == 0
    # the local generation itself is timed, as a provider's call is
    items = world.sdk.evals.runs.output_items.list(run.id, eval_id=eval_id).data
    latencies = [float((i.sample.model_extra or {})["latency_ms"]) for i in items]
    assert len(latencies) == 3 and all(ms >= 20 for ms in latencies)
    extra: Any = done.model_extra
    assert extra["statistics"]["latency_ms"]["n"] == 3


def test_without_a_local_generator_a_local_run_fails_saying_why(
    world: RunWorld, tmp_path: Path
) -> None:
    settings = _local_world(world, tmp_path)
    eval_id = _eval(world)
    run = world.sdk.evals.runs.create(eval_id, data_source=completions("local/tiny", 2))
    world.work(run.id, settings)
    failed = world.sdk.evals.runs.retrieve(run.id, eval_id=eval_id)
    assert failed.status == "failed"
    assert failed.error.code == "local_inference_unavailable"
    assert "gpu worker" in failed.error.message
