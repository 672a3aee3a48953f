"""``tuneforge validate``: exit codes, one JSON object, human output with line numbers."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.service.datasets.helpers import chat, write_jsonl
from tuneforge_cli.main import app

runner = CliRunner()


def test_valid_file_exits_zero_with_one_json_object(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", [chat(f"q{i}") for i in range(10)])
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["format"] == "chat"
    assert report["examples"] == 10 and report["errors"] == [] and report["warnings"] == []
    assert {"total", "trainable", "estimated"} <= set(report["tokens"])
    assert isinstance(report["billed_tokens"], int)


def test_invalid_file_exits_one_and_names_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [chat(f"q{i}") for i in range(10)])
    with path.open("a") as handle:
        handle.write("{oops\n")
    result = runner.invoke(app, ["validate", str(path), "--provider", "mistral"])
    assert result.exit_code == 1
    assert "line 11" in result.stdout and "invalid_json" in result.stdout

    result = runner.invoke(app, ["validate", str(path), "--json", "--max-line-bytes", "10"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error_counts"]["line_too_long"] == 10


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    assert runner.invoke(app, ["validate", str(tmp_path / "missing.jsonl")]).exit_code == 2
    path = write_jsonl(tmp_path / "ok.jsonl", [chat()])
    assert runner.invoke(app, ["validate", str(path), "--provider", "acme"]).exit_code == 2
    assert runner.invoke(app, ["validate", str(path), "--epochs", "zero"]).exit_code == 2
