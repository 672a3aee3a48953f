"""``tuneforge study run``: a YAML or JSON spec submitted to a running tuneforge; a refusal is
exit 1 with the API's reason; ``--json`` prints the study; the leaderboard renders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from service.db.database import Database
from service.db.session import session_scope
from service.settings import Settings
from tests.factories import make_key, make_tenant
from tests.live import live_api
from tests.service.evals.criteria import IDEAL_EXACT
from tests.service.jobs.helpers import chat_lines, jsonl, make_file
from tuneforge_cli.main import app
from tuneforge_cli.study import StudyError, leaderboard, load_spec


@pytest.fixture()
def service(settings: Settings, committed_db: Database) -> Iterator[tuple[str, str, str]]:
    with session_scope(committed_db.sessions) as session:
        tenant = make_tenant(session)
        key = make_key(session, tenant)
        file = make_file(session, settings, tenant, jsonl(chat_lines(30)))
        file_id = file.id
    with live_api(settings, committed_db) as url:
        yield url, key, file_id


def _spec(file_id: str, budget: str) -> dict[str, Any]:
    return {
        "training_file": file_id,
        "holdout": 0.2,
        "candidates": [{"model": "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"}],
        "testing_criteria": [IDEAL_EXACT],
        "budget": budget,
    }


def test_a_yaml_spec_is_submitted_and_json_prints_the_study(
    service: tuple[str, str, str], tmp_path: Path
) -> None:
    url, key, file_id = service
    spec = tmp_path / "study.yaml"
    spec.write_text(yaml.safe_dump(_spec(file_id, "50")))
    result = CliRunner().invoke(
        app, ["study", "run", str(spec), "--url", url, "--api-key", key, "--no-wait", "--json"]
    )
    assert result.exit_code == 0, result.output
    study = json.loads(result.stdout)
    assert study["object"] == "fine_tuning.study" and study["status"] == "queued"
    assert len(study["baselines"]) == 2


def test_a_study_over_budget_is_exit_1_with_the_reason(
    service: tuple[str, str, str], tmp_path: Path
) -> None:
    url, key, file_id = service
    spec = tmp_path / "study.json"
    spec.write_text(json.dumps(_spec(file_id, "0.000001")))
    result = CliRunner().invoke(app, ["study", "run", str(spec), "--url", url, "--api-key", key])
    assert result.exit_code == 1
    assert "budget_exceeded" in result.output and "[budget]" in result.output


def test_a_bad_spec_file_is_exit_1(tmp_path: Path) -> None:
    spec = tmp_path / "study.yaml"
    spec.write_text("- just\n- a list\n")
    result = CliRunner().invoke(app, ["study", "run", str(spec)])
    assert result.exit_code == 1 and "must hold one object" in result.output


def test_the_leaderboard_renders_scores_costs_and_the_verdict() -> None:
    row = {
        "label": "gpt-4o-mini (candidates[0])",
        "role": "candidate",
        "primary": {"value": 0.9, "ci_low": 0.8, "ci_high": 0.97},
        "delta_vs_best_baseline": {"value": 0.5, "ci_low": 0.3, "ci_high": 0.7},
        "gates": {"passed": True},
        "latency_ms": {"p50": 412.4, "p95": 980.6},
        "inference_cost_per_1k": "0.57",
        "monthly_cost": "114.20",
        "training_cost": "1.28",
        "break_even": {"verdict": "pays_back", "volume_per_month": 104167},
    }
    study = {
        "primary": "exact",
        "leaderboard": [row],
        "verdict": {"outcome": "winner", "message": "gpt-4o-mini beats the best baseline"},
        "quote": {"total": {"amount": "2.5"}},
        "budget": {"amount": "25"},
    }
    console = Console(record=True, width=200)
    console.print(leaderboard(study))
    text = console.export_text()
    for expected in (
        "0.900 [0.800, 0.970]",
        "412 / 981",
        "104,167/month",
        "114.20",
        "verdict: gpt-4o-mini",
    ):
        assert expected in text


def test_following_a_study_that_does_not_move_gives_up_at_the_timeout(
    service: tuple[str, str, str], tmp_path: Path
) -> None:
    url, key, file_id = service  # no worker: the study stays queued
    spec = tmp_path / "study.json"
    spec.write_text(json.dumps(_spec(file_id, "50")))
    args = ["study", "run", str(spec), "--url", url, "--api-key", key]
    result = CliRunner().invoke(app, [*args, "--interval", "0.1", "--timeout", "1"])
    assert result.exit_code == 1 and "still queued at the timeout" in result.output


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &a [*a]\n", "expands to more than"),  # an alias inside itself: endless
        (
            'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
            + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)),
            "expands to more than",  # a kilobyte of aliases, 10^9 values as the JSON body
        ),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nests too deep"),
    ],
    ids=["self-alias", "alias-bomb", "deep"],
)
def test_a_spec_that_cannot_become_a_request_body_is_refused_at_load(
    tmp_path: Path, text: str, reason: str
) -> None:
    """Each was a traceback: ValueError (circular reference) when the body was encoded,
    RecursionError in the YAML parser; the alias bomb would have been encoded whole."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    with pytest.raises(StudyError, match=reason):
        load_spec(spec)
