"""``tuneforge validate``: exit codes, one JSON object, human output with line numbers."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from providers.catalog import BUILTIN
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


def test_an_unknown_model_exits_two_naming_it_and_listing_the_known_ones(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", [chat(f"q{i}") for i in range(10)])
    result = runner.invoke(app, ["validate", str(path), "--provider", "together", "--model", "x/y"])
    assert result.exit_code == 2, result.output
    assert "'x/y'" in result.output
    known = [m.model for m in BUILTIN if m.provider == "together"]
    assert known and all(name in result.output for name in known)

    for model in (known[0], f"together/{known[0]}"):
        args = ["validate", str(path), "--provider", "together", "--model", model, "--json"]
        ok = runner.invoke(app, args)
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout)["valid"] is True


def test_user_data_is_printed_literally_never_as_markup(tmp_path: Path) -> None:
    """Dataset text that looks like rich markup or a regex is the user's data: shown as is."""
    rows = [chat(f"q{i}") for i in range(10)]
    rows[3]["messages"][1]["role"] = "[/bold]"
    rows[5]["messages"][1]["role"] = "[a-z]+"
    rows[7]["[red]key"] = 1
    path = write_jsonl(tmp_path / "[bold]data.jsonl", rows)
    result = runner.invoke(app, ["validate", str(path)], terminal_width=200)
    assert result.exit_code == 1, result.output  # invalid, not a crash
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "'[/bold]'" in result.stdout and "'[a-z]+'" in result.stdout
    assert "'[red]key'" in result.stdout and "[bold]data.jsonl" in result.stdout

    usage = runner.invoke(app, ["validate", str(path), "--provider", "[/acme]"])
    assert usage.exit_code == 2 and "[/acme]" in usage.output
