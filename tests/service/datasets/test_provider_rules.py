"""The same file judged by different targets: each applies its own rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.datasets.validate import validate_file
from tests.service.datasets.helpers import chat, codes_by_line, write_jsonl


def _codes(path: Path, provider: str, **kwargs: Any) -> tuple[set[str], set[str]]:
    report = validate_file(path, provider=provider, **kwargs).to_dict()
    return (
        {c for _, c in codes_by_line(report["errors"])},
        {c for _, c in codes_by_line(report["warnings"])},
    )


def _distinct(n: int) -> list[dict[str, Any]]:
    return [chat(f"question {i}") for i in range(n)]


def test_mistral_wants_the_last_message_from_the_assistant(tmp_path: Path) -> None:
    row = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ]
    }
    path = write_jsonl(tmp_path / "f.jsonl", [*_distinct(10), row])
    assert "last_message_not_assistant" in _codes(path, "mistral")[0]
    assert "last_message_not_assistant" not in _codes(path, "openai")[0]


def test_mistral_tool_call_ids_are_nine_alphanumerics(tmp_path: Path) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    row = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "r"},
            {"role": "assistant", "content": "done"},
        ]
    }
    path = write_jsonl(tmp_path / "f.jsonl", [*_distinct(10), row])
    assert "invalid_tool_call_id" in _codes(path, "mistral")[0]
    assert _codes(path, "openai")[0] == set()


def test_mistral_allows_one_system_message(tmp_path: Path) -> None:
    row = {
        "messages": [
            {"role": "system", "content": "a"},
            {"role": "system", "content": "b"},
            {"role": "user", "content": "c"},
            {"role": "assistant", "content": "d"},
        ]
    }
    path = write_jsonl(tmp_path / "f.jsonl", [*_distinct(10), row])
    assert "too_many_system_messages" in _codes(path, "mistral")[0]
    assert _codes(path, "openai")[0] == set()


def test_together_alternates_roles_and_rejects_extra_keys(tmp_path: Path) -> None:
    starts_with_assistant = {
        "messages": [
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
        ]
    }
    path = write_jsonl(
        tmp_path / "f.jsonl", [*_distinct(10), starts_with_assistant, chat("x", metadata=1)]
    )
    together_errors, _ = _codes(path, "together")
    assert {"invalid_role_order", "unrecognized_key"} <= together_errors
    openai_errors, openai_warnings = _codes(path, "openai")
    assert openai_errors == set()
    assert "unrecognized_key" in openai_warnings


def test_over_context_is_an_error_on_fireworks_and_a_warning_on_openai(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "f.jsonl", [*_distinct(10), chat("word " * 100)])
    assert "example_too_long" in _codes(path, "fireworks", context_length=50)[0]
    errors, warnings = _codes(path, "openai", context_length=50)
    assert "example_too_long" not in errors
    assert "example_too_long" in warnings


def test_minimum_examples_differ(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "f.jsonl", _distinct(5))
    assert "too_few_examples" in _codes(path, "openai")[0]
    assert _codes(path, "fireworks")[0] == set()


def test_format_support_and_method_support(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "f.jsonl", [{"text": f"doc {i}"} for i in range(12)])
    assert "unsupported_format" in _codes(path, "openai")[0]
    assert _codes(path, "together")[0] == set()

    pref = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "good"}],
        "non_preferred_output": [{"role": "assistant", "content": "bad"}],
    }
    rows = [
        {**pref, "input": {"messages": [{"role": "user", "content": f"q{i}"}]}} for i in range(12)
    ]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    report = validate_file(path).to_dict()
    assert report["valid"] and report["format"] == "preference"
    from service.datasets.validate import ValidationOptions

    sft_only = ValidationOptions(methods=frozenset({"supervised"}))
    assert "unsupported_format" in {
        e["code"] for e in validate_file(path, options=sft_only).to_dict()["errors"]
    }


def test_preference_input_must_not_end_with_assistant(tmp_path: Path) -> None:
    row = {
        "input": {
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
        },
        "preferred_output": [{"role": "assistant", "content": "good"}],
        "non_preferred_output": [{"role": "user", "content": "bad"}],
    }
    path = write_jsonl(tmp_path / "f.jsonl", [row])
    report = validate_file(path, provider="together").to_dict()
    assert codes_by_line(report["errors"]) == {
        (1, "preference_input_ends_with_assistant"),
        (1, "invalid_preference_output"),
    }


def test_unknown_provider_is_refused(tmp_path: Path) -> None:
    import pytest

    path = write_jsonl(tmp_path / "f.jsonl", _distinct(1))
    with pytest.raises(ValueError, match="unknown provider"):
        validate_file(path, provider="nope")
