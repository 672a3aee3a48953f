"""Quotes: one dataset against many provider/models, problems flagged, cheapest first."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from providers.catalog import find_model
from service.billing.quotes import Quote, lifecycle_issues
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.billing.helpers import chat_rows, stored_file

QWEN = "Qwen/Qwen2.5-7B-Instruct"
FW_8B = "accounts/fireworks/models/llama-v3p1-8b-instruct"
FW_MIXTRAL = "accounts/fireworks/models/mixtral-8x7b-instruct"


def _quote(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/quotes", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _codes(quote: dict[str, Any], field: str = "problems") -> set[str]:
    return {issue["code"] for issue in quote[field]}


def test_cheapest_first_and_a_retired_mistral_invalid_file_flagged(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    # Ends on a user turn: fine for OpenAI, Together and Fireworks, not for Mistral.
    file = stored_file(db_session, settings, tenant, chat_rows(12, end_with_user=True))
    candidates = [
        {"model": "gpt-4o-mini-2024-07-18"},
        {"model": "mistral/open-mistral-7b"},
        {"model": f"together/{QWEN}"},
        {"provider": "fireworks", "model": FW_8B},
    ]
    quotes = _quote(client, key, training_file=file.id, candidates=candidates)["data"]
    assert [(q["provider"], q["model"]) for q in quotes] == [
        ("together", QWEN),  # $0.48 / 1M, 1 epoch
        ("fireworks", FW_8B),  # $0.50 / 1M, 1 epoch
        ("openai", "gpt-4o-mini-2024-07-18"),  # $3 / 1M, 8 automatic epochs
        ("mistral", "open-mistral-7b"),  # incompatible last
    ]
    together, fireworks, openai, mistral = quotes
    assert together["compatible"] and openai["compatible"] and not mistral["compatible"]
    assert openai["epochs"] == 8 and openai["billed_tokens"] > 0
    assert openai["billed_tokens"] == 8 * file.validation["tokens"]["total"]  # type: ignore[index]
    costs = [float(q["estimated_cost"]["amount"]) for q in (together, fireworks, openai)]
    assert costs == sorted(costs) and costs[0] > 0
    assert together["estimated_duration_s"] > 0
    assert {"model_retired", "last_message_not_assistant"} <= _codes(mistral)
    assert "model_retired" in _codes(mistral, "warnings")
    bad_line = next(p for p in mistral["problems"] if p["code"] == "last_message_not_assistant")
    assert (bad_line["line"], bad_line["file"]) == (1, "training_file")
    assert mistral["lifecycle"]["status"] == "retired"


def test_every_available_model_when_no_candidates(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    file = stored_file(db_session, settings, tenant, chat_rows(12))
    quotes = _quote(client, key, training_file=file.id, hyperparameters={"n_epochs": 2})["data"]
    providers = {q["provider"] for q in quotes}
    assert providers == {"openai", "together", "fireworks", "vertex"}  # mistral is retired
    assert all(q["compatible"] and q["epochs"] == 2 for q in quotes)
    amounts = [float(q["estimated_cost"]["amount"]) for q in quotes]
    assert amounts == sorted(amounts)


def test_method_context_and_unknown_model_problems(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    preference = [
        {
            "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
            "preferred_output": [{"role": "assistant", "content": "good"}],
            "non_preferred_output": [{"role": "assistant", "content": "bad"}],
        }
        for i in range(12)
    ]
    dpo = stored_file(db_session, settings, tenant, preference)
    quotes = _quote(
        client,
        key,
        training_file=dpo.id,
        candidates=[
            {"model": f"fireworks/{FW_8B}"},
            {"model": f"together/{QWEN}"},
            {"model": "together/no-such-model"},
        ],
    )["data"]
    by_model = {q["model"]: q for q in quotes}
    assert "method_unsupported" in _codes(by_model[FW_8B])
    assert by_model[QWEN]["compatible"]
    assert _codes(by_model["no-such-model"]) == {"model_not_found"}

    long_example = chat_rows(3)
    long_example[0]["messages"][1]["content"] = "lorem ipsum " * 20_000
    long_file = stored_file(db_session, settings, tenant, long_example)
    quotes = _quote(
        client,
        key,
        training_file=long_file.id,
        candidates=[{"model": f"fireworks/{FW_MIXTRAL}"}, {"model": f"fireworks/{FW_8B}"}],
    )["data"]
    by_model = {q["model"]: q for q in quotes}
    assert "example_too_long" in _codes(by_model[FW_MIXTRAL])  # 32k context: a hard limit
    assert by_model[FW_8B]["compatible"]  # 131k context


def test_a_file_the_method_cannot_train_on_is_a_problem_as_at_job_create(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    """``method: dpo`` on a chat file was quoted compatible, and the job it promised was a
    400 ``invalid_file``; so was a preference file quoted for supervised training."""
    tenant = make_tenant(db_session)
    key = make_key(db_session, tenant)
    chat = stored_file(db_session, settings, tenant, chat_rows(12))
    preference = stored_file(
        db_session,
        settings,
        tenant,
        [
            {
                "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
                "preferred_output": [{"role": "assistant", "content": "good"}],
                "non_preferred_output": [{"role": "assistant", "content": "bad"}],
            }
            for i in range(12)
        ],
    )
    models = [{"model": "gpt-4o-mini-2024-07-18"}, {"model": f"together/{QWEN}"}]
    for file, method in ((chat, "dpo"), (preference, "supervised")):
        quotes = _quote(client, key, training_file=file.id, method=method, candidates=models)
        for quote in quotes["data"]:
            assert not quote["compatible"], quote
            issue = next(p for p in quote["problems"] if p["code"] == "invalid_file")
            assert issue["file"] == "training_file" and f"'{method}' job" in issue["message"]
        job = client.post(
            "/v1/fine_tuning/jobs",
            headers=auth(key),
            json={
                "model": "gpt-4o-mini-2024-07-18",
                "training_file": file.id,
                "method": {"type": method},
            },
        )
        assert job.status_code == 400 and job.json()["error"]["code"] == "invalid_file"
    fine = _quote(client, key, training_file=chat.id, method="supervised", candidates=models)
    assert all(q["compatible"] for q in fine["data"])


def test_unknown_or_foreign_file_is_404(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    owner, other = make_tenant(db_session), make_tenant(db_session)
    file = stored_file(db_session, settings, owner, chat_rows(12))
    response = client.post(
        "/v1/quotes",
        json={"training_file": file.id},
        headers=auth(make_key(db_session, other)),
    )
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "training_file"
    response = client.post(
        "/v1/quotes",
        json={"training_file": file.id, "candidates": []},
        headers=auth(make_key(db_session, owner)),
    )
    assert response.status_code == 400


def test_providers_catalog(client: TestClient, db_session: Session) -> None:
    key = make_key(db_session, make_tenant(db_session))
    body = client.get("/v1/providers", headers=auth(key)).json()
    providers = {p["id"]: p for p in body["data"]}
    assert set(providers) >= {"openai", "together", "fireworks", "mistral", "local"}
    assert providers["mistral"]["status"] == "retired"
    model = providers["openai"]["models"][0]
    assert set(model) >= {"context_length", "methods", "training_types", "price", "lifecycle"}
    assert set(model["price"]) == {"amount", "currency", "per", "source", "date"}
    assert client.get("/v1/providers").status_code == 401


def test_closing_model_is_warned_but_still_compatible() -> None:

    info = find_model("together", QWEN)
    assert info is not None
    closing = replace(info, lifecycle="closing", lifecycle_date=date(2027, 1, 31))
    quote = Quote("together", QWEN)
    lifecycle_issues(closing, quote)
    assert quote.compatible
    assert [(w["code"], "2027-01-31" in w["message"]) for w in quote.warnings] == [
        ("model_closing", True)
    ]
