"""``/v1/models`` through the official openai SDK: the tenant's fine-tuned models and the
catalog's base models, each with its provider; another tenant's tuned model is a 404."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import openai
import pytest
from openai.types import Model

from service.db.database import Database
from service.db.models import Job
from service.db.session import session_scope
from service.settings import Settings
from tests.factories import make_key, make_tenant
from tests.live import live_api
from tests.service.jobs.helpers import make_file

TUNED = "ft:gpt-4o-mini-2024-07-18:acme:contract:abc123"


@pytest.fixture()
def clients(
    settings: Settings, committed_db: Database
) -> Iterator[tuple[openai.OpenAI, openai.OpenAI]]:
    with session_scope(committed_db.sessions) as session:
        owner, other = make_tenant(session), make_tenant(session)
        keys = make_key(session, owner), make_key(session, other)
        training = make_file(session, settings, owner)
        session.add(
            Job(
                tenant_id=owner.id,
                provider="openai",
                model="gpt-4o-mini-2024-07-18",
                status="succeeded",
                fine_tuned_model=TUNED,
                training_file_id=training.id,
                method={"type": "supervised"},
                hyperparameters={},
                provider_options={},
                provider_file_ids={},
                result_files=[],
                seed=1,
                finished_at=datetime(2026, 11, 2, tzinfo=UTC),
            )
        )
    with live_api(settings, committed_db) as url:
        yield (
            openai.OpenAI(api_key=keys[0], base_url=f"{url}/v1", max_retries=0),
            openai.OpenAI(api_key=keys[1], base_url=f"{url}/v1", max_retries=0),
        )


def test_models_lists_tuned_and_base_models_with_their_provider(
    clients: tuple[openai.OpenAI, openai.OpenAI],
) -> None:
    owner, other = clients
    models = {m.id: m for m in owner.models.list()}
    assert all(isinstance(m, Model) for m in models.values())
    tuned = models[TUNED]
    extra = tuned.model_extra or {}
    assert tuned.owned_by != "openai" and extra["provider"] == "openai"
    assert extra["base_model"] == "gpt-4o-mini-2024-07-18" and extra["kind"] == "fine-tuned"
    base = models["together/Qwen/Qwen2.5-7B-Instruct"]
    assert base.owned_by == "together" and (base.model_extra or {})["provider"] == "together"
    assert models["gpt-4o-mini-2024-07-18"].owned_by == "openai"
    assert "mistral/open-mistral-7b" not in models  # retired: takes no job
    assert TUNED not in {m.id for m in other.models.list()}

    assert owner.models.retrieve(TUNED).id == TUNED
    assert owner.models.retrieve("together/Qwen/Qwen2.5-7B-Instruct").owned_by == "together"
    with pytest.raises(openai.NotFoundError):
        other.models.retrieve(TUNED)
