"""Usage: ledger spend grouped by provider, model, tenant and month, within [from, to)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.auth.roles import KeyRole
from service.db.models import Tenant
from tests.factories import auth, make_key, make_tenant
from tests.service.billing.helpers import ledger_entry


def _spend(db_session: Session) -> tuple[Tenant, Tenant]:
    alpha, beta = make_tenant(db_session), make_tenant(db_session)
    ledger_entry(
        db_session,
        alpha,
        "1.5",
        datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC),
        billed_tokens=500_000,
    )
    ledger_entry(db_session, alpha, "2", datetime(2026, 2, 1, tzinfo=UTC), billed_tokens=1000)
    ledger_entry(
        db_session,
        alpha,
        "0.25",
        datetime(2026, 2, 10, tzinfo=UTC),
        provider="together",
        model="Qwen/Qwen2.5-7B-Instruct",
    )
    ledger_entry(
        db_session,
        beta,
        "7",
        datetime(2026, 2, 11, tzinfo=UTC),
        provider="fireworks",
        model="accounts/fireworks/models/llama-v3p1-8b-instruct",
    )
    return alpha, beta


def _by(body: dict[str, object], key: str) -> dict[str, str]:
    rows = body["data"]
    assert isinstance(rows, list)
    return {row[key]: row["amount"] for row in rows}


def test_group_by_provider_model_and_month(client: TestClient, db_session: Session) -> None:
    alpha, _ = _spend(db_session)
    headers = auth(make_key(db_session, alpha))
    body = client.get("/v1/usage?group_by=provider", headers=headers).json()
    assert _by(body, "provider") == {"openai": "3.500000", "together": "0.250000"}
    assert body["total"] == [{"amount": "3.750000", "currency": "USD"}]
    openai_row = next(r for r in body["data"] if r["provider"] == "openai")
    assert (openai_row["entries"], openai_row["billed_tokens"]) == (2, 501_000)

    months = client.get("/v1/usage?group_by=month", headers=headers).json()
    assert _by(months, "month") == {"2026-01": "1.500000", "2026-02": "2.250000"}
    models = client.get("/v1/usage?group_by=model", headers=headers).json()
    assert _by(models, "model") == {
        "openai/gpt-4o-mini-2024-07-18": "3.500000",
        "together/Qwen/Qwen2.5-7B-Instruct": "0.250000",
    }


def test_a_model_named_with_its_provider_prefix_is_keyed_once(
    client: TestClient, db_session: Session
) -> None:
    """A job created as ``together/Qwen/…`` books that name; one created as ``Qwen/…`` with
    ``provider: together`` books the bare name. Both are the same model: it was keyed
    ``together/together/Qwen/…`` beside ``together/Qwen/…``."""
    tenant = make_tenant(db_session)
    day = datetime(2026, 3, 2, tzinfo=UTC)
    qwen = "Qwen/Qwen2.5-7B-Instruct"
    ledger_entry(db_session, tenant, "1", day, provider="together", model=f"together/{qwen}")
    ledger_entry(db_session, tenant, "2", day, provider="together", model=qwen)
    ledger_entry(db_session, tenant, "4", day, provider="vertex", model="vertex/gemini-2.5-flash")
    # a jsonl eval run samples no model (its judges' tokens are its cost): it was "none/"
    ledger_entry(db_session, tenant, "0.5", day, provider="none", model="", kind="evaluation")
    headers = auth(make_key(db_session, tenant))
    body = client.get("/v1/usage?group_by=model", headers=headers).json()
    assert _by(body, "model") == {
        f"together/{qwen}": "3.000000",
        "vertex/gemini-2.5-flash": "4.000000",
        "none": "0.500000",
    }


def test_group_by_kind_tells_training_from_evaluation(
    client: TestClient, db_session: Session
) -> None:
    tenant = make_tenant(db_session)
    day = datetime(2026, 3, 2, tzinfo=UTC)
    ledger_entry(db_session, tenant, "4", day, kind="training")
    ledger_entry(db_session, tenant, "0.75", day, kind="evaluation")
    ledger_entry(db_session, tenant, "0.25", day, kind="evaluation")
    body = client.get("/v1/usage?group_by=kind", headers=auth(make_key(db_session, tenant))).json()
    assert _by(body, "kind") == {"training": "4.000000", "evaluation": "1.000000"}


def test_from_is_inclusive_and_to_exclusive(client: TestClient, db_session: Session) -> None:
    alpha, _ = _spend(db_session)
    headers = auth(make_key(db_session, alpha))
    february = client.get(
        "/v1/usage?group_by=month&from=2026-02-01&to=2026-02-10", headers=headers
    ).json()
    assert _by(february, "month") == {"2026-02": "2.000000"}
    start = int(datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC).timestamp())
    by_seconds = client.get(f"/v1/usage?from={start}&to={start + 1}", headers=headers).json()
    assert _by(by_seconds, "provider") == {"openai": "1.500000"}
    assert by_seconds["from"] == start


def test_group_by_tenant_is_operator_only_and_spans_tenants(
    client: TestClient, db_session: Session
) -> None:
    alpha, beta = _spend(db_session)
    for role in (KeyRole.MEMBER, KeyRole.ADMIN):
        key = make_key(db_session, alpha, role=role)
        refused = client.get("/v1/usage?group_by=tenant", headers=auth(key))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "operator_required"
    admin = auth(make_key(db_session, make_tenant(db_session), role=KeyRole.OPERATOR))
    body = client.get("/v1/usage?group_by=tenant&from=2026-02-01", headers=admin).json()
    spend = _by(body, "tenant")
    assert (spend[alpha.id], spend[beta.id]) == ("2.250000", "7.000000")


def test_bad_parameters_are_400_naming_the_parameter(
    client: TestClient, db_session: Session
) -> None:
    headers = auth(make_key(db_session, make_tenant(db_session)))
    for query, param in (
        ("group_by=day", "group_by"),
        ("from=yesterday", "from"),
        ("from=2026-03-01&to=2026-02-01", "from"),
    ):
        response = client.get(f"/v1/usage?{query}", headers=headers)
        assert response.status_code == 400, query
        assert response.json()["error"]["param"] == param
