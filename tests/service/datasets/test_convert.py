"""Conversion: lossless round trips, and every loss reported with its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.datasets.convert import TARGETS, convert_file, from_target, to_target
from service.datasets.records import record_from_dict, record_to_dict
from tests.service.datasets.helpers import write_jsonl

CALL = {
    "id": "abc123XYZ",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": 1}'},
}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "lookup", "description": "d", "parameters": {"type": "object"}},
    }
]
CHAT = {
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": None, "tool_calls": [CALL], "weight": 0},
        {"role": "tool", "tool_call_id": "abc123XYZ", "content": "r"},
        {"role": "assistant", "content": "done", "weight": 1},
    ],
    "tools": TOOLS,
}
PREFERENCE = {
    "input": {"messages": [{"role": "user", "content": "q"}]},
    "preferred_output": [{"role": "assistant", "content": "good"}],
    "non_preferred_output": [{"role": "assistant", "content": "bad"}],
}
GEMINI_CHAT = {  # what Gemini's contents carry exactly (tool-call ids and weights it has not)
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "done"},
    ]
}
PROMPT = {"prompt": "p", "completion": "c"}
TEXT = {"text": "t"}
SUPPORTED: dict[str, list[dict[str, Any]]] = {
    "openai": [CHAT, PREFERENCE, PROMPT],
    "together": [CHAT, PREFERENCE, PROMPT, TEXT],
    "mistral": [CHAT, TEXT],
    "fireworks": [CHAT, PREFERENCE, PROMPT],
    "vertex": [GEMINI_CHAT],
    "local": [CHAT, PREFERENCE, PROMPT, TEXT],
}


def _record(obj: dict[str, Any]) -> Any:
    key = (
        "chat"
        if "messages" in obj
        else "preference"
        if "input" in obj
        else "prompt_completion"
        if "prompt" in obj
        else "text"
    )
    return record_from_dict(obj, key)


def test_canonical_records_round_trip_exactly() -> None:
    for obj in (CHAT, PREFERENCE, PROMPT, TEXT, {**CHAT, "parallel_tool_calls": False}):
        assert record_to_dict(_record(obj)) == obj


@pytest.mark.parametrize("target", TARGETS)
def test_round_trip_through_each_target_is_lossless(target: str) -> None:
    for obj in SUPPORTED[target]:
        record = _record(obj)
        line, problems = to_target(record, target)
        assert problems == []
        assert line is not None
        assert from_target(json.loads(json.dumps(line)), target) == record


def test_what_a_target_cannot_express_is_reported() -> None:
    developer = _record(
        {
            "messages": [
                {"role": "developer", "content": "d"},
                {"role": "user", "content": "u", "name": "ann"},
                {"role": "assistant", "content": "a"},
            ],
            "parallel_tool_calls": True,
        }
    )
    line, problems = to_target(developer, "mistral")
    assert line is not None and line["messages"][0]["role"] == "system"
    assert {code for code, _ in problems} == {
        "role_mapped",
        "name_dropped",
        "parallel_tool_calls_dropped",
    }
    assert to_target(_record(TEXT), "openai") == (
        None,
        [("format_not_supported", "openai has no text format")],
    )
    line, problems = to_target(_record({**CHAT, "id": 7}), "together")
    assert line is not None and "id" not in line
    assert problems[0][0] == "keys_dropped"


def test_mistral_tool_call_ids_are_rewritten_consistently() -> None:
    obj = json.loads(json.dumps(CHAT).replace("abc123XYZ", "call_0"))
    line, problems = to_target(_record(obj), "mistral")
    assert line is not None
    new_id = line["messages"][2]["tool_calls"][0]["id"]
    assert line["messages"][3]["tool_call_id"] == new_id
    assert len(new_id) == 9 and new_id.isalnum()
    assert problems == [("tool_call_id_rewritten", f"tool call id 'call_0' sent as {new_id!r}")]


def test_convert_file_streams_and_names_lines(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [CHAT, {"text": "x"}, PROMPT])
    with src.open("a") as handle:
        handle.write("not json\n")
    dst = tmp_path / "out.jsonl"
    report = convert_file(src, dst, "local")
    assert report.lines_written == 3 and report.lines_read == 4
    assert [(p.line, p.code) for p in report.problems.sorted()] == [(4, "invalid_line")]
    assert [json.loads(x) for x in dst.read_text().splitlines()] == [CHAT, {"text": "x"}, PROMPT]

    report = convert_file(src, dst, "openai")
    assert report.lines_written == 2
    assert (2, "format_not_supported") in {(p.line, p.code) for p in report.problems.sorted()}
    assert report.to_dict()["lossless"] is False
